"""The enforcer's Prometheus metrics, on a registry passed in (several enforcers, or an
enforcer next to other components, share one process without name clashes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Violation to action spans detection windows (30 s by default) and escalation (300 s).
VIOLATION_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Command to action is the enforcer's own share: target p99 <= 0.5 s for terminate.
COMMAND_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10)


class EnforcerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Counter(
            "sandguard_enforcer_commands",
            "Commands read from sandguard.enforcement for this host, by action",
            ["action"],
            registry=registry,
        )
        self.ignored = Counter(
            "sandguard_enforcer_commands_ignored",
            "Records not acted on, by reason (other_host, unassigned, redelivered, tombstone)",
            ["reason"],
            registry=registry,
        )
        self.actions = Counter(
            "sandguard_enforcer_actions",
            "Results published on sandguard.actions, by action and result",
            ["action", "result"],
            registry=registry,
        )
        self.violation_to_action = Histogram(
            "sandguard_enforcer_violation_to_action_seconds",
            "First violation to the action done (applied actions)",
            ["action"],
            buckets=VIOLATION_BUCKETS_S,
            registry=registry,
        )
        self.command_to_action = Histogram(
            "sandguard_enforcer_command_to_action_seconds",
            "Command issued to the action done (applied actions)",
            ["action"],
            buckets=COMMAND_BUCKETS_S,
            registry=registry,
        )
        self.errors = Counter(
            "sandguard_enforcer_errors",
            "Errors by kind (decode, refused, docker, engine_unavailable, publish, commit, batch)",
            ["kind"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "sandguard_enforcer_dead_letters",
            "Malformed commands sent to the dead-letter topic",
            registry=registry,
        )
        self.lag = Gauge(
            "sandguard_enforcer_lag_seconds",
            "Age of the oldest record of the last batch when it was read",
            registry=registry,
        )
        self.ledger_rows = Gauge(
            "sandguard_enforcer_ledger_rows", "Commands remembered for idempotency", registry=registry
        )
