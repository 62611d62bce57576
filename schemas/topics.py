"""Every topic, declared once: name, partitions, retention, compaction, key and value.

The Kafka bus creates these idempotently; the in-process bus uses the same names;
the sink maps each to its table. Partition counts bound how many processor workers
can share the work (one owner per partition), so they are set for growth.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 3600 * 1000

METRICS = "sandguard.metrics"
PROCESSES = "sandguard.processes"
AUDIT = "sandguard.audit"
POLICIES = "sandguard.policies"
VIOLATIONS = "sandguard.violations"
ENFORCEMENT = "sandguard.enforcement"
ACTIONS = "sandguard.actions"
DEADLETTER = "sandguard.deadletter"
KERNEL = "sandguard.kernel"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int  # -1: forever (compacted topics keep the latest value per key)
    compacted: bool
    value: str  # the event kinds it carries (schemas.events / schemas.ocsf)
    description: str

    def config(self) -> dict[str, str]:
        """Kafka topic configuration."""
        cfg = {"retention.ms": str(self.retention_ms)}
        if self.compacted:
            cfg["cleanup.policy"] = "compact"
            # Tombstones stay a day so a consumer that was down for hours still sees deletions.
            cfg["delete.retention.ms"] = str(DAY_MS)
        return cfg


# 12 partitions: up to 12 processor workers; per-partition cost on one broker is small.
_P = 12

TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in (
        TopicSpec(METRICS, _P, 3 * DAY_MS, False, "metric | limits", "resource samples and limits in force"),
        TopicSpec(PROCESSES, _P, 3 * DAY_MS, False, "processes", "process snapshots (full and delta)"),
        TopicSpec(AUDIT, _P, 30 * DAY_MS, False, "audit", "exec/file operations, lifecycle, health"),
        TopicSpec(POLICIES, _P, -1, True, "policy", "policy per sandbox; tombstone on destroy"),
        TopicSpec(VIOLATIONS, _P, 30 * DAY_MS, False, "OCSF Detection Finding", "violations for SIEMs"),
        TopicSpec(ENFORCEMENT, _P, 7 * DAY_MS, False, "command", "enforcement commands"),
        TopicSpec(ACTIONS, _P, 30 * DAY_MS, False, "action", "results of enforcement commands"),
        TopicSpec(KERNEL, _P, 7 * DAY_MS, False, "exec | exit | connect", "kernel events of sandboxes"),
        TopicSpec(DEADLETTER, 1, 30 * DAY_MS, False, "deadletter", "messages that failed, with the reason"),
    )
}

# Keys: every topic is keyed by container id so one container's events stay ordered
# on one partition; the dead-letter topic keeps the original message's key.
