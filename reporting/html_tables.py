"""The report page's tables and cards, as escaped HTML.

Every value from the history is untrusted (command lines, messages, names): it goes
through ``esc``. Only ``Raw`` strings built here from escaped parts skip it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from reporting import formats as f
from schemas import Severity

SEVERITY_BY_ID = {s.ocsf_id: s.value for s in Severity}
# Container ids shortened the way docker ps shows them; the full id is the tooltip.
SHORT_ID = 12
_CLASS_SAFE = re.compile(r"[^a-z0-9_-]")


class Raw(str):
    """HTML already escaped (built here); everything else is text."""

    __slots__ = ()


class Col(NamedTuple):
    header: str
    cls: str = ""  # num (right-aligned figures), time, code, wide


def esc(v: Any) -> str:
    if isinstance(v, Raw):
        return v
    return html.escape("" if v is None else str(v))


def stamp(ms: int | None) -> Raw:
    date, clock = f.utc(ms)
    return Raw(f"<span class='date'>{date}</span> {clock}" if date else "-")


def badge(label: Any, kind: Any = None) -> Raw:
    """A coloured label; the class comes from the (sanitised) kind, the text is escaped."""
    if label is None or label == "":
        return Raw("")
    cls = _CLASS_SAFE.sub("", str(kind if kind is not None else label).lower())
    return Raw(f"<span class='badge b-{cls}'>{esc(label)}</span>")


def code(text: Any, title: Any = None) -> Raw:
    if text is None or text == "":
        return Raw("")
    tip = f" title='{esc(title)}'" if title else ""
    return Raw(f"<code{tip}>{esc(text)}</code>")


def short_id(cid: str) -> Raw:
    return code(cid[:SHORT_ID], title=cid)


def table(cols: Sequence[Col], rows: Iterable[Sequence[Any]], *, compact: bool = False) -> str:
    head = "".join(f"<th class='{c.cls}'>{esc(c.header)}</th>" for c in cols)
    body = ["<tr>" + "".join(_td(v, c.cls) for v, c in zip(row, cols, strict=True)) + "</tr>" for row in rows]
    if not body:
        return "<p class='none'>None in this window.</p>"
    cls = "compact" if compact else "wide"
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(v: Any, cls: str) -> str:
    empty = v is None or v == ""
    return f"<td class='{cls}{' empty' if empty else ''}'>{'-' if empty else esc(v)}</td>"


def section(title: str, content: str, *, note: str = "") -> str:
    aside = f" <span class='note'>{esc(note)}</span>" if note else ""
    return f"<section><h2>{esc(title)}{aside}</h2>\n{content}</section>"


def cards(items: Iterable[tuple[str, Any, Any]]) -> str:
    """Summary cards: (label, value, a smaller line under it)."""
    cells = []
    for label, value, sub in items:
        under = f"<small>{esc(sub)}</small>" if sub else ""
        cells.append(f"<div class='card'><span>{esc(label)}</span><b>{esc(value)}</b>{under}</div>")
    return f"<div class='cards'>{''.join(cells)}</div>"


# --- one sandbox -------------------------------------------------------------------


def sandbox_sections(r: dict[str, Any]) -> list[str]:
    return [
        section("Findings", _findings(r["violations"]), note=f"{f.count(r['total_violations'])} in all"),
        section("Actions taken", _actions(r["actions"])),
        section("Top processes", _processes(r["top_processes"]), note="by sightings"),
        section("Timeline", _timeline(r["timeline"]), note="lifecycle, findings, actions, denials"),
        section("Policy in force", _policy(r["policy"])),
    ]


def _findings(violations: list[dict[str, Any]]) -> str:
    cols = (Col("first seen", "time"), Col("last seen", "time"), Col("severity"), Col("rule"),
            Col("type"), Col("count", "num"), Col("disposition"), Col("details", "wide"))  # fmt: skip
    rows = (
        (stamp(v["first_seen"]), stamp(v["last_seen"]), badge(v["severity"]), code(v["rule_id"]),
         v["violation_type"], f.count(v["count"]), badge(v["disposition"]), _finding_details(v))
        for v in violations
    )  # fmt: skip
    return table(cols, rows)


def _finding_details(v: dict[str, Any]) -> Raw:
    message = v.get("message") or v.get("title") or ""
    evidence = v.get("process_cmdline") or v.get("command") or v.get("path") or ""
    shown = esc(message)
    if evidence and evidence not in message:
        shown += Raw("<br>") + code(evidence)
    return Raw(shown)


def _actions(actions: list[dict[str, Any]]) -> str:
    cols = (Col("time", "time"), Col("action"), Col("result"), Col("rules"),
            Col("latency", "num"), Col("reason", "wide"))  # fmt: skip
    rows = (
        (stamp(a["time_ms"]), a["action"], badge(a["result"]), ", ".join(a.get("rule_ids") or ()),
         f.duration(a["latency_ms"]), a["reason"])
        for a in actions
    )  # fmt: skip
    note = "<p class='caption'>Latency: from the first violation to the action done.</p>"
    return table(cols, rows) + (note if actions else "")


def _processes(procs: list[dict[str, Any]]) -> str:
    cols = (Col("command"), Col("executable"), Col("pids", "num"), Col("sightings", "num"),
            Col("first seen", "time"), Col("last seen", "time"), Col("command line", "wide"))  # fmt: skip
    rows = (
        (code(p["comm"]), code(p["exe"]), f.count(p["pids"]), f.count(p["sightings"]),
         stamp(p["first_seen"]), stamp(p["last_seen"]), code(p["example"]))
        for p in procs
    )  # fmt: skip
    return table(cols, rows)


def _timeline(events: list[dict[str, Any]]) -> str:
    cols = (Col("time", "time"), Col("kind"), Col("event"), Col("detail", "wide"), Col("outcome"))
    rows = (
        (stamp(e["time_ms"]), badge(e["kind"]), e["what"], e["detail"], badge(e["outcome"]))
        for e in events
    )  # fmt: skip
    return table(cols, rows)


LIMITS = (
    ("cpu_percent", "CPU", "%"), ("memory_mb", "memory", "MiB"), ("max_processes", "processes", ""),
    ("max_network_connections", "connections", ""), ("max_open_files", "open files", ""),
    ("disk_mb", "disk", "MiB"), ("execution_timeout", "timeout", "s"),
)  # fmt: skip


def _policy(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "<p class='none'>Unknown: the history holds no policy event for this sandbox.</p>"
    limits = policy.get("resource_limits") or {}
    shown = [(label, f"{f.number(limits[k])} {unit}".strip()) for k, label, unit in LIMITS if k in limits]
    rows: list[tuple[str, Any]] = [("resource limits", " · ".join(f"{k} {v}" for k, v in shown))]
    rows += [(k.replace("_", " "), _setting(v)) for k, v in sorted(policy.items()) if k != "resource_limits"]
    raw = html.escape(_json(policy))
    return (
        table((Col("setting"), Col("value", "wide")), rows, compact=True)
        + f"<details><summary>The policy as JSON</summary><pre>{raw}</pre></details>"
    )


def _setting(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple | set):
        return ", ".join(str(x) for x in v) if v else "(none)"
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in v.items()) if v else "(none)"
    return "-" if v is None else str(v)


def _json(v: Any) -> str:
    return orjson.dumps(v, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


# --- the fleet ---------------------------------------------------------------------


def fleet_sections(r: dict[str, Any]) -> list[str]:
    return [
        section("Top offending sandboxes", _top_sandboxes(r["top_sandboxes"])),
        section("Top offending images", table(
            (Col("image"), Col("findings", "num"), Col("sandboxes", "num"), Col("occurrences", "num")),
            ((i["image"], f.count(i["findings"]), f.count(i["sandboxes"]), f.count(i["occurrences"]))
             for i in r["top_images"]), compact=True,
        )),
        section("Actions taken", table(
            (Col("action"), Col("result"), Col("count", "num")),
            ((a["action"], badge(a["result"]), f.count(a["n"])) for a in r["actions"]), compact=True,
        ), note="whole fleet"),
        section("Enforcement latency", _latency(r["enforcement_latency_ms"]),
                note="first violation to action applied"),
    ]  # fmt: skip


def _top_sandboxes(boxes: list[dict[str, Any]]) -> str:
    cols = (Col("sandbox"), Col("container"), Col("image"), Col("findings", "num"), Col("occurrences", "num"),
            Col("worst severity"), Col("rules", "wide"))  # fmt: skip
    rows = (
        (s.get("sandbox_name"), short_id(s["container_id"]), s["image"] or "(unknown)",
         f.count(s["findings"]), f.count(s["occurrences"]), badge(SEVERITY_BY_ID.get(s["max_severity_id"])),
         ", ".join(sorted(s["rules"])))
        for s in boxes
    )  # fmt: skip
    return table(cols, rows)


def _latency(lat: dict[str, Any]) -> str:
    cols = [Col("actions", "num"), *(Col(k, "num") for k in ("p50", "p95", "p99", "max"))]
    quantiles = (f.duration(lat.get(k)) for k in ("p50", "p95", "p99", "max"))
    return table(cols, [(f.count(lat["n"]), *quantiles)] if lat.get("n") else [], compact=True)


# --- compliance --------------------------------------------------------------------


def compliance_sections(c: dict[str, Any]) -> list[str]:
    parts = [f"<p class='caption'>{esc(c['benchmark'])}: every check from the container's configuration.</p>"]
    if c["containers"]:
        parts.append(_compliance_overview(c["containers"]))
    else:
        parts.append("<p class='none'>No running sandbox to inspect.</p>")
    if c.get("not_found"):
        gone = ", ".join(cid[:SHORT_ID] for cid in c["not_found"])
        parts.append(f"<p class='caption'>No longer on this Docker engine: {esc(gone)}</p>")
    parts += [_compliance_box(box) for box in c["containers"]]
    if c.get("not_covered"):
        rows = sorted(c["not_covered"].items(), key=lambda kv: _check_order(kv[0]))
        parts.append("<h3>Not covered</h3>" + table((Col("check"), Col("why", "wide")), rows, compact=True))
    return [section("Compliance", "\n".join(parts))]


def _check_order(check_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in check_id.split("."))


def _verdict(box: dict[str, Any]) -> Raw:
    return badge("compliant", "pass") if box["compliant"] else badge(f"{box['failed']} failed", "fail")


def _compliance_overview(boxes: list[dict[str, Any]]) -> str:
    cols = (Col("sandbox"), Col("container"), Col("image"), Col("passed", "num"), Col("failed", "num"),
            Col("not applicable", "num"), Col("verdict"))  # fmt: skip
    rows = (
        (b["name"], short_id(b["container_id"]), b["image"], f.count(b["passed"]), f.count(b["failed"]),
         f.count(len(b["checks"]) - b["passed"] - b["failed"]), _verdict(b))
        for b in boxes
    )  # fmt: skip
    return table(cols, rows)


def _compliance_box(box: dict[str, Any]) -> str:
    """Failed checks in full; the rest folded away (they are the expected case)."""
    name = box["name"] or box["container_id"][:SHORT_ID]
    cols = (Col("check"), Col("status"), Col("title"), Col("detail", "wide"))
    failed = [k for k in box["checks"] if k["status"] == "fail"]
    others = [k for k in box["checks"] if k["status"] != "fail"]
    out = [f"<h3>{esc(name)} {_verdict(box)} <span class='note'>{esc(box['image'])}</span></h3>"]
    if failed:
        out.append(table(cols, _check_rows(failed)))
    if others:
        skipped = len(others) - box["passed"]
        summary = f"{len(others)} other checks: {f.count(box['passed'])} passed, {skipped} not applicable"
        out.append(f"<details><summary>{esc(summary)}</summary>{table(cols, _check_rows(others))}</details>")
    return "".join(out)


def _check_rows(checks: list[dict[str, Any]]) -> Iterable[tuple[Any, ...]]:
    return ((k["check_id"], badge(k["status"].replace("_", " "), k["status"]), k["title"], k["detail"])
            for k in checks)  # fmt: skip
