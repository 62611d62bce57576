"""Evidence of a violation as OCSF 1.8 ``evidences[]`` items, and back.

One item per kind of evidence, each in the object OCSF has for it:

- a process seen running: ``process`` (it has a pid; ``cmd_line`` is the argv
  shell-quoted, so the exact argv reads back);
- a command known only by its text (refused before it ran, or an exec through the API
  whose pid nobody saw): ``script`` (a Unix shell command line; OCSF's ``process``
  needs a pid, uid or cpid, which such a command does not have);
- a file path: ``file`` (``type_id`` 0 Unknown: a refused path may not exist);
- resource numbers: ``data`` (``samples``, the values that crossed the rule);
- a connection: ``dst_endpoint`` with ``connection_info``, for each sample that holds a
  kernel connect event's facts (``daddr``, ``dport``, ``protocol``: ConnectEvent's names),
  derived from the sample, which ``data`` keeps whole.

Unknown values are omitted, never null. What OCSF has no attribute for (argv_truncated,
the process state) is returned separately for ``unmapped``. A new kind of evidence is one
more ``_render_*``/``_read_*`` pair in ``_KINDS``.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable
from typing import Any

from schemas.events import Evidence, ProcessInfo

UNIX_SHELL = 6  # script.type_id: sandbox commands run as /bin/sh -c
FILE_TYPE_UNKNOWN = 0
MAX_PORT = 65535  # port_t's range is 0..65535
OUTBOUND = 2  # connection_info.direction_id: a connect() from the sandbox
_PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17}  # IANA

Item = dict[str, Any]


def _render_process(e: Evidence) -> Item | None:
    p = e.process
    if p is None:
        return None
    proc: Item = {"pid": p.pid, "user": {"uid": str(p.uid)}, "parent_process": {"pid": p.ppid}}
    optional = {
        "namespace_pid": p.ns_pid,  # the pid inside the container (container profile)
        "name": p.comm or None,
        "path": p.exe,
        "cmd_line": shlex.join(p.argv) if p.argv else None,
        "created_time": p.start_time or None,
    }
    proc.update({k: v for k, v in optional.items() if v is not None})
    return {"process": proc}


def _render_command(e: Evidence) -> Item | None:
    if e.command is None:
        return None
    return {"script": {"type_id": UNIX_SHELL, "type": "Unix Shell", "script_content": {"value": e.command}}}


def _render_file(e: Evidence) -> Item | None:
    if e.path is None:
        return None
    name = e.path.rstrip("/").rsplit("/", 1)[-1] or e.path
    return {"file": {"path": e.path, "name": name, "type_id": FILE_TYPE_UNKNOWN}}


def _render_samples(e: Evidence) -> Item | None:
    return {"data": {"samples": list(e.samples)}} if e.samples else None


def _ip(text: object) -> str | None:
    """The address when it is one (ip_t rejects anything else), zone index allowed."""
    if not isinstance(text, str):
        return None
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return text


def _render_connection(sample: dict[str, Any]) -> Item | None:
    ip, port = _ip(sample.get("daddr")), sample.get("dport")
    if ip is None:
        return None  # an endpoint needs an address (a port alone identifies nothing)
    endpoint: Item = {"ip": ip}
    if isinstance(port, int) and 0 <= port <= MAX_PORT:
        endpoint["port"] = port
    info: Item = {"direction_id": OUTBOUND, "direction": "Outbound"}
    protocol = sample.get("protocol")
    if protocol in _PROTOCOL_NUMBERS:
        info |= {"protocol_name": protocol, "protocol_num": _PROTOCOL_NUMBERS[protocol]}
    return {"dst_endpoint": endpoint, "connection_info": info}


def _render_connections(e: Evidence) -> list[Item]:
    return [item for s in e.samples if (item := _render_connection(s)) is not None]


def _read_process(item: Item, extra: dict[str, Any]) -> dict[str, Any]:
    p = item["process"]
    cmd_line = p.get("cmd_line")
    info = ProcessInfo(
        pid=p["pid"], ns_pid=p.get("namespace_pid"), ppid=p["parent_process"]["pid"],
        uid=int(p["user"]["uid"]), comm=p.get("name", ""), exe=p.get("path"),
        argv=tuple(shlex.split(cmd_line)) if cmd_line is not None else (),
        start_time=p.get("created_time", 0), **extra.get("process", {}),
    )  # fmt: skip
    return {"process": info}


def _read_command(item: Item, extra: dict[str, Any]) -> dict[str, Any]:
    return {"command": item["script"]["script_content"]["value"]}


def _read_file(item: Item, extra: dict[str, Any]) -> dict[str, Any]:
    return {"path": item["file"]["path"]}


def _read_samples(item: Item, extra: dict[str, Any]) -> dict[str, Any]:
    return {"samples": tuple(item["data"]["samples"])}


def _read_derived(item: Item, extra: dict[str, Any]) -> dict[str, Any]:
    return {}  # made from a sample, which data.samples holds


def _one(render: Callable[[Evidence], Item | None]) -> Callable[[Evidence], list[Item]]:
    return lambda e: [item] if (item := render(e)) is not None else []


Render = Callable[[Evidence], list[Item]]
Read = Callable[[Item, dict[str, Any]], dict[str, Any]]
# (the OCSF attribute of the item, how to render it, how to read it back), in item order.
_KINDS: tuple[tuple[str, Render, Read], ...] = (
    ("process", _one(_render_process), _read_process),
    ("script", _one(_render_command), _read_command),
    ("file", _one(_render_file), _read_file),
    ("data", _one(_render_samples), _read_samples),
    ("dst_endpoint", _render_connections, _read_derived),
)


def render_evidences(e: Evidence) -> list[Item]:
    return [item for _, render, _ in _KINDS for item in render(e)]


def unmapped_evidence(e: Evidence) -> dict[str, Any]:
    """The evidence fields OCSF has no attribute for, only when they differ from the default."""
    p = e.process
    if p is None:
        return {}
    extra = {k: v for k, v in (("argv_truncated", p.argv_truncated), ("state", p.state))
             if v != ProcessInfo.model_fields[k].default}  # fmt: skip
    return {"process": extra} if extra else {}


def read_evidences(items: list[Item], extra: dict[str, Any]) -> Evidence:
    """The Evidence that ``render_evidences`` and ``unmapped_evidence`` were made from."""
    fields: dict[str, Any] = {}
    readers = {key: read for key, _, read in _KINDS}
    for item in items:
        key = next((k for k in item if k in readers), None)
        if key is None:
            raise ValueError(f"evidence item with none of {sorted(readers)}: {sorted(item)}")
        fields.update(readers[key](item, extra))
    return Evidence(**fields)
