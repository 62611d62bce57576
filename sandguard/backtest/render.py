"""A backtest report as terminal tables or as an HTML page (the report's look and escaping)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reporting import formats as f
from reporting.html import render_page
from reporting.html_tables import Col, badge, cards, code, esc, section, short_id, stamp
from reporting.html_tables import table as html_table
from reporting.render_text import table, when

SHORT = 12


def _policy_line(r: dict[str, Any]) -> str:
    p = r["policy"]
    if p["source"] == "recorded":
        return "the policies in force (recorded)"
    return f"{p['name']} ({p['policy_id']}, {p['mode']} mode) from {p['source']}"


def _window(r: dict[str, Any]) -> str:
    w = r["window"]
    return f"{when(w['since'])} to {when(w['until'])} UTC"


def _headline(r: dict[str, Any]) -> list[str]:
    t, h = r["totals"], r["history"]
    a = t["agreement"]
    lines = [
        f"Backtest of {_policy_line(r)}",
        f"  {r['selection']}, {_window(r)}: {f.plural(h['sandboxes'], 'sandbox', 'sandboxes')}, "
        f"{f.count(h['events'])} events replayed in {h['replay_s']} s",
        f"  findings: stored {t['stored_findings']}, backtest {t['backtest_findings']} "
        f"(new {t['new_findings']}, gone {t['gone_findings']}); terminated: stored "
        f"{t['stored_terminated']}, backtest {t['backtest_terminated']}",
    ]
    if r["policy"]["source"] == "recorded":
        lines.append(
            f"  agreement with the stored outputs: {a['ratio']:.4f} "
            f"({a['reproduced_events']}/{a['stored_events']} "
            f"violation events, {a['reproduced_commands']}/{a['stored_commands']} commands"
            f"{', exact' if a['exact'] else ', NOT exact'})"
        )
    if r["gaps"]:
        lines.append(f"  history has {f.plural(len(r['gaps']), 'gap')}: no verdict inside them (see Gaps)")
    return lines


def _actions(side: dict[str, Any]) -> str:
    return ", ".join(f"{n} {k}" for k, n in side["commands"].items()) or "-"


def _acted(side: dict[str, Any]) -> str:
    """What the enforcer reported doing (stored actions: action and result)."""
    return ", ".join(f"{n} {k}" for k, n in side["results"].items()) or "-"


def render_text(r: dict[str, Any]) -> str:
    rows = r["sandboxes"]
    per_rule = [
        (
            s["container_id"][:SHORT],
            x["rule_id"],
            x["stored_findings"],
            x["backtest_findings"],
            x["new"],
            x["gone"],
            x["stored_occurrences"],
            x["backtest_occurrences"],
        )
        for s in rows
        for x in s["rules"]
    ]
    acts = [
        (
            s["container_id"][:SHORT],
            s["image"],
            _actions(s["stored"]),
            _acted(s["stored"]),
            _actions(s["backtest"]),
            when(s["stored"]["terminated_at"]),
            when(s["backtest"]["terminated_at"]),
        )
        for s in rows
        if s["stored"]["commands"] or s["backtest"]["commands"]
    ]
    parts = [
        "\n".join(_headline(r)),
        "Per sandbox and rule (findings)\n"
        + table(
            ("sandbox", "rule", "stored", "backtest", "new", "gone", "occ. stored", "occ. backtest"), per_rule
        ),
        "Actions (commands issued)\n"
        + table(
            (
                "sandbox",
                "image",
                "commanded",
                "acted (enforcer)",
                "backtest",
                "terminated",
                "terminated (backtest)",
            ),
            acts,
        ),
        "New findings\n" + _findings_text(rows, "new_findings"),
        "Findings that would disappear\n" + _findings_text(rows, "gone_findings"),
        "Gaps in the history\n"
        + table(
            ("sandbox", "from", "to", "kind", "detail"),
            (
                (
                    g["container_id"][:SHORT] or "(host)",
                    when(g["start"]),
                    when(g["end"]),
                    g["kind"],
                    g["detail"],
                )
                for g in r["gaps"]
            ),
        ),
    ]
    return "\n\n".join(parts)


def _findings_text(rows: list[dict[str, Any]], key: str) -> str:
    return table(
        ("sandbox", "first seen", "rule", "severity", "count", "message"),
        (
            (
                s["container_id"][:SHORT],
                when(x["first_seen"]),
                x["rule_id"],
                x["severity"],
                x["count"],
                x["message"],
            )
            for s in rows
            for x in s[key]
        ),
    )


# --- HTML ----------------------------------------------------------------------------


def render_html(r: dict[str, Any]) -> str:
    t = r["totals"]
    head = f"<header><h1>Backtest: {esc(_policy_line(r))}</h1></header>"
    summary = cards(_cards(r))
    sections = [
        head,
        summary,
        section("Sandboxes", _html_sandboxes(r["sandboxes"]), note=r["selection"]),
        section(
            "New findings", _html_findings(r["sandboxes"], "new_findings"), note=f.count(t["new_findings"])
        ),
        section(
            "Findings that would disappear",
            _html_findings(r["sandboxes"], "gone_findings"),
            note=f.count(t["gone_findings"]),
        ),
        section("Gaps in the history", _html_gaps(r["gaps"]), note="no verdict inside a gap"),
    ]
    return render_page(
        title=f"sandguard backtest: {r['policy']['name']}",
        generated=f"Backtest over {_window(r)} · {r['history']['events']:,} events replayed",
        sections=sections,
    )


def _cards(r: dict[str, Any]) -> Iterable[tuple[str, Any, Any]]:
    t, h, a = r["totals"], r["history"], r["totals"]["agreement"]
    yield ("sandboxes", f.count(h["sandboxes"]), f"{f.count(h['events'])} events")
    yield ("findings", f"{t['stored_findings']} → {t['backtest_findings']}", "stored → backtest")
    yield ("new", f.count(t["new_findings"]), f"{t['gone_findings']} would disappear")
    yield (
        "terminated",
        f"{t['stored_terminated']} → {t['backtest_terminated']}",
        f"{len(t['newly_terminated'])} newly",
    )
    yield ("gaps", f.count(len(r["gaps"])), "collector down or events dropped")
    if r["policy"]["source"] == "recorded":
        yield ("agreement", f"{a['ratio']:.4f}", "exact" if a["exact"] else "not exact")


def _html_sandboxes(rows: list[dict[str, Any]]) -> str:
    cols = (
        Col("sandbox"),
        Col("image"),
        Col("rule"),
        Col("stored", "num"),
        Col("backtest", "num"),
        Col("new", "num"),
        Col("gone", "num"),
        Col("actions stored"),
        Col("actions backtest"),
    )
    body = []
    for s in rows:
        for i, x in enumerate(s["rules"] or [None]):
            first = i == 0
            body.append(
                (
                    short_id(s["container_id"]) if first else "",
                    s["image"] if first else "",
                    code(x["rule_id"]) if x else "",
                    x["stored_findings"] if x else 0,
                    x["backtest_findings"] if x else 0,
                    x["new"] if x else 0,
                    x["gone"] if x else 0,
                    _html_actions(s["stored"]) if first else "",
                    _html_actions(s["backtest"]) if first else "",
                )
            )
    return html_table(cols, body)


def _html_actions(side: dict[str, Any]) -> Any:
    acted = f" · acted: {_acted(side)}" if side["results"] else ""
    if side["terminated_at"] is not None:
        return badge(f"terminated · {_actions(side)}{acted}", "terminated")
    return _actions(side) + acted


def _html_findings(rows: list[dict[str, Any]], key: str) -> str:
    cols = (
        Col("sandbox"),
        Col("first seen", "time"),
        Col("severity"),
        Col("rule"),
        Col("count", "num"),
        Col("message", "wide"),
    )
    body = [
        (
            short_id(s["container_id"]),
            stamp(x["first_seen"]),
            badge(x["severity"]),
            code(x["rule_id"]),
            x["count"],
            x["message"],
        )
        for s in rows
        for x in s[key]
    ]
    return html_table(cols, body)


def _html_gaps(gaps: list[dict[str, Any]]) -> str:
    cols = (Col("sandbox"), Col("from", "time"), Col("to", "time"), Col("kind"), Col("detail", "wide"))
    body = [
        (
            short_id(g["container_id"]) if g["container_id"] else "(host)",
            stamp(g["start"]),
            stamp(g["end"]),
            badge(g["kind"]),
            g["detail"],
        )
        for g in gaps
    ]
    return html_table(cols, body)
