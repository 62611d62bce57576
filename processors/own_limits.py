"""Fail closed: a container whose policy is not known (yet) is judged by its own limits.

The policy of a sandbox comes from the compacted policies topic. Until it is there (a
processor that started late, a manager whose publish was lost, a container made by
hand), judging it by the processor's default policy could be looser than the sandbox
itself: a sandbox created with 64 MiB once had its limit "re-applied" to a default of
512 MiB. Instead the limits in force, from the collector's LimitsSample (and, before the
first one, a MetricSample's memory and pids limits), replace the default's limits; the
rest of the default (rules, thresholds, escalation) stays. By construction such a
policy sees no drift, so it never asks to change a limit. The container's sandguard
labels (from its lifecycle events), among them the id of the policy it was created
with, go on its findings meanwhile, so a reader sees which policy was expected.
"""

from __future__ import annotations

from schemas import AuditCategory, AuditEvent, LimitsSample, MetricSample, ResourceLimits
from schemas.labels import PREFIX
from schemas.policy import MIB


def in_force(base: ResourceLimits, sample: object) -> ResourceLimits | None:
    """``base`` with the limits the sample shows in force (an unlimited field keeps the
    base's value); None when the sample says nothing of limits."""
    if isinstance(sample, LimitsSample):
        update = _from_limits(sample)
    elif isinstance(sample, MetricSample):
        update = _from_metric(sample)
    else:
        return None
    # model_copy: the kernel's values are facts, not user input (a 4 MiB container exists
    # even though a policy may not ask for one).
    return base.model_copy(update=update)


def _from_limits(s: LimitsSample) -> dict[str, object]:
    update = _from_metric(s)
    if s.cpu_quota_us is not None and s.cpu_quota_us > 0 and s.cpu_period_us:
        update["cpu_percent"] = round(s.cpu_quota_us / s.cpu_period_us * 100.0, 3)
    if s.nofile_soft is not None:
        update["max_open_files"] = s.nofile_soft
    return update


def _from_metric(s: MetricSample | LimitsSample) -> dict[str, object]:
    """The limits both samples carry (a metric sample has no CPU quota or ulimit)."""
    update: dict[str, object] = {}
    if s.memory_limit_bytes is not None:
        update["memory_mb"] = s.memory_limit_bytes // MIB
    if s.pids_max is not None:
        update["max_processes"] = s.pids_max
    return update


def sandguard_labels(event: object) -> dict[str, str]:
    """The sandguard labels a lifecycle event carries (the collector's, from Docker); {}
    for any other event."""
    if not isinstance(event, AuditEvent) or event.category is not AuditCategory.LIFECYCLE:
        return {}
    found = event.details.get("labels")
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if str(k).startswith(PREFIX)}
