"""Time, injected: a monotonic clock for intervals and rates, wall time for event stamps."""

from __future__ import annotations

import time
from typing import Protocol

from schemas.events import now_ms


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time_ms(self) -> int: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time_ms(self) -> int:
        return now_ms()


def next_tick(first: float, interval: float, now: float) -> tuple[int, float]:
    """The next tick at or after ``now`` on the grid first + k × interval: (k, its time).

    A pass that overran skips the ticks it missed instead of bursting to catch up.
    """
    if now <= first:
        return 0, first
    k = int((now - first) // interval) + 1
    return k, first + k * interval
