"""The enforcer's Prometheus metrics, on a registry passed in (several enforcers, or an
enforcer next to other components, share one process without name clashes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from common.metrics import Metrics

# Violation to action spans detection windows (30 s by default) and escalation (300 s).
VIOLATION_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Command to action is the enforcer's own share: target p99 <= 0.5 s for terminate.
COMMAND_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10)


class EnforcerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        m = Metrics(registry, "sandguard_enforcer")
        self.commands = m.counter(
            "commands", "Commands read from sandguard.enforcement for this host, by action", "action"
        )
        self.ignored = m.counter(
            "commands_ignored",
            "Records not acted on, by reason (other_host, unassigned, redelivered, tombstone)",
            "reason",
        )
        self.actions = m.counter(
            "actions", "Results published on sandguard.actions, by action and result", "action", "result"
        )
        done = "to the action done (applied actions)"
        self.violation_to_action = m.histogram(
            "violation_to_action_seconds", f"First violation {done}", "action", buckets=VIOLATION_BUCKETS_S
        )
        self.command_to_action = m.histogram(
            "command_to_action_seconds", f"Command issued {done}", "action", buckets=COMMAND_BUCKETS_S
        )
        self.errors = m.counter(
            "errors",
            "Errors by kind (decode, refused, docker, engine_unavailable, publish, commit, batch)",
            "kind",
        )
        self.dead_letters = m.counter("dead_letters", "Malformed commands sent to the dead-letter topic")
        self.lag = m.gauge("lag_seconds", "Age of the oldest record of the last batch when it was read")
        self.ledger_rows = m.gauge("ledger_rows", "Commands remembered for idempotency")
