"""Gaps in the history: stretches where the collector saw nothing of a sandbox, shown as
gaps and not as quiet time (a backtest cannot say what a rule would have found there).

Two sources: samples of a live sandbox missing for more than ``GAP_INTERVALS`` sampling
intervals (the collector was down, stalled or cut off), and the collector's own audit
events (``dropped``: events it had to drop; ``stop`` to the next ``start`` on a host).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from schemas import Store

# More than 5 missing samples in a row is a gap: a busy host delays a sample by a
# fraction of an interval, never by five (at 1 Hz: 5 s without a sample).
GAP_INTERVALS = 5
# The sampling interval assumed until two samples of a sandbox show it (the default 1 s).
DEFAULT_INTERVAL_MS = 1000
# Intervals shorter than this are a restart's double sample, not the sampling rate.
MIN_INTERVAL_MS = 100
RECENT = 9

_COLLECTOR = """
SELECT toUnixTimestamp64Milli(time), host, action, details FROM audit FINAL
WHERE container_id = '' AND category = 'collector'
  AND time >= fromUnixTimestamp64Milli({lo:Int64}) AND time <= fromUnixTimestamp64Milli({hi:Int64})
ORDER BY time, event_id"""


@dataclass(frozen=True, slots=True)
class Gap:
    container_id: str  # "" for a whole host
    start: int
    end: int
    kind: str  # missing_samples, dropped_events, collector_down
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SampleGaps:
    """Watches each sandbox's metric sample times for missing samples; the sampling
    interval is the median of its last ``RECENT`` ordinary steps (a late sample and the
    early one after it cancel out)."""

    __slots__ = ("_interval", "_last", "_steps", "gaps")

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._steps: dict[str, deque[int]] = {}
        self._interval: dict[str, int] = {}
        self.gaps: list[Gap] = []

    def sample(self, cid: str, t: int) -> None:
        last = self._last.get(cid)
        self._last[cid] = t
        if last is None or t <= last:
            return
        step = t - last
        interval = self._interval.get(cid, DEFAULT_INTERVAL_MS)
        if step > GAP_INTERVALS * interval:
            missing = step // interval - 1
            self.gaps.append(Gap(cid, last, t, "missing_samples", f"about {missing} samples missing"))
        elif step >= MIN_INTERVAL_MS:
            steps = self._steps.get(cid)
            if steps is None:
                steps = self._steps[cid] = deque(maxlen=RECENT)
            steps.append(step)
            # The median again only when this step is off by a fifth (most samples are on time).
            if len(steps) < RECENT or abs(step - interval) * 5 > interval:
                self._interval[cid] = sorted(steps)[len(steps) // 2]


def collector_gaps(store: Store, lo: int, hi: int, ids: set[str], hosts: set[str]) -> list[Gap]:
    """Drops and downtime the collectors of ``hosts`` reported, for the sandboxes ``ids``."""
    out: list[Gap] = []
    down: dict[str, int] = {}
    for t, host, action, details in store.query(_COLLECTOR, {"lo": lo, "hi": hi}):
        if host not in hosts:
            continue
        if action == "stop":
            down[host] = t
        elif action == "start" and host in down:
            out.append(Gap("", down.pop(host), t, "collector_down", f"collector on {host} stopped"))
        elif action == "dropped":
            out += _drops(t, host, orjson.loads(details or "{}"), ids)
    out += [Gap("", t, hi, "collector_down", f"collector on {h} stopped") for h, t in down.items()]
    return out


def _drops(t: int, host: str, d: dict[str, Any], ids: set[str]) -> list[Gap]:
    first, last = int(d.get("first_drop_ms") or t), int(d.get("last_drop_ms") or t)
    what = f"{d.get('dropped', '?')} events dropped by the collector on {host}"
    hit = [c for c in d.get("containers", ()) if c in ids]
    return [Gap(c, first, last, "dropped_events", what) for c in hit]
