"""The page as text: what a reader sees in the tables and cards, escaped, self-contained."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from reporting.html import render_html
from tests.unit.reporting.conftest import SandboxReport

HOSTILE = "</script><img src=x onerror=alert(1)>"


def _data(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="sg-data">(.*?)</script>', page, re.S)
    assert m
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def _row(page: str, *cells: str) -> bool:
    """A table row holding these cell texts, in order."""
    return any(all(c in row for c in cells) for row in re.findall(r"<tr>(.*?)</tr>", page, re.S))


def test_the_actions_table_says_why_and_how_long(sandbox_report: SandboxReport) -> None:
    page = render_html(sandbox=sandbox_report())
    assert _row(page, "terminate", "applied", "cpu.throttled", "3 s", "3 violations")


def test_findings_show_their_message_and_evidence(sandbox_report: SandboxReport) -> None:
    r = sandbox_report()
    r["violations"][0]["process_cmdline"] = "sh -c 'while :; do :; done'"
    page = render_html(sandbox=r)
    assert _row(page, "cpu.throttled", "medium", "CPU throttled in 87% of periods", "while :; do :; done")


def test_the_cards_read_as_words_and_units(sandbox_report: SandboxReport) -> None:
    page = render_html(sandbox=sandbox_report())
    cards = dict(re.findall(r"<div class='card'><span>(.*?)</span><b>(.*?)</b>", page))
    assert cards == {"status": "destroyed", "findings": "1", "occurrences": "3", "actions": "1",
                     "network": "none", "monitoring": "on"}  # fmt: skip
    assert "lived 10 s" in page and "1 finding in the last 24 h" in page
    assert "2 sandboxes monitored now" in page


def test_the_policy_is_a_readable_table_with_the_json_folded(sandbox_report: SandboxReport) -> None:
    page = render_html(sandbox=sandbox_report())
    assert _row(page, "resource limits", "CPU 25 %", "memory 128 MiB", "processes 24")
    assert _row(page, "blocked commands", "rm, sudo")
    assert "<details><summary>The policy as JSON</summary>" in page


def test_strings_from_sandboxes_are_text_everywhere(sandbox_report: SandboxReport) -> None:
    r = sandbox_report()
    r["violations"][0]["message"] = HOSTILE
    r["actions"][0]["reason"] = HOSTILE
    r["sandbox"]["sandbox_name"] = HOSTILE
    page = render_html(sandbox=r)
    assert "<img" not in page and page.count("</script>") == 2  # the data block's and the script's own
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    titles = [m["title"] for m in _data(page)["charts"][0]["marks"]]
    assert any(HOSTILE in t for t in titles)  # intact in the data; the script sets it as text


def test_the_page_fetches_nothing(sandbox_report: SandboxReport, fleet_report: Callable[..., Any]) -> None:
    page = render_html(sandbox=sandbox_report(), fleet=fleet_report())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(", page) and "@import" not in page
    assert "default-src 'none'" in page and "script-src 'sha256-" in page


def test_the_fleet_part_has_its_own_cards_and_charts(fleet_report: Callable[..., Any]) -> None:
    page = render_html(fleet=fleet_report())
    assert "<title>sandguard security report: fleet</title>" in page
    assert "1 critical · 6 medium" in page and "p50 125 ms · max 2.2 s" in page
    assert _row(page, "sb-a", "aaaaaaaaaaaa", "img:1", "7", "9", "critical", "r.one, r.two")
    assert _row(page, "3", "125 ms", "2.2 s", "2.2 s", "2.2 s")
    assert [c["host"] for c in _data(page)["charts"]] == ["charts-fleet", "charts-fleet"]


def test_a_page_needs_a_report() -> None:
    with pytest.raises(ValueError, match="sandbox or a fleet"):
        render_html()


def test_a_sandbox_the_history_never_saw_still_renders(sandbox_report: SandboxReport) -> None:
    r = sandbox_report(samples=0, activity=None, violations=[], actions=[], known=False, sandbox=None,
                       policy=None, total_violations=0, violations_by_severity={})  # fmt: skip
    page = render_html(sandbox=r)
    assert "no lifecycle event in the history" in page and "None in this window." in page
    assert "Unknown: the history holds no policy event for this sandbox." in page
    x = _data(page)["charts"][0]["x"]
    assert (x["t0"], x["t1"]) == (r["window"]["since"], r["window"]["until"])  # nothing to follow


def test_a_fleet_without_findings_says_so(fleet_report: Callable[..., Any]) -> None:
    r = fleet_report()
    r["violations_over_time"]["points"] = []
    page = render_html(fleet=r)
    assert "No findings in this window." in page and _data(page)["charts"] == []
