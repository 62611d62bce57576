"""The embedded runner over the in-process bus."""

from __future__ import annotations

import pytest

from processors.runner import ProcessorRunner, RunnerStateError
from sandguard.bus import LocalBus
from schemas import PolicyEvent, decode, encode
from schemas import topics as t
from tests.unit.processors.conftest import audit, make_policy, metric


async def _drain(runner: ProcessorRunner) -> None:
    while await runner.run_once(timeout_ms=10):
        pass


async def test_runner_publishes_violations_and_commands() -> None:
    bus = LocalBus()
    await bus.start()
    out = await bus.consumer([t.VIOLATIONS, t.ENFORCEMENT], group="observer")
    runner = ProcessorRunner(
        bus, default_policy=make_policy(auto_terminate_on_violation=True, violation_threshold=2)
    )
    await runner.start(background=False)
    for i in range(2):
        await bus.publish(
            t.METRICS, "c1", encode(metric(i + 1, container_id="c1", memory_oom_kills_total=i + 1))
        )
    await _drain(runner)
    recs = await out.getmany(timeout_ms=100)
    assert [r.topic for r in recs] == [t.VIOLATIONS, t.VIOLATIONS, t.ENFORCEMENT]  # create, update, command
    assert decode(t.VIOLATIONS, recs[1].value).disposition.value == "terminated"
    assert decode(t.ENFORCEMENT, recs[2].value).action.value == "terminate"
    assert runner.metrics.value("sandguard_processor_outputs_total", {"topic": t.ENFORCEMENT}) == 1
    await runner.stop()
    await bus.stop()


async def test_lifecycle_misuse_is_a_clear_error() -> None:
    runner = ProcessorRunner(LocalBus())
    with pytest.raises(RunnerStateError):
        await runner.run_once()
    await runner.stop()
    with pytest.raises(RunnerStateError):
        await runner.start()


async def test_state_stays_bounded_with_many_containers_coming_and_going() -> None:
    bus = LocalBus(queue_size=100_000)
    await bus.start()
    runner = ProcessorRunner(bus, idle_evict_ms=60_000)
    await runner.start(background=False)
    pol = make_policy()
    for i in range(1500):
        cid = f"c{i}"
        await bus.publish(
            t.POLICIES, cid, encode(PolicyEvent(container_id=cid, policy_id=pol.policy_id, policy=pol))
        )
        await bus.publish(t.METRICS, cid, encode(metric(i, container_id=cid, memory_oom_kills_total=1)))
        if i % 3:  # two in three are destroyed properly ...
            gone = audit(i + 1, "lifecycle", "destroy").model_copy(update={"container_id": cid})
            await bus.publish(t.AUDIT, cid, encode(gone))
            await bus.publish(t.POLICIES, cid, None)
    await _drain(runner)
    assert len(runner.states) == 500 and len(runner.policies) == 500
    runner.evict_idle(before_ms=10**9)  # ... the others vanished: idle eviction closes and drops them
    assert runner.states == {} and runner.policies == {}
    assert runner.metrics.value("sandguard_processor_containers") == 0
    await runner.stop()
    await bus.stop()
