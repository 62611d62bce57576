"""The report as one self-contained HTML page: tables rendered here, charts drawn by inline JS.

Nothing is fetched: the page carries its data (JSON in a non-executed script tag), its
CSS and its script, and a Content-Security-Policy that allows only that script (by
hash) and no network at all. Every string from the history (command lines, messages)
is untrusted: tables escape it here and the script only ever sets ``textContent``;
the JSON is escaped so that no ``</script>`` inside the data can close its tag.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from importlib import resources
from string import Template
from typing import Any

import orjson

from reporting.render_text import when

MB = 1024 * 1024
_LEGEND = (
    "<p class='legend'><span><i style='background:#1f6feb'></i>usage (peak per minute; CPU: average)</span>"
    "<span><i style='background:#c62828'></i>limit</span>"
    "<span><i style='background:#e8590c'></i>violation</span>"
    "<span><i style='background:#6f42c1'></i>action</span></p>"
)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    raw = orjson.dumps(data).decode()
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = f' class="{html.escape(str(v))}"' if i < len(classes) and classes[i] == "status" else ""
            cells.append(f"<td{cls}>{html.escape('-' if v is None or v == '' else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return "<p class='meta'>(none)</p>"
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _section(title: str, content: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{content}"


def _cards(items: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(f"<div class='card'>{html.escape(k)}<b>{html.escape(str(v))}</b></div>" for k, v in items)
    return f"<div class='cards'>{cells}</div>"


def _sandbox_sections(r: dict[str, Any]) -> list[str]:
    return [
        _section("Findings", _table(
            ("first seen", "last seen", "rule", "type", "severity", "count", "disposition", "evidence"),
            ((when(v["first_seen"]), when(v["last_seen"]), v["rule_id"], v["violation_type"], v["severity"],
              v["count"], v["disposition"], v["process_cmdline"] or v["command"] or v["path"])
             for v in r["violations"]),
        )),
        _section("Actions taken", _table(
            ("time", "action", "result", "latency ms", "reason"),
            ((when(a["time_ms"]), a["action"], a["result"], a["latency_ms"], a["reason"])
             for a in r["actions"]),
        )),
        _section("Top processes", _table(
            ("comm", "exe", "pids", "sightings", "example", "first seen", "last seen"),
            ((p["comm"], p["exe"], p["pids"], p["sightings"], p["example"], when(p["first_seen"]),
              when(p["last_seen"])) for p in r["top_processes"]),
        )),
        _section("Timeline", _table(
            ("time", "kind", "what", "detail", "outcome"),
            ((when(e["time_ms"]), e["kind"], e["what"], e["detail"], e["outcome"]) for e in r["timeline"]),
        )),
        _section("Policy in force", "<pre>" + html.escape(
            orjson.dumps(r["policy"], option=orjson.OPT_INDENT_2).decode() if r["policy"] else "(unknown)"
        ) + "</pre>"),
    ]  # fmt: skip


def _fleet_sections(r: dict[str, Any]) -> list[str]:
    lat = r["enforcement_latency_ms"]
    return [
        _section("Top offending sandboxes", _table(
            ("sandbox", "image", "findings", "occurrences", "rules"),
            ((s["container_id"], s["image"], s["findings"], s["occurrences"], ", ".join(s["rules"]))
             for s in r["top_sandboxes"]),
        )),
        _section("Top offending images", _table(
            ("image", "findings", "sandboxes", "occurrences"),
            ((i["image"], i["findings"], i["sandboxes"], i["occurrences"]) for i in r["top_images"]),
        )),
        _section("Actions taken (fleet)", _table(
            ("action", "result", "count"), ((a["action"], a["result"], a["n"]) for a in r["actions"]),
        )),
        _section("Enforcement latency (ms)", _table(
            ("actions", "p50", "p95", "p99", "max"),
            [(lat.get("n"), lat.get("p50"), lat.get("p95"), lat.get("p99"), lat.get("max"))],
        )),
    ]  # fmt: skip


def _compliance_sections(c: dict[str, Any]) -> list[str]:
    out = [_section("Compliance", f"<p class='meta'>{html.escape(c['benchmark'])}</p>")]
    if not c["containers"]:
        out.append("<p class='meta'>(no running sandbox to inspect)</p>")
    if c.get("not_found"):
        gone = ", ".join(c["not_found"])
        out.append(f"<p class='meta'>No longer on this Docker engine: {html.escape(gone)}</p>")
    for box in c["containers"]:
        verdict = "compliant" if box["compliant"] else f"{box['failed']} checks failed"
        name = html.escape(box["name"] or box["container_id"][:12])
        meta = html.escape(f"{box['image']}: {verdict}")
        out.append(f"<h3>{name} <span class='meta'>{meta}</span></h3>")
        rows = ((k["check_id"], k["status"], k["title"], k["detail"]) for k in box["checks"])
        out.append(_table(("check", "status", "title", "detail"), rows, ("", "status")))
    return out


def _chart_data(sandbox: dict[str, Any] | None, fleet: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"sandbox": None, "fleet": None}
    if sandbox is not None:
        lim = (sandbox.get("policy") or {}).get("resource_limits") or {}
        data["sandbox"] = {
            "window": sandbox["window"],
            "series": sandbox["series"],
            "limits": {
                k: lim.get(k)
                for k in ("cpu_percent", "memory_mb", "max_processes", "max_network_connections")
            },
            "violations": [
                {"t": v["first_seen"], "label": f"{v['rule_id']} ({v['severity']})"}
                for v in sandbox["violations"]
            ],
            "actions": [
                {"t": a["time_ms"], "label": f"{a['action']}: {a['result']}"} for a in sandbox["actions"]
            ],
        }
    if fleet is not None:
        data["fleet"] = {**fleet["violations_over_time"], **fleet["window"]}
    return data


def render_html(
    *,
    sandbox: dict[str, Any] | None = None,
    fleet: dict[str, Any] | None = None,
    compliance: dict[str, Any] | None = None,
) -> str:
    """The page for a sandbox report, a fleet report, or both, with the compliance results if given."""
    main = sandbox or fleet
    if main is None:
        raise ValueError("render_html needs a sandbox or a fleet report")
    script = _asset("report_charts.js")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    title = f"sandguard security report: {sandbox['container_id']}" if sandbox else "sandguard fleet report"
    sections = [*(_sandbox_sections(sandbox) if sandbox else []), *(_fleet_sections(fleet) if fleet else []),
                *(_compliance_sections(compliance) if compliance else [])]  # fmt: skip
    return Template(_asset("report_template.html")).substitute(
        title=html.escape(title),
        script_hash=f"'sha256-{digest}'",
        generated=html.escape(main["report_timestamp"][:19].replace("T", " ")),
        window=html.escape(f"{when(main['window']['since'])} .. {when(main['window']['until'])}"),
        summary=_summary(sandbox, fleet),
        legend=_LEGEND if sandbox else "<p class='legend'>Findings first seen in each interval, by type.</p>",
        sections="\n".join(sections),
        data=_json_for_script(_chart_data(sandbox, fleet)),
        script=script,
    )


def _summary(sandbox: dict[str, Any] | None, fleet: dict[str, Any] | None) -> str:
    if sandbox is not None:
        ps = sandbox["policy_summary"]
        return _cards([
            ("violations", sandbox["total_violations"]), ("last 24 h", sandbox["recent_violations_24h"]),
            ("occurrences", sandbox["total_occurrences"]), ("network", ps["network_policy"]),
            ("monitoring", ps["monitoring_enabled"]),
            ("monitored sandboxes", sandbox["monitored_containers"]),
        ])  # fmt: skip
    assert fleet is not None
    sb = fleet["sandboxes"] or {}
    return _cards([
        ("sandboxes", sb.get("total", 0)), ("active", sb.get("active", 0)),
        ("findings", sum(fleet["violations_by_type"].values())),
        ("p99 enforcement ms", fleet["enforcement_latency_ms"].get("p99")),
    ])  # fmt: skip
