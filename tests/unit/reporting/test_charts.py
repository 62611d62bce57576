"""Chart specs: what the page's script draws, decided and checked in Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reporting.charts import MAX_DOTS, fleet_charts, gap_ms, sandbox_charts
from tests.unit.reporting.conftest import SandboxReport, T


def _chart(charts: list[dict[str, Any]], chart_id: str) -> dict[str, Any]:
    return next(c for c in charts if c["id"] == chart_id)


def test_a_short_life_in_a_long_window_gets_an_axis_of_its_own(sandbox_report: SandboxReport) -> None:
    charts = sandbox_charts(sandbox_report())
    assert [c["id"] for c in charts] == ["chart-cpu", "chart-memory", "chart-processes", "chart-sockets"]
    x = charts[0]["x"]
    assert all(c["x"] == x for c in charts)  # one shared time axis
    assert x["t0"] < T and x["t1"] > T + 9000 and x["t1"] - x["t0"] < 15_000
    labels = [label for _, label in x["ticks"]]
    assert labels == ["23:37:10", "23:37:12", "23:37:14", "23:37:16", "23:37:18"]
    for c in charts:
        assert all(x["t0"] <= t <= x["t1"] for t, _ in c["points"])
        assert all(x["t0"] <= m["t"] <= x["t1"] for m in c["marks"])


def test_markers_say_what_they_were(sandbox_report: SandboxReport) -> None:
    violation, action = sandbox_charts(sandbox_report())[0]["marks"]
    assert violation["kind"] == "violation" and violation["t"] == T + 4000
    assert violation["title"].splitlines() == [
        "Violation cpu.throttled (medium)",
        "first seen 23:37:14.000 UTC, x3 until 23:37:16.000",
        "CPU throttled in 87% of periods",
    ]
    assert action["kind"] == "action" and action["title"].splitlines() == [
        "Action terminate: applied",
        "at 23:37:17.000 UTC, latency 3 s after the first violation",
        "3 violations",
    ]


def test_a_limit_far_above_the_data_is_named_not_drawn(sandbox_report: SandboxReport) -> None:
    charts = sandbox_charts(sandbox_report())
    memory, cpu = _chart(charts, "chart-memory"), _chart(charts, "chart-cpu")
    assert memory["limit"]["v"] is None and "limit 128 MiB (off the scale" in memory["limit"]["label"]
    assert memory["y"]["top"] < 2  # the scale fits the ~1 MiB used
    assert cpu["limit"] == {"v": 25.0, "label": "limit 25 %"} and cpu["y"]["top"] == 30.0
    sockets = _chart(charts, "chart-sockets")  # nothing used: the limit sets the scale
    assert sockets["limit"]["v"] == 10.0 and sockets["y"]["top"] >= 10


def test_counts_get_whole_gridlines(sandbox_report: SandboxReport) -> None:
    processes = _chart(sandbox_charts(sandbox_report(policy=None)), "chart-processes")
    assert processes["limit"] is None
    assert [label for _, label in processes["y"]["ticks"]] == ["0", "1", "2", "3", "4"]


def test_few_points_are_dots_with_tooltips_many_are_a_line(sandbox_report: SandboxReport) -> None:
    cpu = sandbox_charts(sandbox_report())[0]
    assert len(cpu["dots"]) == 9  # the first sample has no CPU rate yet
    assert cpu["dots"][0][2] == "23:37:11.000 UTC: 21 %"
    many = sandbox_charts(sandbox_report(samples=MAX_DOTS + 1))[0]
    assert "dots" not in many and len(many["points"]) == MAX_DOTS + 1


def test_a_long_life_gets_hours_on_its_axis(sandbox_report: SandboxReport) -> None:
    report = sandbox_report(samples=120, every_ms=60_000)
    x = sandbox_charts(report)[0]["x"]
    assert [label for _, label in x["ticks"]] == ["Nov 28 00:00", "00:30", "01:00", "01:30"]
    assert x["caption"] == "UTC, 2026-11-27 to 2026-11-28"


def test_no_samples_still_frames_the_markers(sandbox_report: SandboxReport) -> None:
    charts = sandbox_charts(sandbox_report(samples=0, activity={"first": T + 4000, "last": T + 7000}))
    assert charts[0]["points"] == [] and len(charts[0]["marks"]) == 2
    assert charts[0]["x"]["t0"] <= T + 4000 and charts[0]["x"]["t1"] >= T + 7000


def test_a_gap_is_three_sampling_intervals() -> None:
    assert gap_ms([0, 1000, 2000, 10_000]) == 3000
    assert gap_ms([5]) is None


def test_fleet_bars_one_chart_per_type_with_their_tooltips(
    fleet_report: Callable[..., dict[str, Any]],
) -> None:
    charts = fleet_charts(fleet_report())
    assert [c["title"] for c in charts] == ["Findings: permission_violation", "Findings: suspicious_activity"]
    perm = charts[0]
    assert perm["kind"] == "bars" and perm["unit"] == "per 1 s" and perm["bucket_ms"] == 1000
    [(t, n, title)] = perm["bars"]
    assert (t, n) == (T + 2000, 6) and title == "23:37:12 to 23:37:13 UTC: 6 findings (permission_violation)"
    for c in charts:
        assert all(c["x"]["t0"] <= t and t + c["bucket_ms"] <= c["x"]["t1"] for t, _, _ in c["bars"])
    assert [label for _, label in perm["x"]["ticks"]] == ["23:37:10", "23:37:12", "23:37:14", "23:37:16",
                                                          "23:37:18", "23:37:20"]  # fmt: skip
