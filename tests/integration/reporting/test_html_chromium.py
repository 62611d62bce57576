"""The HTML report rendered by a real headless Chromium: the charts draw, hostile strings stay text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from reporting.compliance import compliance_report, host_security
from reporting.html import render_html
from reporting.reports import HistoryReports
from reporting.store import ClickHouseStore
from sandguard.bus import LocalBus
from schemas import Evidence, ProcessInfo, SecurityViolationType, Severity, Violation, encode
from schemas import topics as t
from tests.integration.reporting.conftest import RunSink
from tests.integration.reporting.fleet import BOMB, BRIEF, BRIEF_SAMPLES, MIN, Fleet, build_brief

TESTDATA = Path(__file__).parents[2] / "unit" / "reporting" / "testdata"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
# A bounded wait for one page: Chromium starts in ~1-3 s here; 90 s covers a loaded machine.
CHROMIUM_TIMEOUT_S = 90
HOSTILE = "</script><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"><b id=injected>"


def dump_dom(page: Path) -> str:
    """The DOM after the page's scripts ran, from Debian's chromium (deploy/local/chromium.sh)."""
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: deploy/local/chromium.sh installs it"
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=True,
        )  # fmt: skip
    return out.stdout


def _hostile_violation(f: Fleet) -> tuple[str, str, bytes]:
    proc = ProcessInfo(pid=1, ppid=0, uid=0, comm="sh", exe="/bin/sh", argv=("sh", "-c", HOSTILE))
    v = Violation(
        container_id=BOMB, violation_id="hostile", rule_id="process.suspicious",
        violation_type=SecurityViolationType.SUSPICIOUS_ACTIVITY, severity=Severity.HIGH, title=HOSTILE,
        message=HOSTILE, first_seen=f.start + 95 * MIN, last_seen=f.start + 95 * MIN,
        sample_time=f.start + 95 * MIN, evidence=Evidence(process=proc),
    )  # fmt: skip
    return (t.VIOLATIONS, BOMB, encode(v))


@pytest.fixture
async def reports(store: ClickHouseStore, fleet: Fleet, run_sink: RunSink) -> HistoryReports:
    bus = LocalBus()
    await bus.start()
    await run_sink(bus, store, [*fleet.events, _hostile_violation(fleet)])
    return HistoryReports(store)


def _compliance() -> dict[str, Any]:
    host = host_security(json.loads((TESTDATA / "docker_info.json").read_text()))
    inspects = [json.loads((TESTDATA / f"inspect_{n}.json").read_text()) for n in ("hardened", "weak")]
    return compliance_report(inspects, host)


def _svg(dom: str, chart_id: str) -> str:
    m = re.search(rf'<svg[^>]*id="{chart_id}"[^>]*>.*?</svg>', dom, re.S)
    assert m, f"no {chart_id} in the DOM"
    return m.group(0)


def _attrs(svg: str, tag: str, cls: str | None = None) -> list[dict[str, str]]:
    """The attributes of every ``tag`` element (of class ``cls``) in the drawn SVG."""
    found = [dict(re.findall(r'([\w-]+)="([^"]*)"', m)) for m in re.findall(rf"<{tag}\s([^>]*)>", svg)]
    return [a for a in found if cls is None or a.get("class") == cls]


def _plot(svg: str) -> tuple[float, float]:
    root = _attrs(svg, "svg")[0]
    return float(root["data-plot-left"]), float(root["data-plot-right"])


def _series_xs(svg: str) -> list[float]:
    paths = _attrs(svg, "path", "series")
    return [float(x) for p in paths for x in re.findall(r"[ML]([\d.]+) ", p["d"])]


def _titles(svg: str, cls: str) -> list[str]:
    return re.findall(rf'<g class="mark {cls}">.*?<title>(.*?)</title></g>', svg, re.S)


def _tick_labels(svg: str) -> list[str]:
    """The time axis's labels."""
    return re.findall(r'<text[^>]*class="tick x"[^>]*>([^<]*)</text>', svg)


def test_the_sandbox_page_draws_every_chart_with_limits_and_marks(
    reports: HistoryReports, fleet: Fleet, tmp_path: Path
) -> None:
    report = reports.sandbox_report(BOMB, since_ms=fleet.start, now=fleet.now)
    page = tmp_path / "report.html"
    page.write_text(render_html(sandbox=report, compliance=_compliance()), encoding="utf-8")
    dom = dump_dom(page)
    assert 'data-charts="4"' in dom and 'data-charts-drawn="4"' in dom
    for chart in ("chart-cpu", "chart-memory", "chart-processes", "chart-sockets"):
        svg = _svg(dom, chart)
        assert 'data-drawn="true"' in svg and 'class="series"' in svg and 'class="limit"' in svg
        assert svg.count('class="mark mark-violation"') == 4 and svg.count('class="mark mark-action"') == 1
        left, right = _plot(svg)
        xs = _series_xs(svg)
        assert xs and all(left <= x <= right for x in xs)
    cpu = _svg(dom, "chart-cpu")
    assert 'data-points="110"' in cpu  # one point per minute the bomb lived
    violations = _titles(cpu, "mark-violation")
    assert any("pids.limit_hit (high)" in v and "first seen" in v and "UTC" in v for v in violations)
    [action] = _titles(cpu, "mark-action")
    assert "terminate: applied" in action and "latency 1.5 s" in action and "reached the threshold" in action
    assert "5.31" in dom and "sg-cis-weak" in dom  # the compliance section


@pytest.fixture
async def brief(store: ClickHouseStore, run_sink: RunSink) -> tuple[HistoryReports, Fleet]:
    bus = LocalBus()
    await bus.start()
    f = build_brief()
    await run_sink(bus, store, f.events)
    return HistoryReports(store), f


def test_a_short_lived_sandbox_gets_an_axis_of_seconds_around_its_life(
    brief: tuple[HistoryReports, Fleet], tmp_path: Path
) -> None:
    reports, f = brief
    report = reports.sandbox_report(BRIEF, since_ms=f.now - 24 * 60 * MIN, now=f.now)  # a 24 h window
    page = tmp_path / "brief.html"
    page.write_text(render_html(sandbox=report), encoding="utf-8")
    svg = _svg(dump_dom(page), "chart-memory")
    root = _attrs(svg, "svg")[0]
    t0, t1 = int(root["data-t0"]), int(root["data-t1"])
    start = f.now - 5 * MIN
    assert t0 <= start + 100 and start + (BRIEF_SAMPLES - 1) * 1000 + 100 <= t1
    assert t1 - t0 < 20_000  # the 11 s it lived and a margin, not the 24 h window
    left, right = _plot(svg)
    dots = [float(c["cx"]) for c in _attrs(svg, "circle", "point")]
    assert len(dots) == BRIEF_SAMPLES and all(left <= x <= right for x in dots)
    assert dots[0] - left < 0.1 * (right - left) and right - dots[-1] < 0.1 * (right - left)
    assert svg.count("<title>") >= BRIEF_SAMPLES + 2  # every sample and both markers say what they are
    labels = _tick_labels(svg)
    assert len(labels) >= 4 and len(set(labels)) == len(labels)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", label) for label in labels)  # seconds on the axis
    [violation] = _titles(svg, "mark-violation")
    assert "cpu.throttled (medium)" in violation and "x3" in violation
    [action] = _titles(svg, "mark-action")
    assert "terminate: applied" in action and "latency 3 s" in action
    assert "(cpu.throttled) reached the threshold" in action  # the command's reason


def test_hostile_strings_from_a_sandbox_stay_text(
    reports: HistoryReports, fleet: Fleet, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sandbox=reports.sandbox_report(BOMB, since_ms=fleet.start, now=fleet.now)))
    dom = dump_dom(page)
    assert "data-pwned" not in dom.split("<body")[1].split(">")[0]
    assert 'id="injected"' not in dom and "<img" not in dom
    assert 'data-charts-drawn="4"' in dom  # the data still parsed


def test_the_fleet_page_draws_one_chart_per_violation_type(
    reports: HistoryReports, fleet: Fleet, tmp_path: Path
) -> None:
    page = tmp_path / "fleet.html"
    page.write_text(render_html(fleet=reports.fleet_report(since_ms=fleet.start, now=fleet.now)))
    dom = dump_dom(page)
    assert 'data-charts="3"' in dom and 'data-charts-drawn="3"' in dom
    svgs = [_svg(dom, f"chart-fleet-{i}") for i in range(3)]
    bars = [b for svg in svgs for b in _attrs(svg, "rect", "bar")]
    # One per (interval, type): the 5 findings (4 of the fleet, the hostile one) fall apart.
    assert len(bars) == 5
    for svg in svgs:
        left, right = _plot(svg)
        for b in _attrs(svg, "rect", "bar"):
            assert left <= float(b["x"]) and float(b["x"]) + float(b["width"]) <= right + 0.01
        labels = _tick_labels(svg)
        assert len(labels) >= 3 and len(set(labels)) == len(labels)  # a time axis that says something
    assert dom.count("finding (") + dom.count("findings (") >= 5  # every bar has its tooltip


def test_the_page_is_self_contained(reports: HistoryReports, fleet: Fleet) -> None:
    page = render_html(sandbox=reports.sandbox_report(BOMB, since_ms=fleet.start, now=fleet.now))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page and "script-src 'sha256-" in page
