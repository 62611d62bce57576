"""Event models: one immutable fact per message, keyed by container id.

Every event carries ``event_id`` (unique per message, used by the sink to store each
event once), ``time`` (epoch milliseconds when the fact was observed), the
``container_id`` it is about and the ``host`` that observed it. Counters named
``*_total`` are cumulative as read from the kernel; consumers derive rates from
consecutive samples.
"""

from __future__ import annotations

import time as _time
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.policy import ResourceLimits, SecurityPolicy
from schemas.violations import SecurityViolationType, Severity

SCHEMA_VERSION = "1.0"

# UUIDv5 namespace of every deterministic id sandguard derives (violations, commands).
SANDGUARD_NAMESPACE = uuid.UUID("6f1c1d1e-5a3b-4c55-9f57-8d1f3e0b7a21")


def now_ms() -> int:
    return _time.time_ns() // 1_000_000


def new_event_id() -> str:
    return str(uuid.uuid4())


def stable_id(*parts: object) -> str:
    """Deterministic id from its parts: replays and retries derive the same id."""
    return str(uuid.uuid5(SANDGUARD_NAMESPACE, "\x1f".join(str(p) for p in parts)))


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(default_factory=new_event_id)
    time: int = Field(default_factory=now_ms, description="epoch ms when the fact was observed")
    container_id: str
    host: str = ""
    schema_version: str = SCHEMA_VERSION


# --- sandguard.metrics ------------------------------------------------------------


class SocketCounts(BaseModel):
    """Sockets in the container's network namespace (from /proc/<pid>/net/sockstat*)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tcp: int = 0
    tcp_orphan: int = 0
    tcp_time_wait: int = 0
    udp: int = 0
    raw: int = 0
    tcp6: int = 0
    udp6: int = 0
    tcp_states: dict[str, int] = Field(default_factory=dict, description="by state, when read")

    @property
    def connections(self) -> int:
        """What max_network_connections limits: TCP and UDP sockets in use, v4 and v6."""
        return self.tcp + self.udp + self.tcp6 + self.udp6


class MetricSample(Event):
    kind: Literal["metric"] = "metric"
    interval_ms: int | None = Field(None, description="since the previous sample of this container")
    cpu_usage_ns_total: int = 0
    cpu_percent: float | None = Field(None, description="percent of one CPU over the interval")
    cpu_periods_total: int = 0
    cpu_throttled_periods_total: int = 0
    cpu_throttled_ns_total: int = 0
    memory_usage_bytes: int = 0
    memory_working_set_bytes: int = 0
    memory_limit_bytes: int | None = None
    memory_failcnt_total: int = 0
    memory_oom_kills_total: int = 0
    pids_current: int = 0
    pids_max: int | None = None
    pids_max_events_total: int = 0
    open_fds: int = 0
    sockets: SocketCounts = Field(default_factory=SocketCounts)
    disk_usage_bytes: int | None = None
    partial: tuple[str, ...] = Field((), description="resource families that failed to read")


class LimitsSample(Event):
    """The cgroup limits actually in force (None: unlimited), for drift detection."""

    kind: Literal["limits"] = "limits"
    memory_limit_bytes: int | None = None
    memory_swap_limit_bytes: int | None = None
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None
    pids_max: int | None = None
    nofile_soft: int | None = None
    nofile_hard: int | None = None


# --- sandguard.processes ----------------------------------------------------------


class ProcessInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int = Field(description="host pid")
    ns_pid: int | None = Field(None, description="pid inside the container")
    ppid: int
    uid: int
    comm: str
    exe: str | None = Field(None, description="None when unreadable (kernel thread, exited)")
    argv: tuple[str, ...] = ()
    argv_truncated: bool = False
    state: str = "?"
    start_time: int = Field(0, description="epoch ms")


class ProcessSnapshot(Event):
    """Full snapshots periodically; deltas in between carry new or changed processes and exits."""

    kind: Literal["processes"] = "processes"
    full: bool
    seq: int = Field(0, description="per container and collector run; a gap means a lost delta")
    processes: tuple[ProcessInfo, ...] = ()
    exited: tuple[int, ...] = ()
    count: int = Field(0, description="processes in the container after this snapshot")


# --- sandguard.audit --------------------------------------------------------------


class AuditCategory(StrEnum):
    EXEC = "exec"  # a command run through the sandbox API
    FILE = "file"  # a file read, write or listing through the sandbox API
    LIFECYCLE = "lifecycle"  # create, start, die, oom, destroy, exec_start, expire...
    COLLECTOR = "collector"  # the collector's own health: drops, recoveries
    POLICY = "policy"  # a policy applied or re-applied


class AuditEvent(Event):
    kind: Literal["audit"] = "audit"
    category: AuditCategory
    action: str = Field(description="e.g. exec, read, write, list, create, start, die, oom, destroy")
    actor: str = Field("sandguard", description="the component that recorded it")
    allowed: bool | None = Field(None, description="for exec and file operations")
    violation_type: SecurityViolationType | None = Field(None, description="set on denials")
    subject: str | None = Field(None, description="the command or path")
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


# --- sandguard.policies (compacted; a tombstone when the sandbox is destroyed) ----


class PolicyEvent(Event):
    kind: Literal["policy"] = "policy"
    policy_id: str
    policy: SecurityPolicy
    sandbox_name: str = ""
    image: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


# --- sandguard.violations (rendered as OCSF Detection Findings on the topic) -------


class ViolationActivity(StrEnum):
    CREATE = "create"  # first time this finding is seen in its window
    UPDATE = "update"  # repeats raised its count, or enforcement changed its disposition
    CLOSE = "close"


class Disposition(StrEnum):
    DETECTED = "detected"  # alert only
    THROTTLED = "throttled"
    PAUSED = "paused"
    TERMINATED = "terminated"


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    process: ProcessInfo | None = None
    command: str | None = None
    path: str | None = None
    samples: tuple[dict[str, Any], ...] = Field((), description="the values that crossed the rule")


class Violation(Event):
    kind: Literal["violation"] = "violation"
    violation_id: str = Field(description="stable: uuid5 of container, rule, subject and window")
    activity: ViolationActivity = ViolationActivity.CREATE
    rule_id: str
    violation_type: SecurityViolationType
    severity: Severity
    title: str
    message: str
    count: int = Field(1, description="occurrences in this window")
    first_seen: int = Field(description="epoch ms")
    last_seen: int = Field(description="epoch ms")
    sample_time: int = Field(description="epoch ms of the triggering event")
    detected_time: int = Field(default_factory=now_ms, description="epoch ms of the decision")
    policy_id: str = ""
    policy_name: str = ""
    policy_version: str = ""
    mode: str = "enforce"
    disposition: Disposition = Disposition.DETECTED
    container_name: str = ""
    image: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    evidence: Evidence = Field(default_factory=Evidence)


# --- sandguard.enforcement and sandguard.actions -------------------------------------


class EnforcementAction(StrEnum):
    REAPPLY_LIMITS = "reapply_limits"
    THROTTLE = "throttle"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    TERMINATE = "terminate"
    BLOCK_EXEC = "block_exec"  # done by the kernel collector at exec time, not the enforcer


class EnforcementCommand(Event):
    kind: Literal["command"] = "command"
    command_id: str = Field(description="stable: uuid5 of the violations and the action")
    action: EnforcementAction
    mode: str = Field("enforce", description="enforce, or audit: record what would be done")
    violation_ids: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    reason: str = ""
    policy_id: str = ""
    limits: ResourceLimits | None = Field(None, description="for reapply_limits and throttle")
    throttle_factor: float | None = None
    keep_filesystem: bool = False
    first_violation_time: int | None = Field(None, description="epoch ms; for latency accounting")


class ActionOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY_GONE = "already_gone"
    FAILED = "failed"
    AUDIT_ONLY = "audit_only"
    DUPLICATE = "duplicate"


class ActionResult(Event):
    kind: Literal["action"] = "action"
    command_id: str
    action: EnforcementAction
    result: ActionOutcome
    reason: str = ""
    violation_ids: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    command_time: int = Field(description="epoch ms the command was issued")
    latency_ms: int | None = Field(None, description="first violation to the action done")
    details: dict[str, Any] = Field(default_factory=dict)


# --- sandguard.deadletter ---------------------------------------------------------


class DeadLetter(BaseModel):
    """A message that could not be processed, kept with the reason (never dropped silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["deadletter"] = "deadletter"
    event_id: str = Field(default_factory=new_event_id)
    time: int = Field(default_factory=now_ms)
    component: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    value: str = Field(description="the raw message, utf-8 with invalid bytes escaped")
    error: str
    schema_version: str = SCHEMA_VERSION
