"""Reports as readable terminal tables (the JSON form is the report dict itself)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

# Cells longer than this are cut with an ellipsis so a table fits a 120-column terminal.
MAX_CELL = 48


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(v: Any) -> str:
    s = "-" if v is None or v == "" else str(v)
    s = "".join(ch if ch.isprintable() else "?" for ch in s)  # no terminal control sequences
    return s if len(s) <= MAX_CELL else s[: MAX_CELL - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in r] for r in rows]
    if not cells:
        return "  (none)"
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    sep = "  " + "  ".join("-" * w for w in widths)
    body = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, sep, *body])


def _counts(title: str, counts: dict[str, int]) -> str:
    return f"{title}\n" + table(("", "count"), sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def render_sandbox(r: dict[str, Any]) -> str:
    sb = r.get("sandbox") or {}
    ps = r["policy_summary"]
    lim = ps.get("resource_limits") or {}
    head = [
        f"Security report for {r['container_id']}  ({r['report_timestamp']})",
        f"  image {sb.get('image') or '-'}   policy {sb.get('policy_name') or '-'}"
        f" ({sb.get('policy_id') or '-'})",
        f"  network {ps.get('network_policy')}   monitoring {ps.get('monitoring_enabled')}   limits "
        + ", ".join(f"{k}={v}" for k, v in lim.items()),
        f"  violations {r['total_violations']} (last 24 h: {r['recent_violations_24h']}, "
        f"occurrences {r['total_occurrences']})   monitored sandboxes {r['monitored_containers']}",
    ]
    parts = [
        "\n".join(head),
        _counts("Violations by type", r["violation_types"]),
        _counts("Violations by rule", r["violations_by_rule"]),
        "Findings\n"
        + table(
            ("last seen", "rule", "severity", "count", "disposition", "evidence"),
            (
                (
                    when(v["last_seen"]),
                    v["rule_id"],
                    v["severity"],
                    v["count"],
                    v["disposition"],
                    v["process_cmdline"] or v["command"] or v["path"],
                )
                for v in r["violations"]
            ),
        ),
        "Actions\n"
        + table(
            ("time", "action", "result", "latency ms", "reason"),
            (
                (when(a["time_ms"]), a["action"], a["result"], a["latency_ms"], a["reason"])
                for a in r["actions"]
            ),
        ),
        "Top processes\n"
        + table(
            ("comm", "exe", "pids", "seen", "example"),
            ((p["comm"], p["exe"], p["pids"], p["sightings"], p["example"]) for p in r["top_processes"]),
        ),
        "Timeline\n"
        + table(
            ("time", "kind", "what", "detail", "outcome"),
            ((when(e["time_ms"]), e["kind"], e["what"], e["detail"], e["outcome"]) for e in r["timeline"]),
        ),
        "Recent metrics\n"
        + table(
            ("time", "cpu %", "memory MB", "procs", "conns", "fds"),
            (
                (
                    m["timestamp"][:19],
                    m["cpu_usage_percent"],
                    m["memory_usage_mb"],
                    m["process_count"],
                    m["network_connections"],
                    m["open_files"],
                )
                for m in r["recent_metrics"]
            ),
        ),
    ]
    return "\n\n".join(parts) + "\n"


def render_fleet(r: dict[str, Any]) -> str:
    sb = r["sandboxes"] or {}
    lat = r["enforcement_latency_ms"]
    parts = [
        f"Fleet report {when(r['window']['since'])} .. {when(r['window']['until'])} UTC\n"
        f"  sandboxes {sb.get('total', 0)} (active {sb.get('active', 0)}, destroyed {sb.get('destroyed', 0)})"
        f"   monitored {r['monitored_containers']}\n"
        f"  enforcement latency ms: n={lat.get('n')} p50={lat.get('p50')} p95={lat.get('p95')} "
        f"p99={lat.get('p99')} max={lat.get('max')}",
        "Top offending sandboxes\n"
        + table(
            ("sandbox", "image", "findings", "occurrences", "rules"),
            (
                (s["container_id"], s["image"], s["findings"], s["occurrences"], ",".join(s["rules"]))
                for s in r["top_sandboxes"]
            ),
        ),
        "Top offending images\n"
        + table(
            ("image", "findings", "sandboxes", "occurrences"),
            ((i["image"], i["findings"], i["sandboxes"], i["occurrences"]) for i in r["top_images"]),
        ),
        _counts("Violations by type", r["violations_by_type"]),
        _counts("Violations by severity", r["violations_by_severity"]),
        "Actions taken\n"
        + table(("action", "result", "count"), ((a["action"], a["result"], a["n"]) for a in r["actions"])),
    ]
    return "\n\n".join(parts) + "\n"


def render_compliance(r: dict[str, Any]) -> str:
    out = [f"Compliance: {r['benchmark']}  (host: {', '.join(r['host_security']) or 'no security features'})"]
    for c in r["containers"]:
        verdict = "COMPLIANT" if c["compliant"] else f"{c['failed']} FAILED"
        out.append(f"\n{c['name'] or c['container_id'][:12]}  {c['image']}  {verdict}")
        rows = ((k["check_id"], k["status"].upper(), k["title"], k["detail"]) for k in c["checks"])
        out.append(table(("check", "status", "title", "detail"), rows))
    if not r["containers"]:
        out.append("  (no running sandbox to inspect)")
    if r.get("not_found"):
        out.append(f"  no longer on this Docker engine: {', '.join(r['not_found'])}")
    return "\n".join(out) + "\n"
