"""Command handling decisions, on the in-package fake engine.

Every behaviour here is also checked against the real engine in
tests/integration/enforcer; the fake is what lets these run in milliseconds and what
produces the engine faults (errors mid-action, an engine that does not answer).
"""

from __future__ import annotations

import pytest

from common.retry import RetryPolicy
from enforcer import EngineUnavailableError, FakeDocker, Inbound, Ledger, Position
from enforcer import handler as handler_module
from enforcer.ledger import Done
from schemas import ActionOutcome, EnforcementAction, ResourceLimits, stable_id
from schemas.policy import MIB
from schemas.topics import ACTIONS, ENFORCEMENT
from tests.unit.enforcer.conftest import CommandFactory, HandlerFactory, StateFactory

A = EnforcementAction
R = ActionOutcome


def at(offset: int, partition: int = 0) -> Position:
    return Position(ENFORCEMENT, partition, offset)


async def test_commands_for_another_host_are_ignored(
    make_handler: HandlerFactory, make_command: CommandFactory, fake_docker: FakeDocker
) -> None:
    handler = make_handler()
    assert await handler.handle(Inbound(make_command(host="host-b"), at(0))) is None
    assert fake_docker.calls == []


@pytest.mark.parametrize(("claim", "acted"), [(False, False), (True, True)])
async def test_commands_without_host_are_acted_on_only_when_claimed(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    claim: bool,
    acted: bool,
) -> None:
    state = fake_docker.add(make_state())
    handled = await make_handler(claim_unassigned=claim).handle(
        Inbound(make_command(host="", container_id=state.id), at(0))
    )
    assert (handled is not None) is acted


async def test_throttle_is_applied_with_latency_and_a_stable_event_id(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state(cpu_quota_us=50_000))
    command = make_command(container_id=state.id, first_violation_time=1_000, time=4_000)
    handled = await make_handler(clock=lambda: 4_250).handle(Inbound(command, at(7)))
    assert handled is not None
    result = handled.result
    assert result.result is R.APPLIED
    assert fake_docker.containers[state.id].cpu_quota_us == 25_000
    assert result.latency_ms == 3_250
    assert result.details["command_to_action_ms"] == 250
    assert result.details["before"]["CpuQuota"] == 50_000
    assert result.details["plan"]["resources"] == {"CpuQuota": 25_000, "CpuPeriod": 100_000}
    assert result.event_id == stable_id(ACTIONS, command.command_id)
    assert (result.violation_ids, result.rule_ids, result.command_time) == (
        ("v-1",),
        ("cpu.throttled",),
        4_000,
    )
    assert handled.done is not None
    assert handled.done.position == at(7)


async def test_a_command_done_before_is_a_duplicate_and_does_not_act_again(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    ledger: Ledger,
) -> None:
    state = fake_docker.add(make_state(cpu_quota_us=40_000))
    command = make_command(container_id=state.id)
    handler = make_handler()
    first = await handler.handle(Inbound(command, at(1)))
    assert first is not None and first.done is not None
    await ledger.record_done([first.done], now=1)
    handler.begin_batch()
    again = await handler.handle(Inbound(command, at(9)))
    assert again is not None
    assert again.result.result is R.DUPLICATE
    assert again.result.details["original_event_id"] == first.result.event_id
    assert again.done is None
    assert again.result.latency_ms is None
    assert fake_docker.containers[state.id].cpu_quota_us == 20_000  # halved once, not twice
    assert [c for c, _ in fake_docker.calls].count("update") == 1


async def test_a_redelivery_of_the_same_record_is_silent(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    ledger: Ledger,
) -> None:
    state = fake_docker.add(make_state())
    command = make_command(container_id=state.id, action=A.PAUSE)
    handler = make_handler()
    first = await handler.handle(Inbound(command, at(3)))
    assert first is not None and first.done is not None
    await ledger.record_done([first.done], now=1)
    handler.begin_batch()
    assert await handler.handle(Inbound(command, at(3))) is None
    assert [c for c, _ in fake_docker.calls].count("pause") == 1


async def test_a_command_repeated_within_one_batch_is_a_duplicate(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state(cpu_quota_us=80_000))
    command = make_command(container_id=state.id)
    handler = make_handler()
    results = [await handler.handle(Inbound(command, at(i))) for i in range(3)]
    assert [r.result.result for r in results if r] == [R.APPLIED, R.DUPLICATE, R.DUPLICATE]
    assert fake_docker.containers[state.id].cpu_quota_us == 40_000
    ids = {r.result.event_id for r in results if r}
    assert len(ids) == 3  # each duplicate is its own event, stable for its position


@pytest.mark.parametrize("global_audit", [True, False])
async def test_audit_mode_records_what_would_be_done_and_does_nothing(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    global_audit: bool,
) -> None:
    state = fake_docker.add(make_state())
    mode = "enforce" if global_audit else "audit"
    command = make_command(container_id=state.id, action=A.TERMINATE, mode=mode)
    handled = await make_handler(audit_only=global_audit).handle(Inbound(command, at(0)))
    assert handled is not None
    assert handled.result.result is R.AUDIT_ONLY
    assert handled.result.details["would"] is True
    assert handled.result.details["plan"] == {"operation": "remove"}
    assert handled.result.details["mode"] == "audit"
    assert [c for c, _ in fake_docker.calls] == ["inspect"]
    assert state.id in fake_docker.containers


async def test_an_unknown_container_is_already_gone(
    make_handler: HandlerFactory, make_command: CommandFactory
) -> None:
    handled = await make_handler().handle(Inbound(make_command(action=A.TERMINATE), at(0)))
    assert handled is not None
    assert handled.result.result is R.ALREADY_GONE
    assert handled.result.reason == "no such container on this host"


async def test_pause_of_a_paused_container_is_applied_without_acting(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state(status="paused"))
    handled = await make_handler().handle(Inbound(make_command(container_id=state.id, action=A.PAUSE), at(0)))
    assert handled is not None
    assert (handled.result.result, handled.result.reason) == (R.APPLIED, "already paused")
    assert [c for c, _ in fake_docker.calls] == ["inspect"]


# --- crash windows: an intent was recorded before the crash ---------------------------


async def test_replay_after_a_crash_before_the_action_acts_once_from_the_recorded_plan(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    ledger: Ledger,
) -> None:
    state = fake_docker.add(make_state(cpu_quota_us=50_000))
    command = make_command(container_id=state.id)
    plan = {"operation": "update", "resources": {"CpuQuota": 25_000, "CpuPeriod": 100_000}}
    await ledger.record_intent(
        command.command_id, container_id=state.id, action="throttle", plan=plan, position=at(0), now=1
    )
    handled = await make_handler().handle(Inbound(command, at(0)))
    assert handled is not None
    assert handled.result.result is R.APPLIED
    assert handled.result.details["recovered"] is True
    assert fake_docker.containers[state.id].cpu_quota_us == 25_000


async def test_replay_after_a_crash_after_the_action_does_not_act_again(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    ledger: Ledger,
) -> None:
    # the throttle landed (quota 25 ms) but the result was never published
    state = fake_docker.add(make_state(cpu_quota_us=25_000))
    command = make_command(container_id=state.id)
    plan = {"operation": "update", "resources": {"CpuQuota": 25_000, "CpuPeriod": 100_000}}
    await ledger.record_intent(
        command.command_id, container_id=state.id, action="throttle", plan=plan, position=at(0), now=1
    )
    handled = await make_handler().handle(Inbound(command, at(0)))
    assert handled is not None
    assert (handled.result.result, handled.result.details["attempts"]) == (R.APPLIED, 0)
    assert fake_docker.containers[state.id].cpu_quota_us == 25_000  # not 12.5 ms
    assert "update" not in [c for c, _ in fake_docker.calls]


async def test_replay_of_a_removal_that_landed_is_applied_not_already_gone(
    make_handler: HandlerFactory, make_command: CommandFactory, ledger: Ledger
) -> None:
    command = make_command(action=A.TERMINATE)
    await ledger.record_intent(
        command.command_id,
        container_id=command.container_id,
        action="terminate",
        plan={"operation": "remove"},
        position=at(0),
        now=1,
    )
    handled = await make_handler().handle(Inbound(command, at(0)))
    assert handled is not None
    assert (handled.result.result, handled.result.details["recovered"]) == (R.APPLIED, True)


# --- engine faults the real engine cannot be made to produce on demand -----------------


async def test_a_transient_engine_error_is_retried(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state())
    fake_docker.fail("pause", status=500)
    handled = await make_handler().handle(Inbound(make_command(container_id=state.id, action=A.PAUSE), at(0)))
    assert handled is not None
    assert (handled.result.result, handled.result.details["attempts"]) == (R.APPLIED, 2)
    assert fake_docker.containers[state.id].status == "paused"


async def test_an_error_that_persists_fails_with_the_engine_reason(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state())
    for _ in range(3):
        fake_docker.fail("update", status=500, reason="cgroup write failed")
    handled = await make_handler().handle(Inbound(make_command(container_id=state.id), at(0)))
    assert handled is not None
    assert handled.result.result is R.FAILED
    assert "cgroup write failed" in handled.result.reason
    assert handled.result.details["attempts"] == 3


async def test_a_client_error_is_not_retried(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state())
    fake_docker.fail("update", status=400, reason="bad memory value")
    handled = await make_handler().handle(Inbound(make_command(container_id=state.id), at(0)))
    assert handled is not None
    assert (handled.result.result, handled.result.details["attempts"]) == (R.FAILED, 1)


@pytest.mark.parametrize("action", [A.PAUSE, A.TERMINATE])
async def test_an_error_after_the_effect_landed_counts_as_applied(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    action: EnforcementAction,
) -> None:
    state = fake_docker.add(make_state())
    fake_docker.fail("pause" if action is A.PAUSE else "remove", status=500, apply=True)
    handled = await make_handler().handle(Inbound(make_command(container_id=state.id, action=action), at(0)))
    assert handled is not None
    assert handled.result.result is R.APPLIED
    assert [c for c, _ in fake_docker.calls].count("pause" if action is A.PAUSE else "remove") == 1


async def test_an_unreachable_engine_is_waited_for(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handler_module, "DEPENDENCY", RetryPolicy(first_s=0.001, max_s=0.001))
    state = fake_docker.add(make_state())
    fake_docker.unavailable("inspect", times=2)
    fake_docker.unavailable("remove", times=1)
    handled = await make_handler().handle(
        Inbound(make_command(container_id=state.id, action=A.TERMINATE), at(0))
    )
    assert handled is not None
    assert handled.result.result is R.APPLIED
    assert state.id not in fake_docker.containers


async def test_an_unreachable_engine_while_stopping_abandons_the_command(
    make_command: CommandFactory, make_state: StateFactory, fake_docker: FakeDocker, ledger: Ledger
) -> None:
    from prometheus_client import CollectorRegistry

    from enforcer import CommandHandler, EnforcerMetrics, HandlerOptions

    state = fake_docker.add(make_state())
    fake_docker.unavailable("inspect")
    handler = CommandHandler(
        fake_docker,
        ledger,
        HandlerOptions(host="host-a"),
        EnforcerMetrics(CollectorRegistry()),
        stopping=lambda: True,
    )
    with pytest.raises(EngineUnavailableError):
        await handler.handle(Inbound(make_command(container_id=state.id), at(0)))
    assert await ledger.get("anything") is None


# --- refusals ---------------------------------------------------------------------------


async def test_a_container_without_the_required_label_is_refused(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state(labels={"com.example.db": "prod"}))
    handler = make_handler(required_labels={"sandguard.sandbox": None})
    handled = await handler.handle(Inbound(make_command(container_id=state.id, action=A.TERMINATE), at(0)))
    assert handled is not None
    assert handled.result.result is R.FAILED
    assert "not a sandguard sandbox" in handled.result.reason
    assert handled.result.details["refused"] is True
    assert state.id in fake_docker.containers
    assert [c for c, _ in fake_docker.calls] == ["inspect"]


async def test_a_reapply_that_would_relax_limits_is_refused_and_reported(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    """A 64 MiB sandbox judged under a 512 MiB default must keep its 64 MiB: the refusal is
    the event (a failed ActionResult with the reason), and the engine is never updated."""
    state = fake_docker.add(make_state(memory_bytes=64 * MIB, memory_swap_bytes=64 * MIB))
    loose = ResourceLimits(memory_mb=512, cpu_percent=50.0, max_processes=20)
    command = make_command(container_id=state.id, action=A.REAPPLY_LIMITS, limits=loose)
    handled = await make_handler().handle(Inbound(command, at(0)))
    assert handled is not None
    assert handled.result.result is R.FAILED
    assert handled.result.reason.startswith(
        "refused: would relax limits in force (Memory 67108864 -> 536870912"
    )
    assert handled.result.details["refused"] is True
    assert [c for c, _ in fake_docker.calls] == ["inspect"]


async def test_a_name_instead_of_an_id_is_refused_before_the_engine_is_asked(
    make_handler: HandlerFactory, make_command: CommandFactory, fake_docker: FakeDocker
) -> None:
    handled = await make_handler().handle(
        Inbound(make_command(container_id="kafka", action=A.TERMINATE), at(0))
    )
    assert handled is not None
    assert handled.result.result is R.FAILED
    assert fake_docker.calls == []


async def test_done_records_keep_the_plan_for_forensics(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    state = fake_docker.add(make_state())
    handled = await make_handler().handle(Inbound(make_command(container_id=state.id, action=A.PAUSE), at(5)))
    assert handled is not None
    assert handled.done == Done(
        handled.result.command_id,
        state.id,
        "pause",
        "applied",
        handled.result.event_id,
        at(5),
        {"operation": "pause"},
    )


@pytest.mark.parametrize("labels", [{}, {"sandguard.sandbox": "0"}, {"sandguard.sandboxes": "1"}])
async def test_by_default_only_sandguard_sandboxes_are_touched(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
    labels: dict[str, str],
) -> None:
    state = fake_docker.add(make_state(labels=labels))
    handled = await make_handler().handle(
        Inbound(make_command(container_id=state.id, action=A.TERMINATE), at(0))
    )
    assert handled is not None
    assert handled.result.result is R.FAILED
    assert "sandguard.sandbox=1" in handled.result.reason
    assert state.id in fake_docker.containers


async def test_the_same_command_id_in_two_lanes_acts_once(
    make_handler: HandlerFactory,
    make_command: CommandFactory,
    make_state: StateFactory,
    fake_docker: FakeDocker,
) -> None:
    import asyncio

    a, b = fake_docker.add(make_state()), fake_docker.add(make_state())
    first = make_command(container_id=a.id, action=A.PAUSE)
    forged = make_command(container_id=b.id, action=A.PAUSE, command_id=first.command_id)
    handler = make_handler()
    got = await asyncio.gather(handler.handle(Inbound(first, at(0))), handler.handle(Inbound(forged, at(1))))
    assert sorted(h.result.result for h in got if h) == [R.APPLIED, R.DUPLICATE]
    assert [op for op, _ in fake_docker.calls].count("pause") == 1
