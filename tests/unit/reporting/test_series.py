"""Raw-sample series in the rollup's shape."""

from __future__ import annotations

from typing import Any

from reporting.reports import raw_series


def _row(t: int, low: int, high: int) -> dict[str, Any]:
    return {"t": t, "cpu_percent_avg": 12.5, "throttled_min": low, "throttled_max": high}


def test_throttled_periods_become_deltas_between_points() -> None:
    rows = [_row(1000, 5, 5), _row(2000, 9, 9), _row(3000, 9, 20)]
    assert [p["throttled_periods"] for p in raw_series(rows)] == [0, 4, 11]
    assert raw_series(rows)[0] == {"t": 1000, "cpu_percent": 12.5, "throttled_periods": 0}


def test_a_counter_that_restarted_counts_from_its_new_start() -> None:
    rows = [_row(1000, 50, 50), _row(2000, 0, 3)]
    assert [p["throttled_periods"] for p in raw_series(rows)] == [0, 3]
