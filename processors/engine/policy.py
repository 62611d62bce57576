"""A policy compiled for the hot path: plain numbers and frozensets, built once per policy id.

The rules read these attributes on every event; reading them from the pydantic model
would work too, but the products (limit × tolerance, MiB → bytes) would be recomputed
each time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from processors.engine.matching import SUSPICIOUS_TOOLS
from schemas import EscalationResponse, NetworkPolicy, PolicyMode, ResourceLimits, SecurityPolicy
from schemas.policy import MIB, workspace_quota_mb
from schemas.rules import HINT_RULES, RULES

# CPU limits are compared with a small slack: a quota of 25000 µs per 100000 µs period is
# 25 %, but Docker rounds NanoCPUs, so 0.5 percentage points absorb the rounding.
CPU_DRIFT_SLACK_PERCENT = 0.5
# Repeats of one finding are reported at most once a minute (then once more at its close),
# so a flood of repeats is one event a minute, not one a sample.
UPDATE_INTERVAL_MS = 60_000
NEW_PROGRAM = "process.new_program"
# disk.level warns at 90 % of /work and /tmp together: 96 MiB before the default 960 MiB fill.
DISK_LEVEL_RATIO = 0.9


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    policy_id: str
    name: str
    version: str
    audit: bool
    limits: ResourceLimits
    memory_limit_bytes: int
    memory_level_bytes: float
    cpu_percent: float
    cpu_level_percent: float
    max_processes: int
    max_connections: int
    max_open_files: int
    window_ms: int
    min_samples: int
    throttled_ratio: float
    escalation_window_ms: int
    dedup_window_ms: int
    update_interval_ms: int
    threshold: int
    auto_terminate: bool
    response: EscalationResponse
    throttle_factor: float
    keep_filesystem: bool
    enabled: frozenset[str]
    immediate: frozenset[str]
    blocked: frozenset[str]
    allowed: frozenset[str]
    suspicious: frozenset[str]
    monitoring: bool = field(default=True)
    # The image's baseline of programs (process.new_program) and what explains it.
    baseline: frozenset[str] = field(default=frozenset())
    baseline_paths: frozenset[str] = field(default=frozenset())
    baseline_note: str = field(default="")
    audit_rules: frozenset[str] = field(default=frozenset())  # recorded, never escalated
    # disk.level: bytes used on /work and /tmp over this share of their quota (resources.py).
    disk_level_bytes: float = field(default=float("inf"))
    network: NetworkPolicy = NetworkPolicy.NONE
    allowed_ports: frozenset[int] = frozenset()
    # Stands in until the container's own policy is known (processors.own_limits): its
    # escalation window is kept for that policy to judge (processors.engine.arrival).
    provisional: bool = False


def compile_policy(
    policy: SecurityPolicy, policy_id: str | None = None, *, provisional: bool = False
) -> CompiledPolicy:
    lim = policy.resource_limits
    det = policy.detection
    dedup_ms = int(det.dedup_window_seconds * 1000)
    return CompiledPolicy(
        policy_id=policy_id or policy.policy_id,
        name=policy.name,
        version=policy.version,
        audit=policy.mode is PolicyMode.AUDIT,
        limits=lim,
        memory_limit_bytes=lim.memory_mb * MIB,
        memory_level_bytes=lim.memory_mb * MIB * det.memory_tolerance,
        cpu_percent=lim.cpu_percent,
        cpu_level_percent=lim.cpu_percent * det.cpu_tolerance,
        max_processes=lim.max_processes,
        max_connections=lim.max_network_connections,
        max_open_files=lim.max_open_files,
        window_ms=int(det.window_seconds * 1000),
        min_samples=det.min_samples,
        throttled_ratio=det.cpu_throttled_ratio,
        escalation_window_ms=int(det.escalation_window_seconds * 1000),
        dedup_window_ms=dedup_ms,
        update_interval_ms=min(UPDATE_INTERVAL_MS, dedup_ms),
        threshold=policy.violation_threshold,
        auto_terminate=policy.auto_terminate_on_violation,
        response=policy.escalation_response,
        throttle_factor=policy.throttle_factor,
        keep_filesystem=policy.keep_filesystem_on_terminate,
        enabled=frozenset(RULES) - policy.disabled_rules,
        immediate=policy.immediate_rules - HINT_RULES,  # a hint never acts alone
        blocked=policy.blocked_commands,
        allowed=policy.allowed_commands,
        suspicious=SUSPICIOUS_TOOLS | policy.suspicious_commands,
        monitoring=policy.enable_monitoring,
        **baseline_fields(policy),
        disk_level_bytes=workspace_quota_mb(lim.disk_mb) * MIB * DISK_LEVEL_RATIO,
        network=policy.network_policy,
        allowed_ports=frozenset(policy.allowed_ports),
        provisional=provisional,
    )


def baseline_fields(policy: SecurityPolicy) -> dict[str, Any]:
    b = policy.baseline
    if b is None or not b.programs:
        return {}
    note = f"{len(b.programs)} programs seen in {b.runs} clean runs of {b.image or 'this image'}"
    audit = frozenset({NEW_PROGRAM}) if b.mode is PolicyMode.AUDIT else frozenset()
    note += f" ({b.learned})" if b.learned else ""
    return {"baseline": b.programs, "baseline_paths": b.paths, "baseline_note": note, "audit_rules": audit}


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """What the engine knows of a container besides its events: its policy and its names."""

    policy: CompiledPolicy
    container_name: str = ""
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
