"""The Enforcer's batch cycle on the in-process bus: act, publish, flush, mark, commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from common.retry import DELIVERY, RetryPolicy
from enforcer import (
    Enforcer,
    EnforcerStateError,
    FakeDocker,
    ResultPublishError,
    group_for,
)
from enforcer import service as service_module
from sandguard.bus import LocalBus
from schemas import ActionOutcome, ActionResult, Bus, Consumer, DeadLetter, EnforcementAction, decode, encode
from schemas.topics import ACTIONS, DEADLETTER, ENFORCEMENT
from tests.unit.enforcer.conftest import HOST, CommandFactory, StateFactory

A = EnforcementAction
R = ActionOutcome


async def collect(consumer: Consumer, topic: str, n: int, timeout_s: float = 5.0) -> list[Any]:
    out: list[Any] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(out) < n and asyncio.get_running_loop().time() < deadline:
        out += [decode(topic, r.value) for r in await consumer.getmany(timeout_ms=100)]
    return out


@pytest.fixture
async def bus() -> AsyncIterator[LocalBus]:
    b = LocalBus()
    await b.start()
    yield b
    await b.stop()


EnforcerFactory = Callable[..., Enforcer]


@pytest.fixture
def make_enforcer(tmp_path: Path, fake_docker: FakeDocker) -> EnforcerFactory:
    def make(bus: Bus, **options: Any) -> Enforcer:
        opts: dict[str, Any] = {"host": HOST, "state_dir": tmp_path, "registry": CollectorRegistry()}
        opts.update(options)
        return Enforcer(bus, fake_docker, **opts)

    return make


async def test_commands_in_results_out_in_order_per_container(
    bus: LocalBus,
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    a, b = fake_docker.add(make_state()), fake_docker.add(make_state())
    results = await bus.consumer([ACTIONS], group="test")
    commands = [
        make_command(container_id=a.id, action=A.PAUSE),
        make_command(container_id=b.id, action=A.THROTTLE),
        make_command(container_id=a.id, action=A.UNPAUSE),
        make_command(container_id=a.id, action=A.TERMINATE, keep_filesystem=True),
    ]
    async with make_enforcer(bus):
        for c in commands:
            await bus.publish(ENFORCEMENT, c.container_id, encode(c))
        got: list[ActionResult] = await collect(results, ACTIONS, 4)
    by_id = {r.command_id: r for r in got}
    assert [by_id[c.command_id].result for c in commands] == [R.APPLIED] * 4
    a_ops = [op for op, cid in fake_docker.calls if cid == a.id and op != "inspect"]
    assert a_ops == ["pause", "unpause", "stop"]
    assert fake_docker.containers[a.id].status == "exited"
    assert fake_docker.containers[b.id].cpu_quota_us == 25_000


async def test_malformed_commands_go_to_the_dead_letter_topic(
    bus: LocalBus, make_enforcer: EnforcerFactory
) -> None:
    letters = await bus.consumer([DEADLETTER], group="test")
    enforcer = make_enforcer(bus)
    async with enforcer:
        await bus.publish(ENFORCEMENT, "c1", b'{"kind": "command", "action": "explode"}')
        got: list[DeadLetter] = await collect(letters, DEADLETTER, 1)
    assert got[0].component == "enforcer"
    assert got[0].source_topic == ENFORCEMENT
    assert "explode" in got[0].value
    assert got[0].error
    assert enforcer.registry.get_sample_value("sandguard_enforcer_dead_letters_total") == 1


async def test_other_hosts_commands_are_counted_not_answered(
    bus: LocalBus, make_enforcer: EnforcerFactory, make_command: CommandFactory, fake_docker: FakeDocker
) -> None:
    results = await bus.consumer([ACTIONS], group="test")
    enforcer = make_enforcer(bus)
    async with enforcer:
        for _ in range(3):
            c = make_command(host="host-b", action=A.TERMINATE)
            await bus.publish(ENFORCEMENT, c.container_id, encode(c))
        assert await collect(results, ACTIONS, 1, timeout_s=0.5) == []
    sample = enforcer.registry.get_sample_value
    assert sample("sandguard_enforcer_commands_ignored_total", {"reason": "other_host"}) == 3
    assert fake_docker.calls == []


async def test_the_group_is_per_host(bus: LocalBus, make_enforcer: EnforcerFactory) -> None:
    assert make_enforcer(bus).group == group_for(HOST) == f"sandguard-enforcer.{HOST}"
    assert make_enforcer(bus, host="host-b").group != group_for(HOST)


class _Counting:
    """The consumer's commits, observed (the LocalBus consumer keeps no history)."""

    def __init__(self, inner: Consumer) -> None:
        self.inner = inner
        self.commits = 0

    async def getmany(self, *, timeout_ms: int = 1000, max_records: int = 500) -> Any:
        return await self.inner.getmany(timeout_ms=timeout_ms, max_records=max_records)

    async def getmany_batches(self, *, timeout_ms: int = 1000, max_records: int = 500) -> Any:
        return await self.inner.getmany_batches(timeout_ms=timeout_ms, max_records=max_records)

    async def commit(self) -> None:
        self.commits += 1
        await self.inner.commit()

    async def stop(self) -> None:
        await self.inner.stop()


class _UndeliverableBus:
    """A bus whose deliveries fail (a broker that stays unreachable), over LocalBus."""

    def __init__(self, inner: LocalBus) -> None:
        self.inner = inner
        self.flushes = 0
        self.published: list[str] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
        self.published.append(topic)

    async def flush(self) -> None:
        self.flushes += 1
        raise ConnectionError("broker unreachable")

    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        return await self.inner.consumer(topics, group=group, from_beginning=from_beginning)


async def test_undelivered_results_are_republished_then_nothing_is_committed(
    bus: LocalBus,
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = RetryPolicy(first_s=0.001, max_s=0.001, attempts=DELIVERY.attempts)
    monkeypatch.setattr(service_module, "DELIVERY", fast)
    state = fake_docker.add(make_state())
    command = make_command(container_id=state.id, action=A.PAUSE)
    failing = _UndeliverableBus(bus)
    enforcer = make_enforcer(failing)
    await enforcer.ledger.open()
    consumer = _Counting(await bus.consumer([ENFORCEMENT], group="g"))
    await bus.publish(ENFORCEMENT, state.id, encode(command))
    records = await consumer.getmany(timeout_ms=500)
    with pytest.raises(ResultPublishError) as info:
        await enforcer.process(records, consumer)
    assert info.value.count == 1
    assert failing.flushes == fast.attempts == 5
    assert failing.published.count(ACTIONS) == fast.attempts  # first + 4 republishes
    assert consumer.commits == 0
    entry = await enforcer.ledger.get(command.command_id)
    assert entry is not None
    assert entry.status == "intent"  # acted, but not done: a replay re-checks and reports
    await enforcer.ledger.close()


async def test_a_batch_is_committed_after_results_and_ledger(
    bus: LocalBus,
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state())
    command = make_command(container_id=state.id, action=A.PAUSE)
    enforcer = make_enforcer(bus)
    await enforcer.ledger.open()
    consumer = _Counting(await bus.consumer([ENFORCEMENT], group="g"))
    await bus.publish(ENFORCEMENT, state.id, encode(command))
    handled = await enforcer.process(await consumer.getmany(timeout_ms=500), consumer)
    assert [h.result.result for h in handled] == [R.APPLIED]
    assert consumer.commits == 1
    entry = await enforcer.ledger.get(command.command_id)
    assert entry is not None
    assert (entry.status, entry.outcome) == ("done", "applied")
    await enforcer.ledger.close()


async def test_lifecycle_misuse_is_a_clear_error(bus: LocalBus, make_enforcer: EnforcerFactory) -> None:
    enforcer = make_enforcer(bus)
    with pytest.raises(EnforcerStateError, match="cannot stop an enforcer that is new"):
        await enforcer.stop()
    with pytest.raises(EnforcerStateError, match="wait for"):
        await enforcer.wait()
    await enforcer.start()
    with pytest.raises(EnforcerStateError, match="cannot start an enforcer that is running"):
        await enforcer.start()
    await enforcer.stop()
    await enforcer.stop()  # idempotent once started
    assert enforcer.state == "stopped"


async def test_constructor_checks_its_options(bus: LocalBus, make_enforcer: EnforcerFactory) -> None:
    with pytest.raises(ValueError, match="host"):
        make_enforcer(bus, host="")
    with pytest.raises(ValueError, match="concurrency"):
        make_enforcer(bus, concurrency=0)


async def test_a_stop_while_the_engine_is_away_leaves_the_batch_for_the_next_start(
    bus: LocalBus,
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state())
    fake_docker.unavailable("inspect", times=1000)
    enforcer = make_enforcer(bus)
    await enforcer.start()
    command = make_command(container_id=state.id, action=A.PAUSE)
    await bus.publish(ENFORCEMENT, state.id, encode(command))
    for _ in range(100):  # until the enforcer is waiting for the engine
        if enforcer.registry.get_sample_value(
            "sandguard_enforcer_errors_total", {"kind": "engine_unavailable"}
        ):
            break
        await asyncio.sleep(0.01)
    await enforcer.stop()
    assert enforcer.state == "stopped"
    assert fake_docker.containers[state.id].status == "running"
    reopened = make_enforcer(bus)
    await reopened.ledger.open()
    assert await reopened.ledger.get(command.command_id) is None  # nothing recorded as done
    await reopened.ledger.close()


class _CommitFails(_Counting):
    """A commit refused once (a rebalance under way), then accepted."""

    async def commit(self) -> None:
        self.commits += 1
        if self.commits == 1:
            raise RuntimeError("CommitFailedError: group rebalancing")
        await self.inner.commit()


async def test_a_failed_commit_is_counted_and_the_next_one_carries_the_offsets(
    bus: LocalBus,
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state())
    enforcer = make_enforcer(bus)
    await enforcer.ledger.open()
    consumer = _CommitFails(await bus.consumer([ENFORCEMENT], group="g"))
    for action in (A.PAUSE, A.UNPAUSE):
        await bus.publish(ENFORCEMENT, state.id, encode(make_command(container_id=state.id, action=action)))
        handled = await enforcer.process(await consumer.getmany(timeout_ms=500), consumer)
        assert [h.result.result for h in handled] == [R.APPLIED]
    assert consumer.commits == 2
    assert enforcer.registry.get_sample_value("sandguard_enforcer_errors_total", {"kind": "commit"}) == 1
    await enforcer.ledger.close()


class _NoConsumerBus(_UndeliverableBus):
    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        raise ConnectionError("broker unreachable")


async def test_a_start_that_cannot_join_the_group_fails_cleanly(
    bus: LocalBus, make_enforcer: EnforcerFactory
) -> None:
    enforcer = make_enforcer(_NoConsumerBus(bus))
    with pytest.raises(ConnectionError):
        await enforcer.start()
    assert enforcer.state == "failed"
    with pytest.raises(EnforcerStateError):
        await enforcer.start()
