"""Chart axes: the time domain a chart shows, its tick marks and labels, and nice value scales.

Pure arithmetic on epoch milliseconds (UTC), so the page's script only maps numbers to
pixels. A sandbox that lived ten seconds gets an axis of seconds, not the report's 24 h.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# Steps a reader can count in: every one divides the next larger unit evenly (up to a day),
# so ticks fall on round clock times.
NICE_STEPS_MS = (
    SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
    MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
    HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
    DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY,
)  # fmt: skip
# A sandbox seen for one instant still gets an axis a reader can place it on: 10 s.
MIN_SPAN_MS = 10 * SECOND
# Room on each side of the data so the first and last points are not on the frame: 3 %.
MARGIN_FRACTION = 0.03
# At most this many labelled ticks: 7 labels of ~70 px fit a ~600 px plot.
MAX_TICKS = 7
# Value axes get about four intervals (five gridlines), steps of 1, 2, 2.5 or 5 x 10^k.
VALUE_INTERVALS = 4
VALUE_MANTISSAS = (1.0, 2.0, 2.5, 5.0, 10.0)
# Headroom above the highest value or limit so neither is drawn on the top edge: 5 %.
HEADROOM = 1.05
MAX_DECIMALS = 6


def domain(extent: tuple[int, int] | None, since: int, until: int) -> tuple[int, int]:
    """The time span a chart shows: the data's ``extent`` plus a margin, inside the window.

    With no data it is the whole window. A short extent is widened around its middle to
    ``MIN_SPAN_MS`` (still inside the window when the window allows it).
    """
    if extent is None:
        return since, max(until, since + 1)
    first, last = max(extent[0], since), min(extent[1], until)
    if last < first:  # the data lies outside the window
        return since, max(until, since + 1)
    margin = (last - first) * MARGIN_FRACTION
    t0, t1 = max(since, math.floor(first - margin)), min(until, math.ceil(last + margin))
    return _widen(t0, t1, since, until)


def _widen(t0: int, t1: int, since: int, until: int) -> tuple[int, int]:
    missing = MIN_SPAN_MS - (t1 - t0)
    if missing <= 0:
        return t0, t1
    t0 = max(since, t0 - missing // 2)
    t1 = min(until, t0 + MIN_SPAN_MS)
    t0 = max(since, t1 - MIN_SPAN_MS)
    return (t0, t1) if t1 > t0 else (t0, t0 + MIN_SPAN_MS)


def nice_step(span_ms: int, max_count: int) -> int:
    """The smallest nice step that cuts ``span_ms`` into at most ``max_count`` pieces."""
    for step in NICE_STEPS_MS:
        if span_ms / step <= max_count:
            return step
    return math.ceil(span_ms / max_count / DAY) * DAY


def align(t0: int, t1: int, step: int) -> tuple[int, int]:
    """``[t0, t1]`` widened to whole multiples of ``step`` (buckets of a bar chart)."""
    return t0 // step * step, max(-(-t1 // step) * step, t0 // step * step + step)


def time_ticks(t0: int, t1: int, max_ticks: int = MAX_TICKS) -> list[tuple[int, str]]:
    """Ticks at round clock times inside ``[t0, t1]``, each with its label.

    Steps under a minute read ``HH:MM:SS``, under a day ``HH:MM``, longer ones the date;
    a tick that starts a new day names it (``Nov 28 00:00``).
    """
    step = nice_step(t1 - t0, max_ticks)
    first = -(-t0 // step) * step
    ticks: list[tuple[int, str]] = []
    previous_day = _day(t0)
    for t in range(first, t1 + 1, step):
        ticks.append((t, tick_label(t, step, new_day=_day(t) != previous_day)))
        previous_day = _day(t)
    return ticks


def tick_label(t: int, step: int, *, new_day: bool = False) -> str:
    d = datetime.fromtimestamp(t / 1000, UTC)
    if step >= DAY:
        return d.strftime("%b %d")
    clock = d.strftime("%H:%M:%S" if step < MINUTE else "%H:%M")
    return f"{d.strftime('%b %d')} {clock}" if new_day else clock


def caption(t0: int, t1: int) -> str:
    """The axis caption: the time zone and the date(s) the ticks leave out."""
    first, last = _day(t0), _day(t1)
    return f"UTC, {first}" if first == last else f"UTC, {first} to {last}"


def _day(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d")


def value_axis(values: Iterable[float | None], intervals: int = VALUE_INTERVALS) -> tuple[float, list[float]]:
    """A scale from 0 that holds every value: (top, gridline values), at round numbers."""
    vmax = max((v for v in values if v is not None and math.isfinite(v)), default=0.0)
    if vmax <= 0:
        return 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]
    step = _value_step(vmax * HEADROOM / intervals)
    count = math.ceil(vmax * HEADROOM / step - 1e-9)
    grid = [round(i * step, 10) for i in range(count + 1)]  # 3 x 0.2 is 0.6, not 0.6000000000000001
    return grid[-1], grid


def _value_step(raw: float) -> float:
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in VALUE_MANTISSAS if m * magnitude >= raw * (1 - 1e-9))


def value_label(v: float, step: float) -> str:
    """``v`` with as many decimals as the gridline ``step`` needs, thousands separated."""
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    while decimals < MAX_DECIMALS and not math.isclose(round(step, decimals), step):
        decimals += 1
    return f"{v:,.{decimals}f}"


# Series: the raw 1 Hz samples while the span is short, the per-minute rollup beyond.
# 30 min at 1 Hz is 1,800 samples: every one of them stays a point (at most 2,000).
RAW_MAX_SPAN_MS = 30 * MINUTE
MAX_SERIES_POINTS = 2000


def series_step(span_ms: int) -> tuple[str, int]:
    """Where a chart's series comes from and its bucket: ("raw", ms) or ("rollup", whole minutes in ms).

    Raw buckets are ``span / MAX_SERIES_POINTS`` wide, so 1 Hz samples each keep their own
    point and denser sampling is averaged (peaks kept) into at most 2,000 points.
    """
    if span_ms <= RAW_MAX_SPAN_MS:
        return "raw", max(1, math.ceil(span_ms / MAX_SERIES_POINTS))
    return "rollup", max(1, math.ceil(span_ms / MINUTE / MAX_SERIES_POINTS)) * MINUTE
