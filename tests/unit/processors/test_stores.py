"""The stores' trusted caches: no read on a hit, what changed underneath seen after
``invalidate()`` only, held writes visible before the flush, bounded caches."""

from __future__ import annotations

import pytest

import processors.stores as stores_module
from processors.engine import ContainerState
from processors.stores import PolicyStore, StateStore
from schemas import PolicyEvent, encode
from schemas.policy import policy_from_dict
from tests.unit.processors.conftest import make_policy


class _CountingReads(dict[str, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.reads += 1
        return super().get(key, default)


def _state(cid: str, last_time: int) -> ContainerState:
    state = ContainerState(container_id=cid)
    state.last_time = last_time
    return state


def test_a_cached_state_costs_no_read() -> None:
    data = _CountingReads()
    store = StateStore(data)
    store.put("a", _state("a", 1))
    before = data.reads
    for _ in range(5):
        assert store.get("a") is not None
    assert data.reads == before


def test_a_state_written_underneath_is_seen_after_invalidate_only() -> None:
    data: dict[str, bytes] = {}
    store = StateStore(data)
    store.put("a", _state("a", 1))
    data["a"] = _state("a", 2).to_bytes()  # recovery brought another worker's state
    assert store.get("a").last_time == 1  # type: ignore[union-attr]
    store.invalidate()
    assert store.get("a").last_time == 2  # type: ignore[union-attr]


def test_held_writes_are_read_back_and_written_once_at_flush() -> None:
    data: dict[str, bytes] = {}
    store = StateStore(data)
    store.begin()
    first = _state("a", 1)
    store.put("a", first)
    assert store.get("a") is first and data == {}
    first.last_time = 3
    store.put("a", first)
    store.flush()
    assert ContainerState.from_bytes(data["a"]).last_time == 3


def test_forget_inside_a_batch_falls_back_to_the_stored_state() -> None:
    data: dict[str, bytes] = {}
    store = StateStore(data)
    store.put("a", _state("a", 1))
    store.begin()
    held = store.get("a")
    assert held is not None
    held.last_time = 99  # a step that failed half-way
    store.forget("a")
    assert store.get("a").last_time == 1  # type: ignore[union-attr]
    store.flush()
    assert ContainerState.from_bytes(data["a"]).last_time == 1


def test_the_state_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stores_module, "CACHE_SIZE", 2)
    data = _CountingReads()
    store = StateStore(data)
    for i in range(3):
        store.put(f"c{i}", _state(f"c{i}", i))
    before = data.reads
    assert store.get("c0").last_time == 0  # type: ignore[union-attr]  # evicted: read again
    assert data.reads == before + 1


def _policy_event(cid: str, name: str) -> tuple[bytes, PolicyEvent]:
    pol = make_policy(name=name)
    ev = PolicyEvent(container_id=cid, policy_id=pol.policy_id, policy=pol)
    return encode(ev), ev


def test_a_policy_written_underneath_is_seen_after_invalidate_only() -> None:
    data: dict[str, bytes] = {}
    store = PolicyStore(data, make_policy(name="fallback"))
    assert store.get("a").policy.name == "fallback"
    # A container with no policy is looked up each time: a policy recovered underneath
    # replaces its own-limits judgement at once (fail closed, never stale).
    data["a"] = _policy_event("a", "strict")[0]
    assert store.get("a").policy.name == "strict"
    data["a"] = _policy_event("a", "other")[0]
    assert store.get("a").policy.name == "strict"  # a known policy is cached until invalidate
    store.invalidate()
    assert store.get("a").policy.name == "other"


def test_policy_writes_and_deletes_go_through_the_cache() -> None:
    data: dict[str, bytes] = {}
    store = PolicyStore(data, make_policy(name="fallback"))
    assert store.get("a").policy.name == "fallback"
    store.put("a", *_policy_event("a", "strict"))
    assert store.get("a").policy.name == "strict" and "a" in data
    store.delete("a")
    assert store.get("a").policy.name == "fallback" and data == {}


def test_a_stored_policy_from_a_bigger_host_is_read_back() -> None:
    """The CPU bound was checked where the policy was loaded, not on the processor's host."""
    big = policy_from_dict({"resource_limits": {"cpu_percent": 6400}}, host_cpus=64)
    data = {"a": encode(PolicyEvent(container_id="a", policy_id=big.policy_id, policy=big))}
    store = PolicyStore(data, make_policy(name="fallback"))
    assert store.get("a").policy.cpu_percent == 6400
