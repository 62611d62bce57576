"""Chart axes: the domain follows the data, ticks fall on round times, values on round numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting.timeaxis import (
    DAY,
    HOUR,
    MAX_TICKS,
    MIN_SPAN_MS,
    MINUTE,
    SECOND,
    align,
    caption,
    domain,
    nice_step,
    series_step,
    time_ticks,
    value_axis,
    value_label,
)

# 2026-11-27 23:37:00 UTC
T = int(datetime(2026, 11, 27, 23, 37, tzinfo=UTC).timestamp() * 1000)
WINDOW = (T - DAY, T + HOUR)


def test_the_domain_follows_a_short_life_not_the_window() -> None:
    t0, t1 = domain((T, T + 30 * SECOND), *WINDOW)
    assert T - 2 * SECOND < t0 < T and T + 30 * SECOND < t1 < T + 32 * SECOND


def test_a_life_of_an_instant_still_gets_a_readable_span_around_it() -> None:
    t0, t1 = domain((T, T), *WINDOW)
    assert t1 - t0 == MIN_SPAN_MS and t0 < T < t1


def test_the_domain_stays_inside_the_window() -> None:
    since, until = T, T + 5 * SECOND
    assert domain((T - MINUTE, T + MINUTE), since, until) == (since, until)
    t0, t1 = domain((T, T + SECOND), T, T + HOUR)  # widened, but only forwards from the window start
    assert t0 == T and t1 == T + MIN_SPAN_MS


def test_without_data_the_domain_is_the_window() -> None:
    assert domain(None, *WINDOW) == WINDOW
    assert domain((T - 3 * DAY, T - 2 * DAY), *WINDOW) == WINDOW  # data outside the window


@given(
    st.integers(0, 10 * DAY),
    st.integers(0, 10 * DAY),
    st.integers(0, 3 * DAY),
)
def test_the_domain_always_holds_the_data_inside_the_window(a: int, b: int, lead: int) -> None:
    first, last = T + min(a, b), T + max(a, b)
    since, until = T - lead, T + 10 * DAY
    t0, t1 = domain((first, last), since, until)
    assert since <= t0 <= first and last <= t1 <= until and t1 - t0 >= min(MIN_SPAN_MS, until - since)


@pytest.mark.parametrize(
    ("span", "step"),
    [(10 * SECOND, 2 * SECOND), (40 * SECOND, 10 * SECOND), (5 * MINUTE, MINUTE), (2 * HOUR, 30 * MINUTE),
     (DAY, 6 * HOUR), (3 * DAY, 12 * HOUR), (30 * DAY, 7 * DAY)],
)  # fmt: skip
def test_nice_steps_give_at_most_the_ticks_asked(span: int, step: int) -> None:
    assert nice_step(span, MAX_TICKS) == step


def test_bar_buckets_are_aligned_outwards() -> None:
    assert align(T + 1500, T + 4200, SECOND) == (T + 1000, T + 5000)
    assert align(T, T, MINUTE) == (T, T + MINUTE)  # never empty


def test_ticks_of_a_short_span_read_seconds_and_differ() -> None:
    ticks = time_ticks(T + 500, T + 10_500)
    assert [label for _, label in ticks] == ["23:37:02", "23:37:04", "23:37:06", "23:37:08", "23:37:10"]
    assert all(T + 500 <= t <= T + 10_500 for t, _ in ticks)


def test_ticks_of_hours_read_clock_times_and_name_a_new_day() -> None:
    ticks = time_ticks(T - 6 * HOUR, T + 3 * HOUR)
    labels = [label for _, label in ticks]
    assert labels == ["18:00", "20:00", "22:00", "Nov 28 00:00", "02:00"]


def test_ticks_of_days_read_dates() -> None:
    labels = [label for _, label in time_ticks(T - 10 * DAY, T)]
    assert labels == ["Nov 19", "Nov 21", "Nov 23", "Nov 25", "Nov 27"]


def test_the_caption_names_the_zone_and_the_dates() -> None:
    assert caption(T, T + MINUTE) == "UTC, 2026-11-27"
    assert caption(T, T + HOUR) == "UTC, 2026-11-27 to 2026-11-28"


@pytest.mark.parametrize(
    ("values", "top", "grid"),
    [([22.9, 25.0], 30.0, [0, 10, 20, 30]), ([1.0], 1.5, [0, 0.5, 1.0, 1.5]),
     ([128.0], 150.0, [0, 50, 100, 150]), ([3, None], 4.0, [0, 1, 2, 3, 4]),
     ([], 1.0, [0, 0.25, 0.5, 0.75, 1.0])],
)  # fmt: skip
def test_value_axes_end_on_a_round_number_above_the_highest_value(
    values: list[float | None], top: float, grid: list[float]
) -> None:
    assert value_axis(values) == (top, grid)


@given(st.floats(0.001, 1e9))
def test_a_value_axis_always_holds_the_value_with_few_gridlines(v: float) -> None:
    top, grid = value_axis([v])
    assert v < top and 3 <= len(grid) <= 6 and grid[0] == 0 and grid[-1] == top


def test_value_labels_carry_the_decimals_the_step_needs() -> None:
    assert [value_label(v, 0.25) for v in (0, 0.25, 1.5)] == ["0.00", "0.25", "1.50"]
    assert value_label(7.5, 2.5) == "7.5" and value_label(2000, 500) == "2,000"


def test_short_spans_read_raw_samples_and_long_ones_the_rollup() -> None:
    assert series_step(10 * SECOND) == ("raw", 5)  # every 1 Hz sample its own point
    assert series_step(30 * MINUTE) == ("raw", 900)  # 1,800 samples, each still alone
    assert series_step(DAY) == ("rollup", MINUTE)
    assert series_step(7 * DAY) == ("rollup", 6 * MINUTE)  # at most 2,000 points
