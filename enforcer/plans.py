"""What a command means for a container in a given state: pure decisions, no I/O.

A ``Plan`` is the concrete, absolute operation (``PidsLimit=20``, ``CpuQuota=25000``),
decided once from the state read before acting and recorded in the ledger before the
engine is touched. Replaying a plan is idempotent even for throttle, whose target is
relative to the quota in force: the target was fixed when the plan was made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from enforcer.exceptions import InvalidCommandError, NotASandboxError, RelaxRefusedError
from enforcer.port import ObservedContainer
from schemas import EnforcementAction, EnforcementCommand, ResourceLimits, SecurityPolicy, labels
from schemas.policy import MIB, MIN_CPU_QUOTA_US, cpu_quota_us

NANO_PER_CPU = 1_000_000_000
# 1 % of one CPU: 1 ms per 100 ms period, the kernel's smallest quota at Docker's default
# period, and Docker's smallest --cpus (0.01). A throttled sandbox still makes progress,
# so it can be inspected and terminated cleanly.
DEFAULT_FLOOR_PERCENT = 1.0
# The policy's default factor, for a throttle command that carries none.
DEFAULT_THROTTLE_FACTOR: float = SecurityPolicy.model_fields["throttle_factor"].default
# What SandboxManager puts on every sandbox container (sandbox.labels.SANDBOX). By default
# a command can touch only containers that carry it: never the broker, never a database
# that shares the host, whatever a command on the topic says.
SANDBOX_LABELS: Mapping[str, str | None] = {labels.SANDBOX: "1"}
# Full ids are 64 hex digits; 12 is the shortest prefix Docker prints. Names are refused:
# a name can be reused by another container, an id cannot.
CONTAINER_ID_RE = re.compile(r"[0-9a-f]{12,64}")


class ContainerOperation(StrEnum):
    UPDATE = "update"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    STOP = "stop"
    REMOVE = "remove"
    NONE = "none"  # the desired state already holds (see note)


@dataclass(frozen=True, slots=True)
class Plan:
    operation: ContainerOperation
    resources: Mapping[str, int] = field(default_factory=dict)
    note: str = ""
    gone: bool = False  # the container is not running: nothing left to act on

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"operation": self.operation.value}
        if self.resources:
            out["resources"] = dict(self.resources)
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            ContainerOperation(data["operation"]), dict(data.get("resources", {})), data.get("note", "")
        )


def check_container_id(command: EnforcementCommand) -> None:
    if not CONTAINER_ID_RE.fullmatch(command.container_id):
        raise InvalidCommandError(
            command.container_id, "container_id must be a container id (hex), not a name"
        )


def check_identity(command: EnforcementCommand, state: ObservedContainer) -> None:
    """The engine resolved the id we asked for, not a name or another container's prefix."""
    if not state.id.startswith(command.container_id):
        raise InvalidCommandError(command.container_id, f"engine resolved it to another container {state.id}")


def check_labels(state: ObservedContainer, required: Mapping[str, str | None]) -> None:
    """Each required label is present (with its value, when one is given)."""
    missing = {
        k: v for k, v in required.items() if k not in state.labels or (v is not None and state.labels[k] != v)
    }
    if missing:
        raise NotASandboxError(state.id, missing)


def plan_action(
    command: EnforcementCommand,
    state: ObservedContainer,
    *,
    floor_percent: float = DEFAULT_FLOOR_PERCENT,
    host_cpus: int = 1,
) -> Plan:
    """The operation that brings the container to what the command asks."""
    if command.action is EnforcementAction.TERMINATE and not command.keep_filesystem:
        return Plan(ContainerOperation.REMOVE, note="" if state.alive else f"container {state.status}")
    if not state.alive:
        return Plan(ContainerOperation.NONE, note=f"container {state.status}", gone=True)
    if command.action is EnforcementAction.REAPPLY_LIMITS:
        if command.limits is None:
            raise InvalidCommandError(command.container_id, "reapply_limits needs limits")
        resources = limits_resources(command.limits, state)
        looser = relaxed(state, resources)
        if looser:
            raise RelaxRefusedError(command.container_id, looser)
        return _update_plan(state, resources, "limits already in force")
    if command.action is EnforcementAction.THROTTLE:
        return _throttle_plan(command, state, floor_percent, host_cpus)
    return _state_plan(command.action, state)


def _state_plan(action: EnforcementAction, state: ObservedContainer) -> Plan:
    """Terminate keeping the filesystem, pause, unpause: a change of the running state."""
    if action is EnforcementAction.TERMINATE:
        return Plan(ContainerOperation.STOP)
    if action is EnforcementAction.PAUSE:
        return (
            Plan(ContainerOperation.NONE, note="already paused")
            if state.paused
            else Plan(ContainerOperation.PAUSE)
        )
    return (
        Plan(ContainerOperation.UNPAUSE) if state.paused else Plan(ContainerOperation.NONE, note="not paused")
    )


def _throttle_plan(
    command: EnforcementCommand, state: ObservedContainer, floor_percent: float, cpus: int
) -> Plan:
    factor = DEFAULT_THROTTLE_FACTOR if command.throttle_factor is None else command.throttle_factor
    if not 0 < factor < 1:
        raise InvalidCommandError(command.container_id, f"throttle_factor must be in (0, 1), got {factor}")
    unlimited = command.limits.cpu_percent if command.limits else cpus * 100.0
    resources = throttle_resources(state, factor, floor_percent=floor_percent, unlimited_percent=unlimited)
    return _update_plan(state, resources, "CPU already at the throttle floor")


def _update_plan(state: ObservedContainer, resources: Mapping[str, int], noop: str) -> Plan:
    return (
        Plan(ContainerOperation.NONE, resources, note=noop)
        if in_force(state, resources)
        else Plan(ContainerOperation.UPDATE, resources)
    )


def limits_resources(limits: ResourceLimits, state: ObservedContainer) -> dict[str, int]:
    """The policy's limits as ``docker update`` fields, in the CPU form the container uses
    (Docker refuses CpuQuota on a container created with NanoCpus, and the reverse)."""
    memory = limits.memory_mb * MIB
    out = {"Memory": memory, "MemorySwap": memory, "PidsLimit": limits.max_processes}
    if state.nano_cpus > 0:
        out["NanoCpus"] = round(limits.cpu_percent / 100 * NANO_PER_CPU)
    else:
        period = state.period_us
        out["CpuQuota"] = cpu_quota_us(limits.cpu_percent, period)
        out["CpuPeriod"] = period
    return out


def _unlimited(value: int) -> bool:
    return value <= 0  # Docker: 0 is unset, -1 unlimited


def relaxed(state: ObservedContainer, resources: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """The fields of ``resources`` that would loosen what the container holds, as
    (in force, wanted): a higher memory, swap, pids or CPU limit, or none where one is held."""
    out: dict[str, tuple[int, int]] = {}
    held = state.resources()
    for name in ("Memory", "MemorySwap", "PidsLimit", "NanoCpus"):
        if name not in resources or _unlimited(held[name]):
            continue
        want = resources[name]
        if _unlimited(want) or want > held[name]:
            out[name] = (held[name], want)
    if "CpuQuota" in resources and not _unlimited(state.cpu_quota_us):
        want, period = resources["CpuQuota"], resources.get("CpuPeriod", state.period_us)
        # Compared as shares of a CPU (quota / period): periods may differ.
        if _unlimited(want) or want * state.period_us > state.cpu_quota_us * period:
            out["CpuQuota"] = (state.cpu_quota_us, want)
    return out


def throttle_resources(
    state: ObservedContainer, factor: float, *, floor_percent: float, unlimited_percent: float
) -> dict[str, int]:
    """The CPU limit in force times ``factor``, never under the floor and never raised.

    A container without a CPU limit is throttled from ``unlimited_percent`` (the policy's
    cpu_percent, or every CPU of the host).
    """
    if state.nano_cpus > 0:
        floor_nano = math.ceil(floor_percent / 100 * NANO_PER_CPU)
        target = max(floor_nano, int(state.nano_cpus * factor))
        return {"NanoCpus": min(target, state.nano_cpus)}
    period = state.period_us
    current = state.cpu_quota_us if state.cpu_quota_us > 0 else round(unlimited_percent / 100 * period)
    floor_quota = max(MIN_CPU_QUOTA_US, math.ceil(floor_percent / 100 * period))
    target = max(floor_quota, int(current * factor))
    return {"CpuQuota": min(target, current), "CpuPeriod": period}


def in_force(state: ObservedContainer, resources: Mapping[str, int]) -> bool:
    """Every field of ``resources`` already has that value in the container."""
    held = state.resources()
    held["CpuPeriod"] = state.period_us  # 0 in inspect means Docker's default period
    return all(held.get(k) == v for k, v in resources.items())


def effect_holds(plan: Plan, state: ObservedContainer) -> bool:
    """The plan's effect is already in the container (a replay after a crash, or a race)."""
    if plan.operation is ContainerOperation.UPDATE:
        return in_force(state, plan.resources)
    if plan.operation is ContainerOperation.PAUSE:
        return state.paused
    if plan.operation is ContainerOperation.UNPAUSE:
        return state.alive and not state.paused
    if plan.operation is ContainerOperation.STOP:
        return not state.alive
    return plan.operation is ContainerOperation.NONE
