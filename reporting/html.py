"""The report as one self-contained HTML page: tables rendered here, charts drawn by inline JS.

Nothing is fetched: the page carries its data (JSON in a non-executed script tag), its
CSS and its script, and a Content-Security-Policy that allows only that script (by
hash) and no network at all. Every string from the history (command lines, messages)
is untrusted: tables escape it (html_tables) and the script only ever sets
``textContent``; the JSON is escaped so that no ``</script>`` inside the data can close
its tag. What the charts show (domains, ticks, tooltips) is decided in ``charts``.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from string import Template
from typing import Any

import orjson

from reporting import formats as f
from reporting.charts import fleet_charts, sandbox_charts
from reporting.html_tables import (
    SHORT_ID,
    cards,
    code,
    compliance_sections,
    esc,
    fleet_sections,
    sandbox_sections,
    section,
)
from schemas import Severity

SEVERITY_ORDER = tuple(s.value for s in reversed(Severity))  # worst first
# Legend keys drawn with the charts' own classes, so the legend looks like what it explains.
KEY = "<svg class='key' viewBox='0 0 22 14' aria-hidden='true'>{}</svg>"
KEY_LINE = KEY.format("<path class='series' d='M1 10 L7 5 L13 8 L21 3'/>")
KEY_LIMIT = KEY.format("<line class='limit' x1='1' x2='21' y1='7' y2='7'/>")
KEY_VIOLATION = KEY.format("<g class='mark-violation'><path class='shape' d='M11 2 l5 5 l-5 5 l-5 -5z'/></g>")
KEY_ACTION = KEY.format("<g class='mark-action'><path class='shape' d='M6 3 h10 l-5 8z'/></g>")
KEY_BAR = KEY.format("<rect class='bar' x='5' y='2' width='12' height='11'/>")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    raw = orjson.dumps(data).decode()
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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
    body = [
        *(_sandbox_part(sandbox) if sandbox else []),
        *(_fleet_part(fleet, standalone=sandbox is None) if fleet else []),
        *(compliance_sections(compliance) if compliance else []),
    ]
    charts = [*(sandbox_charts(sandbox) if sandbox else []), *(fleet_charts(fleet) if fleet else [])]
    return Template(_asset("report_template.html")).substitute(
        title=esc(_title(sandbox)),
        script_hash=f"'sha256-{digest}'",
        generated=esc(_generated(main)),
        body="\n".join(body),
        data=_json_for_script({"charts": charts}),
        script=script,
    )


def render_page(*, title: str, generated: str, sections: Iterable[str]) -> str:
    """A page of the report's look (template, styles, CSP) around sections built by the
    caller with ``html_tables``; no charts. For other reports on the history (backtests)."""
    script = _asset("report_charts.js")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return Template(_asset("report_template.html")).substitute(
        title=esc(title),
        script_hash=f"'sha256-{digest}'",
        generated=esc(generated),
        body="\n".join(sections),
        data=_json_for_script({"charts": []}),
        script=script,
    )


def _title(sandbox: dict[str, Any] | None) -> str:
    if sandbox is None:
        return "sandguard security report: fleet"
    name = _display_name(sandbox)
    return f"sandguard security report: sandbox {name}"


def _display_name(r: dict[str, Any]) -> str:
    """A sandbox report's name for people: the sandbox's name, else its short id."""
    return str((r.get("sandbox") or {}).get("sandbox_name") or r["container_id"][:SHORT_ID])


def _generated(r: dict[str, Any]) -> str:
    w = r["window"]
    since, until = (" ".join(f.utc(w[k])) for k in ("since", "until"))
    span = f.duration(w["until"] - w["since"])
    generated = r["report_timestamp"][:19].replace("T", " ")
    return f"Generated {generated} UTC by sandguard · window {since} to {until} UTC ({span})"


# --- one sandbox -------------------------------------------------------------------


def _sandbox_part(r: dict[str, Any]) -> list[str]:
    sb = r.get("sandbox") or {}
    name = _display_name(r)
    facts = [
        ("container", code(r["container_id"])), ("image", sb.get("image")), ("host", sb.get("host")),
        ("policy", _policy_name(sb)), ("created", " ".join(f.utc(sb.get("first_seen")))),
        ("destroyed", " ".join(f.utc(sb["destroyed_at"])) if sb.get("destroyed_at") else None),
    ]  # fmt: skip
    head = f"<header><h1>Sandbox {esc(name)}</h1>{_facts(facts)}</header>"
    legend = _legend(_sandbox_keys(r), "Hover a marker or a point for details.")
    charts = legend + "<div class='charts' id='charts-sandbox'></div>"
    return [head, cards(_sandbox_cards(r)), section("Resource use", charts), *sandbox_sections(r)]


def _policy_name(sb: dict[str, Any]) -> str | None:
    if not sb.get("policy_id"):
        return None
    return f"{sb.get('policy_name') or '(unnamed)'} ({sb['policy_id']})"


def _facts(items: Iterable[tuple[str, Any]]) -> str:
    shown = [f"<span><i>{esc(k)}</i> {esc(v)}</span>" for k, v in items if v]
    return f"<p class='facts'>{''.join(shown)}</p>"


def _sandbox_cards(r: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    sb, ps = r.get("sandbox") or {}, r["policy_summary"]
    actions = Counter(f"{a['action']} {a['result']}" for a in r["actions"])
    recent = f.plural(r["recent_violations_24h"], "finding")
    monitored = f.plural(r["monitored_containers"], "sandbox", "sandboxes")
    return [
        ("status", *_status(r, sb)),
        ("findings", f.count(r["total_violations"]), _by_severity(r["violations_by_severity"])),
        ("occurrences", f.count(r["total_occurrences"]), f"{recent} in the last 24 h"),
        ("actions", f.count(len(r["actions"])), ", ".join(f"{n} {k}" for k, n in actions.items())),
        ("network", ps["network_policy"] or "-", None),
        ("monitoring", f.on_off(ps["monitoring_enabled"]), f"{monitored} monitored now"),
    ]


def _status(r: dict[str, Any], sb: dict[str, Any]) -> tuple[str, str | None]:
    if not r.get("known"):
        return "unknown", "no lifecycle event in the history"
    until = sb.get("destroyed_at") or r["window"]["until"]
    lived = f.duration(until - sb["first_seen"]) if sb.get("first_seen") else None
    if sb.get("destroyed_at"):
        return "destroyed", f"lived {lived}" if lived else None
    return "running", f"up {lived}" if lived else None


def _by_severity(counts: dict[str, int]) -> str:
    return " · ".join(f"{f.count(counts[s])} {s}" for s in SEVERITY_ORDER if counts.get(s))


def _sandbox_keys(r: dict[str, Any]) -> list[tuple[str, str]]:
    res = r.get("series_resolution") or {"source": "rollup", "step_ms": 60_000}
    if res["source"] == "raw" and res["step_ms"] <= 1000:
        usage = "usage, every sample"
    else:
        usage = f"usage, peak per {f.duration(res['step_ms'])} (CPU: average)"
    return [(KEY_LINE, usage), (KEY_LIMIT, "policy limit"), (KEY_VIOLATION, "violation (first seen)"),
            (KEY_ACTION, "enforcement action")]  # fmt: skip


def _legend(keys: Iterable[tuple[str, str]], hint: str) -> str:
    items = "".join(f"<span>{key}{esc(label)}</span>" for key, label in keys)
    return f"<p class='legend'>{items}<span class='hint'>{esc(hint)}</span></p>"


# --- the fleet ---------------------------------------------------------------------


def _fleet_part(r: dict[str, Any], *, standalone: bool) -> list[str]:
    head = "<header><h1>Fleet</h1></header>" if standalone else "<h1 class='part'>Fleet</h1>"
    bucket = f.duration(r["violations_over_time"]["bucket_ms"])
    key = (KEY_BAR, f"findings first seen per {bucket}, by violation type")
    legend = _legend([key], "Hover a bar for details.")
    charts = legend + "<div class='charts' id='charts-fleet'></div>"
    if not r["violations_over_time"]["points"]:
        charts = "<p class='none'>No findings in this window.</p>" + charts
    return [head, cards(_fleet_cards(r)), section("Findings over time", charts), *fleet_sections(r)]


def _fleet_cards(r: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    sb, lat = r["sandboxes"] or {}, r["enforcement_latency_ms"]
    actions = Counter[str]()
    for a in r["actions"]:
        actions[a["action"]] += a["n"]
    states = f"{f.count(sb.get('active', 0))} active · {f.count(sb.get('destroyed', 0))} destroyed"
    p99, spread = "-", None
    if lat.get("n"):
        p99, spread = f.duration(lat["p99"]), f"p50 {f.duration(lat['p50'])} · max {f.duration(lat['max'])}"
    return [
        ("sandboxes", f.count(sb.get("total", 0)), states),
        (
            "findings",
            f.count(sum(r["violations_by_type"].values())),
            _by_severity(r["violations_by_severity"]),
        ),
        ("actions", f.count(sum(actions.values())), ", ".join(f"{n} {k}" for k, n in actions.items())),
        ("enforcement p99", p99, spread),
        ("monitored now", f.count(r["monitored_containers"]), "sandboxes with monitoring on"),
    ]
