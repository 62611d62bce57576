"""State: serialisation round-trip, versioning, bounds."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from processors.engine import ContainerState
from processors.engine.state import MAX_JUDGED, MAX_WINDOW_SAMPLES
from processors.exceptions import StateVersionError
from schemas import SocketCounts
from tests.unit.processors.conftest import MIB, Feed, audit, metric, proc, snapshot


def _busy(f: Feed) -> None:
    f(
        metric(0, memory_working_set_bytes=900 * MIB, cpu_periods_total=0),
        metric(1, memory_working_set_bytes=900 * MIB, cpu_periods_total=10, cpu_throttled_periods_total=9),
        metric(2, memory_working_set_bytes=900 * MIB, pids_max_events_total=3, sockets=SocketCounts(tcp=50)),
        snapshot(3, proc(5, "nc", "nc", "-l", exe="/bin/nc")),
        audit(4, "exec", "exec", "sudo x", allowed=False),
    )


def test_roundtrip_keeps_everything_and_behaves_the_same(feed: Callable[..., Feed]) -> None:
    a = feed(violation_threshold=3, escalation_response="throttle")
    _busy(a)
    assert a.state is not None and a.state.findings and a.state.levels and a.commands
    raw = a.state.to_bytes()
    restored = ContainerState.from_bytes(raw)
    assert restored == a.state
    assert restored.to_bytes() == raw
    b = feed(violation_threshold=3, escalation_response="throttle")
    b.state = restored
    nxt = [metric(5 + i, memory_working_set_bytes=900 * MIB, memory_oom_kills_total=i) for i in range(70)]
    a(*nxt)
    b(*nxt)
    assert a.violations[-len(b.violations) :] == b.violations and b.violations
    assert a.state == b.state


def test_unknown_version_is_refused(feed: Callable[..., Feed]) -> None:
    f = feed()
    _busy(f)
    assert f.state is not None
    doc = orjson.loads(f.state.to_bytes())
    doc["v"] = 99
    with pytest.raises(StateVersionError) as err:
        ContainerState.from_bytes(orjson.dumps(doc))
    assert (err.value.found, err.value.expected) == (99, 1)


def test_state_stays_bounded_over_a_long_misbehaving_life(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"window_seconds": 3600, "min_samples": 1000})
    over = {"memory_working_set_bytes": 900 * MIB, "pids_current": 999, "open_fds": 99_999}
    f(*(metric(i, cpu_periods_total=i * 10, cpu_throttled_periods_total=i, **over) for i in range(3000)))
    f(*(snapshot(3000 + i, proc(i, f"p{i}", f"p{i}"), full=False) for i in range(2000)))
    f(*(audit(5000 + i, "exec", "exec", f"cmd{i}", allowed=False) for i in range(500)))
    s = f.state
    assert s is not None
    assert len(s.levels) <= MAX_WINDOW_SAMPLES and len(s.throttle) <= MAX_WINDOW_SAMPLES
    assert len(s.judged) <= MAX_JUDGED and len(s.findings) <= 64
    assert len(s.to_bytes()) < 256 * 1024
