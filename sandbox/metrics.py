"""Prometheus metrics of a sandbox manager, on a registry passed in (several managers, or
the whole embedded pipeline, can share one process without name clashes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Create+start is ~0.2 s on an idle host; execs ~50 ms; the tail buckets catch a loaded engine.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ManagerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.active = Gauge("sandguard_sandboxes_active", "Running or paused sandboxes", registry=r)
        self.created = Counter("sandguard_sandboxes_created", "Sandboxes created", registry=r)
        self.create_failures = Counter("sandguard_sandbox_create_failures", "Failed creates", registry=r)
        self.operations = Counter(
            "sandguard_sandbox_operations", "Exec and file operations", ["operation", "outcome"], registry=r
        )
        self.denied = Counter(
            "sandguard_sandbox_denied", "Operations refused by validation", ["kind"], registry=r
        )
        self.create_seconds = Histogram(
            "sandguard_sandbox_create_seconds", "create_sandbox latency", buckets=LATENCY_BUCKETS, registry=r
        )
        self.exec_seconds = Histogram(
            "sandguard_sandbox_exec_seconds", "execute latency", buckets=LATENCY_BUCKETS, registry=r
        )
        self.events_out = Counter("sandguard_sandbox_events_out", "Events published", ["topic"], registry=r)
        self.events_in = Counter("sandguard_sandbox_events_in", "Events consumed", ["topic"], registry=r)
        self.errors = Counter("sandguard_sandbox_errors", "Errors by kind", ["kind"], registry=r)
