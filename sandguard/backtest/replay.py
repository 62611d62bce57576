"""The stored history through the engine, per sandbox in event-time order, as if a policy
had been in force.

The same ``processors.engine.step`` as the live processor, fed the same events, with the
same policy contexts; ``now`` is left to the engine (a finding's ``detected_time`` is
then its sample time), and no id depends on it. Around the engine, what the live
wrappers do is done here too: a policy tombstone closes what is still open, and a
sandbox idle for an hour of event time is closed and forgotten (``processors.runner``).

Memory stays bounded: sandboxes are read in groups of at most ``MAX_SPAN_ROWS`` samples,
a sandbox with more in time slices, and each group's states go when it is done.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from processors.engine import ContainerState, PolicyContext, close, step
from processors.runner import IDLE_EVICT_MS
from sandguard.backtest.gaps import SampleGaps
from sandguard.backtest.policies import Policies, as_if
from sandguard.backtest.readers import READERS, Item, Span, TableReader
from sandguard.backtest.selection import RecordedSandbox
from schemas import EnforcementCommand, LimitsSample, MetricSample, Store, Violation

# ~200,000 samples per read: ~60 MB of rows and events at a time, one read per table.
MAX_SPAN_ROWS = 200_000
_POLICY, _TOMBSTONE = -1, 9  # ranks: a policy applies before its millisecond's events
_COUNTS = """
SELECT container_id, count() FROM metrics
WHERE container_id IN {ids:Array(String)}
  AND time >= fromUnixTimestamp64Milli({lo:Int64}) AND time <= fromUnixTimestamp64Milli({hi:Int64})
GROUP BY container_id"""
_ORDER = itemgetter(0, 1, 2)


@dataclass(slots=True)
class Outcome:
    """What the engine emitted (from ``since`` on), per sandbox, and what it read."""

    violations: dict[str, list[Violation]] = field(default_factory=dict)
    commands: dict[str, list[EnforcementCommand]] = field(default_factory=dict)
    events: int = 0
    by_table: dict[str, int] = field(default_factory=dict)
    gaps: SampleGaps = field(default_factory=SampleGaps)


class _Tombstone:
    """The policy tombstone of a destroyed sandbox, as a marker among its events."""


TOMBSTONE = _Tombstone()


def replay(
    store: Store,
    boxes: Sequence[RecordedSandbox],
    policies: Policies,
    *,
    since: int,
    until: int,
    warmup_ms: int = 0,
    readers: Sequence[TableReader] = READERS,
) -> Outcome:
    """Runs the window ``[since, until]`` (read from ``since - warmup_ms``, so windows that
    began before it are warm) and keeps the outputs stamped from ``since`` on."""
    with _no_gc():
        return _replay(
            store, boxes, policies, since=since, until=until, lo=since - warmup_ms, readers=readers
        )


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """A replay makes ~3 objects per event, hundreds of thousands at a time, none cyclic:
    the cycle collector's passes over them doubled the replay time (measured), and the
    reference counts free them anyway."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _replay(
    store: Store, boxes: Sequence[RecordedSandbox], policies: Policies, *, since: int, until: int, lo: int,
    readers: Sequence[TableReader],
) -> Outcome:  # fmt: skip
    out = Outcome()
    by_id = {sb.container_id: sb for sb in boxes}
    live: dict[str, _Box] = {}
    for span in spans(store, [sb.container_id for sb in boxes], lo, until):
        items = _read(store, span, readers, out)
        items += _markers(span, by_id, policies)
        items.sort(key=_ORDER)
        _run(items, live, by_id, policies, out.gaps)
        if span.hi >= until:  # the sandboxes' last span: their outputs out, their states gone
            for cid in span.ids:
                _collect(live.pop(cid, None), cid, out, since)
    return out


def _collect(box: _Box | None, cid: str, out: Outcome, since: int) -> None:
    out.violations[cid] = [v for v in box.violations if v.time >= since] if box else []
    out.commands[cid] = [c for c in box.commands if c.time >= since] if box else []


def spans(store: Store, ids: list[str], lo: int, hi: int) -> Iterator[Span]:
    """Groups of sandboxes of at most MAX_SPAN_ROWS samples; a bigger one in time slices."""
    counts = {str(c): int(n) for c, n in store.query(_COUNTS, {"ids": ids, "lo": lo, "hi": hi})}
    group: list[str] = []
    rows = 0
    for cid in ids:
        n = counts.get(cid, 0)
        if group and rows + n > MAX_SPAN_ROWS:
            yield Span(tuple(group), lo, hi)
            group, rows = [], 0
        if n > MAX_SPAN_ROWS:
            yield from _slices(cid, lo, hi, math.ceil(n / MAX_SPAN_ROWS))
            continue
        group.append(cid)
        rows += n
    if group:
        yield Span(tuple(group), lo, hi)


def _slices(cid: str, lo: int, hi: int, n: int) -> Iterator[Span]:
    step_ms = (hi - lo) // n + 1
    for start in range(lo, hi + 1, step_ms):
        yield Span((cid,), start, min(hi, start + step_ms - 1))


def _read(store: Store, span: Span, readers: Sequence[TableReader], out: Outcome) -> list[Item]:
    items: list[Item] = []
    for r in readers:
        got = r.read(store, span)
        out.by_table[r.table] = out.by_table.get(r.table, 0) + len(got)
        items += got
    out.events += len(items)
    return items


def _markers(span: Span, by_id: dict[str, RecordedSandbox], policies: Policies) -> list[Item]:
    """Policy switches and tombstones of the span's sandboxes that fall inside it."""
    items: list[Item] = []
    for cid in span.ids:
        sb = by_id[cid]
        for t, ctx in policies.timeline(sb)[1:]:
            if span.lo <= t <= span.hi:
                items.append((cid, t, _POLICY, ctx))
        if sb.destroyed is not None and span.lo <= sb.destroyed <= span.hi:
            items.append((cid, sb.destroyed, _TOMBSTONE, TOMBSTONE))
    return items


@dataclass(slots=True)
class _Box:
    """One sandbox while its events go through the engine."""

    sandbox: RecordedSandbox
    ctx: PolicyContext
    state: ContainerState | None = None
    violations: list[Violation] = field(default_factory=list)
    commands: list[EnforcementCommand] = field(default_factory=list)


def _start(sb: RecordedSandbox, policies: Policies, t: int) -> _Box:
    ctx = policies.timeline(sb)[0][1]
    if policies.recorded:
        ctx = policies.recorded_at(sb, t)
    return _Box(sb, ctx)


def _run(
    items: list[Item],
    boxes: dict[str, _Box],
    by_id: dict[str, RecordedSandbox],
    policies: Policies,
    gaps: SampleGaps,
) -> None:
    box: _Box | None = None
    for cid, t, rank, ev in items:
        if box is None or box.sandbox.container_id != cid:
            box = boxes.get(cid) or boxes.setdefault(cid, _start(by_id[cid], policies, t))
        if type(ev) is MetricSample:
            gaps.sample(cid, t)
        elif rank == _POLICY:
            box.ctx = ev
            continue
        elif ev is TOMBSTONE:
            _retire(box)
            continue
        state = box.state
        if state is not None and t - state.last_time > IDLE_EVICT_MS:
            _retire(box)
        if type(ev) is LimitsSample and not policies.recorded:
            r = step(box.state, box.ctx, _limits_as_if(ev, box, policies))
        else:
            r = step(box.state, box.ctx, ev)
        box.state = r.state
        if r.violations:
            box.violations += r.violations
        if r.commands:
            box.commands += r.commands


def _retire(box: _Box) -> None:
    if box.state is not None:
        box.violations += close(box.state, box.ctx, box.state.last_time)
        box.state = None


def _limits_as_if(ev: Any, box: _Box, policies: Policies) -> LimitsSample:
    factor = box.state.cpu_factor if box.state is not None else 1.0
    return as_if(ev, policies.recorded_at(box.sandbox, ev.time), box.ctx, factor)
