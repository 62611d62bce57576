"""A kernel event as a finding's message and evidence: the process, and the kernel's facts
in ``samples[0]`` (what a SOC reads to see why the rule fired)."""

from __future__ import annotations

from typing import Any

from schemas import ConnectEvent, ExecEvent, ProcessInfo

# argv shown in a finding's message, characters.
MESSAGE_ARGV_CHARS = 200


def describe(ev: ExecEvent, label: str) -> str:
    pid = ev.ns_pid if ev.ns_pid is not None else ev.pid
    parent = ev.parent_comm or (ev.parent_exe.rsplit("/", 1)[-1] if ev.parent_exe else "?")
    argv = " ".join(ev.argv)[:MESSAGE_ARGV_CHARS]
    return f"{label} (pid {pid}, exe {ev.exe or '?'}, parent {parent}): {argv}"


def of_exec(ev: ExecEvent, why: str = "") -> dict[str, Any]:
    process = ProcessInfo(
        pid=ev.pid,
        ns_pid=ev.ns_pid,
        ppid=ev.ppid,
        uid=ev.uid,
        comm=ev.comm,
        exe=ev.exe or None,
        argv=ev.argv,
        argv_truncated=ev.argv_truncated,
        start_time=ev.time,
    )
    facts: dict[str, Any] = {
        "source": f"kernel:{ev.source.value}",
        "event_id": ev.event_id,
        "filename": ev.filename,
        "program": ev.program,
        "cwd": ev.cwd,
        "parent_exe": ev.parent_exe,
        "stdio": [k.value for k in ev.stdio],
        "parent_stdio": [k.value for k in ev.parent_stdio],
        "exe_writable": ev.exe_writable,
        "prevented": ev.blocked,
    }
    if ev.script:
        facts["script"] = ev.script
    if why:
        facts["why"] = why
    return {"process": process.model_dump(mode="json"), "samples": [facts]}


def of_connect(ev: ConnectEvent, why: str = "") -> dict[str, Any]:
    facts: dict[str, Any] = {
        "source": f"kernel:{ev.source.value}",
        "event_id": ev.event_id,
        "pid": ev.pid,
        "ns_pid": ev.ns_pid,
        "comm": ev.comm,
        "exe": ev.exe,
        "protocol": ev.protocol,
        "daddr": ev.daddr,
        "dport": ev.dport,
        "result": ev.result,
    }
    if why:
        facts["why"] = why
    return {"samples": [facts]}
