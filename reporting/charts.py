"""Chart specifications for the page's script: every axis, tick, label and tooltip decided here.

The script (report_charts.js) only maps these numbers to pixels, so what a chart shows
is plain Python, unit-tested: the time domain follows the data (a sandbox that lived
ten seconds gets an axis of seconds), values sit on round gridlines, and every marker
carries a tooltip saying what it was.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from reporting import formats as f
from reporting.timeaxis import caption, domain, time_ticks, value_axis, value_label

# Up to this many points a series also shows each as a dot with its own tooltip (a
# one-minute sandbox at 1 Hz): 60 dots on a ~570 px plot are 9 px apart; more would merge.
MAX_DOTS = 60
# A limit this many times above the highest value would flatten the data against the
# axis (1 MiB used of 128 MiB): the scale then fits the data and the limit is named above it.
OFF_SCALE = 8
# A hole of more than 3 sampling intervals is a gap in the line (the sandbox was paused,
# the collector down), not a slope between two distant samples.
GAP_INTERVALS = 3


class Metric(NamedTuple):
    chart_id: str
    title: str
    axis_unit: str  # after the title
    unit: str  # after a value
    key: str  # in the report's series
    scale: float  # series value -> charted value
    limit_key: str  # in the policy's resource_limits
    decimals: int  # of the values in tooltips


METRICS = (
    Metric("chart-cpu", "CPU", "% of one CPU", "%", "cpu_percent", 1.0, "cpu_percent", 1),
    Metric("chart-memory", "Memory", "MiB", "MiB", "memory_peak_bytes", 1 / f.MB, "memory_mb", 1),
    Metric("chart-processes", "Processes", "", "processes", "processes_peak", 1.0, "max_processes", 0),
    Metric("chart-sockets", "Network connections", "", "connections", "connections_peak", 1.0,
           "max_network_connections", 0),
)  # fmt: skip


def sandbox_charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One line chart per resource, on a shared time axis that follows the sandbox's activity."""
    series = report["series"]
    window = report["window"]
    times = [p["t"] for p in series]
    activity = report.get("activity") or {}
    extent = _span([*times, activity.get("first"), activity.get("last")])
    # A rollup point stands at its minute's start, which may precede the window: keep it.
    t0, t1 = domain(extent, min([window["since"], *times]), window["until"])
    x = x_axis(t0, t1)
    marks = [m for m in _marks(report) if t0 <= m["t"] <= t1]
    limits = ((report.get("policy") or {}).get("resource_limits")) or {}
    return [_line_chart(m, series, x, marks, limits.get(m.limit_key)) for m in METRICS]


def fleet_charts(fleet: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings first seen per bucket, one bar chart per violation type, on one shared axis."""
    over = fleet["violations_over_time"]
    bucket = over["bucket_ms"]
    x = x_axis(over["since"], over["until"])
    by_type: dict[str, list[tuple[int, int]]] = {}
    for p in over["points"]:
        by_type.setdefault(p["violation_type"], []).append((p["t"], p["findings"]))
    return [
        _bar_chart(f"chart-fleet-{i}", vtype, by_type[vtype], x, bucket)
        for i, vtype in enumerate(sorted(by_type))
    ]


def x_axis(t0: int, t1: int) -> dict[str, Any]:
    return {"t0": t0, "t1": t1, "ticks": time_ticks(t0, t1), "caption": caption(t0, t1)}


def _span(times: Iterable[int | None]) -> tuple[int, int] | None:
    known = [t for t in times if t is not None]
    return (min(known), max(known)) if known else None


def _y_axis(values: Sequence[float | None], *, integers: bool = False) -> dict[str, Any]:
    top, grid = value_axis(values)
    if integers and top < 4:  # counts: gridlines at whole numbers only
        top, grid = 4.0, [0.0, 1.0, 2.0, 3.0, 4.0]
    step = grid[1] - grid[0]
    return {"top": top, "ticks": [(v, value_label(v, step)) for v in grid]}


def _line_chart(
    m: Metric, series: list[dict[str, Any]], x: dict[str, Any], marks: list[dict[str, Any]], limit: Any
) -> dict[str, Any]:
    points = [(p["t"], None if p[m.key] is None else p[m.key] * m.scale) for p in series]
    values = [v for _, v in points if v is not None]
    spec: dict[str, Any] = {
        "id": m.chart_id, "host": "charts-sandbox", "kind": "line", "title": m.title, "unit": m.axis_unit,
        "x": x, "points": points, "gap_ms": gap_ms([t for t, v in points if v is not None]), "marks": marks,
    }  # fmt: skip
    spec.update(_limit(m, values, float(limit) if limit else None))
    if len(points) <= MAX_DOTS:
        spec["dots"] = [(t, v, f"{f.clock_ms(t)} UTC: {f.number(v, m.decimals)} {m.unit}")
                        for t, v in points if v is not None]  # fmt: skip
    return spec


def _limit(m: Metric, values: list[float], limit: float | None) -> dict[str, Any]:
    """The value axis and the policy limit: drawn as a line, or named when far off the scale."""
    label = f"limit {f.number(limit, m.decimals)} {m.unit}"
    peak = max(values, default=0.0)
    if limit is None:
        return {"y": _y_axis(values, integers=m.decimals == 0), "limit": None}
    if peak > 0 and limit > OFF_SCALE * peak:
        off = f"{label} (off the scale: the peak is {f.number(peak, m.decimals)} {m.unit})"
        return {"y": _y_axis(values, integers=m.decimals == 0), "limit": {"v": None, "label": off}}
    return {"y": _y_axis([*values, limit], integers=m.decimals == 0), "limit": {"v": limit, "label": label}}


def _bar_chart(
    chart_id: str, vtype: str, counts: list[tuple[int, int]], x: dict[str, Any], bucket: int
) -> dict[str, Any]:
    def title(t: int, n: int) -> str:
        span = f"{f.clock_ms(t)[:8]} to {f.clock_ms(t + bucket)[:8]} UTC"
        return f"{span}: {f.count(n)} finding{'s' if n != 1 else ''} ({vtype})"

    return {
        "id": chart_id, "host": "charts-fleet", "kind": "bars", "title": f"Findings: {vtype}",
        "unit": f"per {f.duration(bucket)}", "x": x, "y": _y_axis([n for _, n in counts], integers=True),
        "bars": [(t, n, title(t, n)) for t, n in counts], "bucket_ms": bucket, "marks": [], "limit": None,
    }  # fmt: skip


def gap_ms(times: Sequence[int]) -> int | None:
    """The spacing beyond which two consecutive points are not joined by the line."""
    if len(times) < 2:
        return None
    spacing = statistics.median(b - a for a, b in itertools.pairwise(times))
    return int(max(spacing, 1) * GAP_INTERVALS)


def _marks(report: dict[str, Any]) -> list[dict[str, Any]]:
    violations = [
        {"t": v["first_seen"], "kind": "violation", "severity": v["severity"], "title": _violation_title(v)}
        for v in report["violations"]
    ]
    actions = [{"t": a["time_ms"], "kind": "action", "title": _action_title(a)} for a in report["actions"]]
    return sorted(violations + actions, key=lambda m: m["t"])


def _violation_title(v: dict[str, Any]) -> str:
    times = f"first seen {f.clock_ms(v['first_seen'])} UTC"
    if v["count"] > 1:
        times += f", x{f.count(v['count'])} until {f.clock_ms(v['last_seen'])}"
    lines = [f"Violation {v['rule_id']} ({v['severity']})", times, v.get("message") or v.get("title") or ""]
    return "\n".join(line for line in lines if line)


def _action_title(a: dict[str, Any]) -> str:
    lines = [
        f"Action {a['action']}: {a['result']}",
        f"at {f.clock_ms(a['time_ms'])} UTC, latency {f.duration(a['latency_ms'])} after the first violation",
        a.get("reason") or "",
    ]
    return "\n".join(line for line in lines if line)
