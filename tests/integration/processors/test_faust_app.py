"""The Faust worker against the real broker: exact outputs, crash and restart, two workers,
dead letters, and the same outputs as the embedded runner."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import pytest

from processors.engine import ContainerState
from processors.pipeline import INPUT_TOPICS
from sandguard.bus import KafkaBus
from schemas import Record, decode
from schemas import topics as t
from tests.integration.processors.conftest import (
    OUTPUT_TOPICS,
    PARTITIONS,
    Worker,
    collect,
    normalise,
    publish,
    run_embedded,
    trickle,
    wait_for,
)
from tests.integration.processors.scenario import denied_stream, late_policy, metric_backlog, mixed

pytestmark = pytest.mark.slow


def _by_id(records: list[Record]) -> dict[str, set[bytes]]:
    """Every distinct content seen per id (one per id means no duplicate beyond identical ids)."""
    seen: dict[str, set[bytes]] = defaultdict(set)
    for r in records:
        i, _, body = normalise(r)
        seen[i].add(body)
    return seen


def _has(ids: set[str]) -> Callable[[list[Record]], bool]:
    return lambda got: ids <= {normalise(r)[0] for r in got}


async def test_mixed_stream_gives_exact_outputs_same_as_embedded(
    bus: KafkaBus, workers: Callable[..., Worker]
) -> None:
    phases = mixed()
    expected = await run_embedded(phases)
    want = _by_id(expected)
    rules = sorted((r.key, decode(r.topic, r.value).rule_id) for r in expected if r.topic == t.VIOLATIONS)
    assert ("A", "memory.level") in rules and ("A", "pids.limit_hit") in rules
    assert ("B", "process.reverse_shell") in rules and ("C", "limits.drift") in rules
    assert ("C", "process.not_allowed") in rules and ("C", "process.suspicious") in rules
    assert ("D", "memory.oom_kill") in rules and ("A", "command.denied") in rules
    actions = sorted((r.key, decode(r.topic, r.value).action.value, decode(r.topic, r.value).mode)
                     for r in expected if r.topic == t.ENFORCEMENT)  # fmt: skip
    assert actions == [("A", "terminate", "enforce"), ("B", "terminate", "audit"),
                       ("C", "reapply_limits", "enforce"), ("C", "throttle", "enforce")]  # fmt: skip

    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    worker = workers()
    done = 0
    for phase in phases:  # one topic at a time, as the embedded run saw them
        await publish(bus, phase)
        done += len(phase)
        await wait_for(lambda n=done: worker.events_in() >= n)  # type: ignore[misc]
    got = await collect(out, _has(set(want)))
    assert _by_id(got) == want  # same ids, same content, nothing else


async def test_a_policy_in_a_later_fetch_acts_on_the_violations_before_it(
    bus: KafkaBus, workers: Callable[..., Worker]
) -> None:
    """The samples are judged (under the default's threshold of 5) before the policy is
    even published; its arrival terminates the sandbox, once, the same as embedded."""
    samples, policy = late_policy("L")
    expected = await run_embedded([samples, policy])
    cmds = [decode(r.topic, r.value) for r in expected if r.topic == t.ENFORCEMENT]
    assert [(c.action.value, c.rule_ids) for c in cmds] == [("terminate", ("pids.limit_hit",))]
    assert "judged again when the policy arrived" in cmds[0].reason
    want = _by_id(expected)
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    worker = workers()
    await publish(bus, samples)
    await wait_for(lambda: worker.events_in() >= len(samples))  # judged: the policy comes later
    await publish(bus, policy)
    got = await collect(out, _has(set(want)))
    assert _by_id(got) == want


async def test_the_window_a_late_policy_judges_survives_a_new_worker(
    bus: KafkaBus, workers: Callable[..., Worker]
) -> None:
    """The samples' worker stops (offsets committed) and a worker with an empty data
    directory takes over: the violation it judges again comes from the changelogged state."""
    samples, policy = late_policy("L")
    want = _by_id(await run_embedded([samples, policy]))
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    first = workers("w1")
    await publish(bus, samples)
    before = await collect(out, lambda got: len(got) >= 1, quiet_s=1)  # the violation, by default
    await wait_for(lambda: first.events_in() >= len(samples))
    first.stop()
    second = workers("w2")
    await publish(bus, policy)
    after = await collect(out, lambda got: any(r.topic == t.ENFORCEMENT for r in got))
    assert [r.topic for r in before] == [t.VIOLATIONS]  # judged by the default: no command
    # The same ids and content as embedded; the new worker may re-send the first violation
    # (its outbox entry, delivered but not yet pruned in the changelogged state): same id.
    assert _by_id(before + after) == want
    assert [r.topic for r in after].count(t.ENFORCEMENT) == 1
    assert second.events_in() == len(policy)  # the samples were not delivered to it again


async def test_worker_killed_mid_stream_loses_nothing_and_invents_no_id(
    bus: KafkaBus, workers: Callable[..., Worker]
) -> None:
    stream = denied_stream(containers=40, per_container=12)
    want = _by_id(await run_embedded([stream]))
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")

    async def trickle() -> None:  # the stream keeps flowing while the worker dies and returns
        for i in range(20, len(stream), 20):
            await publish(bus, stream[i : i + 20])
            await asyncio.sleep(0.3)

    first = workers("w1")
    await publish(bus, stream[:20])
    await wait_for(lambda: first.events_in() >= 20)  # up and consuming
    feeding = asyncio.create_task(trickle())
    await wait_for(lambda: first.events_in() >= 80)
    first.kill()
    assert not feeding.done(), "the stream should still be flowing when the worker dies"
    second = workers("w1")  # same data directory: its store and the changelog are recovered
    await feeding
    got = await collect(out, _has(set(want)), quiet_s=5)
    await wait_for(lambda: second.events_in() > 0)
    seen = _by_id(got)
    assert set(seen) == set(want)
    assert seen == want  # any duplicate is byte-identical to the original (same id)


# Batches: a backlog of samples keeps every fetch full (hundreds of records per partition),
# 1,000 events every 0.2 s, so the stream still flows ~20 s after the first worker starts.
BACKLOG = {"containers": 200, "ticks": 500}
FEED_CHUNK, FEED_PAUSE_S = 1000, 0.2


async def test_worker_killed_inside_its_batches_loses_nothing_and_invents_no_id(
    bus: KafkaBus, workers: Callable[..., Worker]
) -> None:
    stream = metric_backlog(**BACKLOG)
    want = _by_id(await run_embedded([stream]))
    assert len(want) > 500  # violations and commands: enough to lose some
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    first = workers("w1")
    feeding = asyncio.create_task(trickle(bus, stream, chunk=FEED_CHUNK, pause_s=FEED_PAUSE_S))
    await wait_for(lambda: first.events_in() >= 10_000)  # deep in its batches
    first.kill()
    assert not feeding.done(), "the stream should still be flowing when the worker dies"
    second = workers("w1")  # same data directory: its store and the changelog are recovered
    await feeding
    got = await collect(out, _has(set(want)), quiet_s=5)
    assert _by_id(got) == want  # nothing lost; any duplicate is byte-identical (same id)
    await wait_for(lambda: second.events_in() > 0)


async def test_a_worker_joining_mid_stream_takes_over_partitions_mid_batches(
    bus: KafkaBus, workers: Callable[..., Worker]
) -> None:
    stream = metric_backlog(**BACKLOG)
    want = _by_id(await run_embedded([stream]))
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    owned = "sandguard_processor_assigned_partitions"
    w1 = workers("w1")
    feeding = asyncio.create_task(trickle(bus, stream, chunk=FEED_CHUNK, pause_s=FEED_PAUSE_S))
    await wait_for(lambda: w1.events_in() >= 10_000)
    w2 = workers("w2")  # the group rebalances while w1 is processing batches
    await wait_for(
        lambda: w2.metric(owned) > 0 and w1.metric(owned) + w2.metric(owned) == len(INPUT_TOPICS) * PARTITIONS
    )
    assert not feeding.done(), "the partitions should move while the stream still flows"
    await feeding
    got = await collect(out, _has(set(want)), quiet_s=5)
    assert _by_id(got) == want
    await wait_for(lambda: w2.events_in() > 0)
    assert w1.events_in() + w2.events_in() >= len(stream)


async def test_the_changelog_holds_each_containers_latest_state_in_its_partition(
    bus: KafkaBus, workers: Callable[..., Worker]
) -> None:
    """What a worker that takes over a partition recovers: batches write each state once,
    to the changelog partition of the container's events, the last write the newest."""
    stream = metric_backlog(containers=50, ticks=40)
    await publish(bus, stream)
    worker = workers()
    await wait_for(lambda: worker.events_in() >= len(stream))
    inputs = await bus.consumer([t.METRICS], group="inputs")
    last: dict[str, tuple[int, int]] = {}  # container -> (partition, offset) of its last event
    for rec in await collect(inputs, lambda got: len(got) >= len(stream), quiet_s=0):
        last[rec.key or ""] = (rec.partition, rec.offset)
    changelog = await bus.consumer(["sandguard-processor-states-changelog"], group="changelog")
    newest: dict[str, tuple[int, bytes | None]] = {}
    for rec in await collect(changelog, lambda got: len(got) >= len(last), quiet_s=3):
        newest[rec.key or ""] = (rec.partition, rec.value)
    assert set(newest) == set(last)
    for cid, (partition, value) in newest.items():
        assert value is not None
        state = ContainerState.from_bytes(value)
        assert (partition, state.offsets) == (last[cid][0], {f"{t.METRICS}/{partition}": last[cid][1]})


async def test_two_workers_split_the_partitions(bus: KafkaBus, workers: Callable[..., Worker]) -> None:
    stream = denied_stream(containers=60, per_container=6)
    want = _by_id(await run_embedded([stream]))
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    w1, w2 = workers("w1"), workers("w2")
    owned = "sandguard_processor_assigned_partitions"
    everything = len(INPUT_TOPICS) * PARTITIONS  # policies, metrics, processes, audit, kernel
    # Both in the group, sharing all the input partitions, before the events arrive.
    await wait_for(
        lambda: 0 < w1.metric(owned) < everything and w1.metric(owned) + w2.metric(owned) == everything
    )
    await publish(bus, stream)
    got = await collect(out, _has(set(want)))
    assert _by_id(got) == want
    await wait_for(lambda: w1.events_in() + w2.events_in() >= len(stream))
    assert w1.events_in() > 0 and w2.events_in() > 0


async def test_garbage_lands_in_the_dead_letter_topic(bus: KafkaBus, workers: Callable[..., Worker]) -> None:
    stream = denied_stream(containers=1, per_container=1)
    garbage = [(t.METRICS, "k000", b"\xff not json"), (t.AUDIT, "k000", b'{"kind":"audit"}')]
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    worker = workers()
    await publish(bus, garbage + stream)
    got = await collect(out, lambda g: len(g) >= 3, quiet_s=1)
    dead = [decode(t.DEADLETTER, r.value) for r in got if r.topic == t.DEADLETTER]
    assert sorted(d.source_topic for d in dead) == [t.AUDIT, t.METRICS]
    assert all(d.error and d.component == "processor" and d.key == "k000" for d in dead)
    assert [r.topic for r in got if r.topic == t.VIOLATIONS] == [t.VIOLATIONS]  # the worker went on
    assert worker.metric("sandguard_processor_deadletters_total") == 2
