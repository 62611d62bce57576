"""Plans: what each command means for a container in a given state (pure, no engine)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enforcer import (
    ContainerOperation,
    InvalidCommandError,
    NotASandboxError,
    ObservedContainer,
    Plan,
    plan_action,
)
from enforcer.exceptions import RelaxRefusedError
from enforcer.plans import (
    check_container_id,
    check_identity,
    check_labels,
    effect_holds,
    in_force,
    limits_resources,
    throttle_resources,
)
from schemas import EnforcementAction, ResourceLimits
from schemas.policy import MIB, MIN_CPU_QUOTA_US
from tests.unit.enforcer.conftest import CommandFactory, StateFactory

A = EnforcementAction


# --- throttle arithmetic ------------------------------------------------------------


def test_throttle_halves_the_quota_in_force(make_state: StateFactory) -> None:
    state = make_state(cpu_quota_us=50_000, cpu_period_us=100_000)
    assert throttle_resources(state, 0.5, floor_percent=1, unlimited_percent=200) == {
        "CpuQuota": 25_000,
        "CpuPeriod": 100_000,
    }


def test_throttle_is_relative_to_the_quota_in_force_not_the_policy(make_state: StateFactory) -> None:
    already = make_state(cpu_quota_us=12_500)
    assert throttle_resources(already, 0.5, floor_percent=1, unlimited_percent=50)["CpuQuota"] == 6_250


def test_throttle_keeps_a_custom_period(make_state: StateFactory) -> None:
    state = make_state(cpu_quota_us=40_000, cpu_period_us=200_000)
    assert throttle_resources(state, 0.25, floor_percent=1, unlimited_percent=100) == {
        "CpuQuota": 10_000,
        "CpuPeriod": 200_000,
    }


def test_throttle_of_an_unlimited_container_starts_from_the_policy(make_state: StateFactory) -> None:
    state = make_state(cpu_quota_us=0, cpu_period_us=0)
    # policy 50 % of one CPU at the default 100 ms period = 50 ms; halved = 25 ms
    assert throttle_resources(state, 0.5, floor_percent=1, unlimited_percent=50) == {
        "CpuQuota": 25_000,
        "CpuPeriod": 100_000,
    }


def test_throttle_stops_at_the_floor(make_state: StateFactory) -> None:
    state = make_state(cpu_quota_us=1_500)
    assert throttle_resources(state, 0.5, floor_percent=1, unlimited_percent=100)["CpuQuota"] == 1_000
    # a floor above the kernel minimum is honoured
    state = make_state(cpu_quota_us=8_000)
    assert throttle_resources(state, 0.5, floor_percent=5, unlimited_percent=100)["CpuQuota"] == 5_000


def test_throttle_never_raises_a_quota_already_under_the_floor(make_state: StateFactory) -> None:
    state = make_state(cpu_quota_us=2_000)
    assert throttle_resources(state, 0.5, floor_percent=10, unlimited_percent=100)["CpuQuota"] == 2_000


def test_throttle_uses_nano_cpus_when_the_container_was_created_with_them(make_state: StateFactory) -> None:
    # Docker refuses CpuQuota on a container created with --cpus: stay in NanoCpus.
    state = make_state(nano_cpus=500_000_000, cpu_quota_us=0, cpu_period_us=0)
    assert throttle_resources(state, 0.5, floor_percent=1, unlimited_percent=100) == {"NanoCpus": 250_000_000}
    low = make_state(nano_cpus=15_000_000, cpu_quota_us=0, cpu_period_us=0)
    assert throttle_resources(low, 0.5, floor_percent=1, unlimited_percent=100) == {"NanoCpus": 10_000_000}


@given(
    quota=st.integers(MIN_CPU_QUOTA_US, 10_000_000),
    period=st.sampled_from([0, 10_000, 100_000, 1_000_000]),
    factor=st.floats(0.01, 0.99),
    floor=st.floats(0.1, 50),
)
def test_throttle_never_raises_and_never_goes_under_the_kernel_minimum(
    quota: int, period: int, factor: float, floor: float
) -> None:
    state = ObservedContainer(id="c" * 64, cpu_quota_us=quota, cpu_period_us=period)
    new = throttle_resources(state, factor, floor_percent=floor, unlimited_percent=100)["CpuQuota"]
    assert new <= quota
    assert new >= min(quota, MIN_CPU_QUOTA_US)


# --- limits -------------------------------------------------------------------------


def test_limits_set_memory_swap_equal_to_memory_and_pids(make_state: StateFactory) -> None:
    limits = ResourceLimits(memory_mb=128, cpu_percent=25.0, max_processes=30)
    assert limits_resources(limits, make_state(cpu_period_us=0)) == {
        "Memory": 128 * MIB,
        "MemorySwap": 128 * MIB,
        "PidsLimit": 30,
        "CpuQuota": 25_000,
        "CpuPeriod": 100_000,
    }


def test_limits_in_nano_cpus_for_a_container_created_with_them(make_state: StateFactory) -> None:
    limits = ResourceLimits(memory_mb=64, cpu_percent=150.0, max_processes=10)
    out = limits_resources(limits, make_state(nano_cpus=2_000_000_000, cpu_quota_us=0))
    assert out["NanoCpus"] == 1_500_000_000
    assert "CpuQuota" not in out


def test_in_force_treats_an_unset_period_as_the_default(make_state: StateFactory) -> None:
    state = make_state(cpu_quota_us=25_000, cpu_period_us=0)
    assert in_force(state, {"CpuQuota": 25_000, "CpuPeriod": 100_000})
    assert not in_force(state, {"CpuQuota": 12_500, "CpuPeriod": 100_000})


# --- plans per action and state -----------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status", "keep", "operation", "gone"),
    [
        (A.TERMINATE, "running", False, ContainerOperation.REMOVE, False),
        (A.TERMINATE, "paused", False, ContainerOperation.REMOVE, False),
        (A.TERMINATE, "exited", False, ContainerOperation.REMOVE, False),
        (A.TERMINATE, "running", True, ContainerOperation.STOP, False),
        (A.TERMINATE, "paused", True, ContainerOperation.STOP, False),
        (A.TERMINATE, "exited", True, ContainerOperation.NONE, True),
        (A.PAUSE, "running", False, ContainerOperation.PAUSE, False),
        (A.PAUSE, "paused", False, ContainerOperation.NONE, False),
        (A.PAUSE, "exited", False, ContainerOperation.NONE, True),
        (A.UNPAUSE, "paused", False, ContainerOperation.UNPAUSE, False),
        (A.UNPAUSE, "running", False, ContainerOperation.NONE, False),
        (A.THROTTLE, "running", False, ContainerOperation.UPDATE, False),
        (A.THROTTLE, "paused", False, ContainerOperation.UPDATE, False),
        (A.THROTTLE, "dead", False, ContainerOperation.NONE, True),
        (A.REAPPLY_LIMITS, "running", False, ContainerOperation.UPDATE, False),
        (A.REAPPLY_LIMITS, "created", False, ContainerOperation.NONE, True),
    ],
)
def test_plan_per_action_and_state(
    make_command: CommandFactory,
    make_state: StateFactory,
    action: EnforcementAction,
    status: str,
    keep: bool,
    operation: ContainerOperation,
    gone: bool,
) -> None:
    state = make_state(status=status, cpu_quota_us=80_000)
    plan = plan_action(make_command(action=action, keep_filesystem=keep), state)
    assert (plan.operation, plan.gone) == (operation, gone)


def test_reapply_limits_already_in_force_is_a_noop(
    make_command: CommandFactory, make_state: StateFactory
) -> None:
    limits = ResourceLimits(memory_mb=64, cpu_percent=50.0, max_processes=20)
    state = make_state(cpu_quota_us=50_000, memory_bytes=64 * MIB, memory_swap_bytes=64 * MIB, pids_limit=20)
    plan = plan_action(make_command(action=A.REAPPLY_LIMITS, limits=limits), state)
    assert plan.operation is ContainerOperation.NONE
    assert plan.note == "limits already in force"


def test_throttle_without_a_factor_uses_the_policy_default(
    make_command: CommandFactory, make_state: StateFactory
) -> None:
    plan = plan_action(make_command(throttle_factor=None), make_state(cpu_quota_us=40_000))
    assert plan.resources["CpuQuota"] == 20_000


@pytest.mark.parametrize("factor", [0.0, 1.0, 1.5, -0.5])
def test_throttle_factor_out_of_range_is_refused(
    make_command: CommandFactory, make_state: StateFactory, factor: float
) -> None:
    with pytest.raises(InvalidCommandError, match="throttle_factor"):
        plan_action(make_command(throttle_factor=factor), make_state())


def test_reapply_without_limits_is_refused(make_command: CommandFactory, make_state: StateFactory) -> None:
    with pytest.raises(InvalidCommandError, match="needs limits"):
        plan_action(make_command(action=A.REAPPLY_LIMITS, limits=None), make_state())


def test_plan_round_trips_through_the_ledger_form() -> None:
    plan = Plan(ContainerOperation.UPDATE, {"CpuQuota": 25_000, "CpuPeriod": 100_000}, note="x")
    assert Plan.from_dict(plan.to_dict()) == plan


def test_effect_holds_per_operation(make_state: StateFactory) -> None:
    running, paused, exited = make_state(), make_state(status="paused"), make_state(status="exited")
    assert effect_holds(Plan(ContainerOperation.PAUSE), paused) and not effect_holds(
        Plan(ContainerOperation.PAUSE), running
    )
    assert effect_holds(Plan(ContainerOperation.UNPAUSE), running) and not effect_holds(
        Plan(ContainerOperation.UNPAUSE), paused
    )
    assert effect_holds(Plan(ContainerOperation.STOP), exited) and not effect_holds(
        Plan(ContainerOperation.STOP), paused
    )
    # a removal holds only when the container is gone, which inspect reports as not found
    assert not effect_holds(Plan(ContainerOperation.REMOVE), exited)


# --- adversarial: which container is acted on ---------------------------------------


@pytest.mark.parametrize("target", ["kafka", "sandguard-broker", "../../images", "ABCDEF123456", "abc", ""])
def test_names_and_non_ids_are_refused(make_command: CommandFactory, target: str) -> None:
    with pytest.raises(InvalidCommandError, match="not a name"):
        check_container_id(make_command(container_id=target))


def test_an_id_prefix_resolved_to_another_container_is_refused(
    make_command: CommandFactory, make_state: StateFactory
) -> None:
    command = make_command(container_id="a" * 12)
    with pytest.raises(InvalidCommandError, match="another container"):
        check_identity(command, make_state(id="b" * 64))
    check_identity(command, make_state(id="a" * 64))


def test_required_labels_guard_the_containers_we_may_touch(make_state: StateFactory) -> None:
    state = make_state(labels={"sandguard.sandbox": "1", "team": "x"})
    check_labels(state, {"sandguard.sandbox": None})
    check_labels(state, {"sandguard.sandbox": "1"})
    with pytest.raises(NotASandboxError) as info:
        check_labels(state, {"sandguard.sandbox": "no", "sandguard.run": None})
    assert info.value.missing == {"sandguard.sandbox": "no", "sandguard.run": None}


@pytest.mark.parametrize(
    ("limits", "looser"),
    [
        (ResourceLimits(memory_mb=512, cpu_percent=50.0, max_processes=20), {"Memory", "MemorySwap"}),
        (ResourceLimits(memory_mb=64, cpu_percent=90.0, max_processes=20), {"CpuQuota"}),
        (ResourceLimits(memory_mb=64, cpu_percent=50.0, max_processes=100), {"PidsLimit"}),
    ],
)
def test_reapply_that_would_relax_a_limit_is_refused(
    make_command: CommandFactory, make_state: StateFactory, limits: ResourceLimits, looser: set[str]
) -> None:
    """An unknown or stale policy must never raise a sandbox's limits (64 MiB -> 512 MiB was seen)."""
    state = make_state(cpu_quota_us=50_000, memory_bytes=64 * MIB, memory_swap_bytes=64 * MIB, pids_limit=20)
    with pytest.raises(RelaxRefusedError, match="refused: would relax") as caught:
        plan_action(make_command(action=A.REAPPLY_LIMITS, limits=limits), state)
    assert set(caught.value.looser) == looser


def test_reapply_tightens_a_container_with_no_limits(
    make_command: CommandFactory, make_state: StateFactory
) -> None:
    state = make_state(cpu_quota_us=0, memory_bytes=0, memory_swap_bytes=0, pids_limit=0)
    plan = plan_action(make_command(action=A.REAPPLY_LIMITS), state)
    assert plan.operation is ContainerOperation.UPDATE
    assert plan.resources["Memory"] == 64 * MIB


def test_reapply_with_nano_cpus_refuses_more_cpu(
    make_command: CommandFactory, make_state: StateFactory
) -> None:
    state = make_state(cpu_quota_us=0, nano_cpus=250_000_000)
    with pytest.raises(RelaxRefusedError) as caught:
        plan_action(make_command(action=A.REAPPLY_LIMITS), state)  # 50 % > the 25 % in force
    assert caught.value.looser == {"NanoCpus": (250_000_000, 500_000_000)}
