"""The one percentile of the benchmarks, so that every p50, p95 and p99 in bench/ compares.

Method: linear interpolation between the closest ranks, over the sorted samples (Hyndman
and Fan's definition 7; numpy's default ``linear``, ``statistics.quantiles(...,
method="inclusive")``, Excel's PERCENTILE.INC). The q-th percentile of n samples sits at
rank ``(n - 1) * q / 100`` counted from 0; between two ranks it is weighted by the
fraction. So ``percentile(v, 50)`` is ``statistics.median(v)``, ``percentile(v, 0)`` the
minimum and ``percentile(v, 100)`` the maximum, and one sample is every percentile of
itself. Chosen over nearest rank because with the few dozen samples a latency benchmark
takes, nearest rank's p99 is simply the maximum and jumps from sample to sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0 <= q <= 100) of ``values``, linearly interpolated."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values: at least one sample is needed")
    if not 0 <= q <= 100:  # NaN fails this too
        raise ValueError(f"q={q}: a percentile is between 0 and 100")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    between = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return min(between, ordered[high])  # rounding must not carry it past the next sample
