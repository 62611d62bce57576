"""Prometheus metrics of a processor, on a registry passed in (several components share a
process in the embedded mode and in tests, so nothing goes to the global registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from common.metrics import Metrics
from schemas import topics as t

_INPUTS = (t.METRICS, t.PROCESSES, t.AUDIT, t.POLICIES, t.KERNEL)
_OUTPUTS = (t.VIOLATIONS, t.ENFORCEMENT, t.DEADLETTER)
# Detection latency, sample to decision: sub-ms in the engine, seconds when lagging.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        m = Metrics(registry if registry is not None else CollectorRegistry(), "sandguard_processor")
        self.registry = m.registry
        self.events = m.counter("events", "events in, by topic", "topic")
        self.outputs = m.counter("outputs", "events out, by topic", "topic")
        self.deadletters = m.counter("deadletters", "messages dead-lettered", "topic")
        self.errors = m.counter("errors", "errors, by kind", "kind")
        self.replayed = m.counter("replayed", "redelivered events already in the state")
        self.resent = m.counter("resent", "outputs re-sent, delivery unconfirmed")
        self.latency = m.histogram(
            "detection_latency_seconds", "triggering sample to decision", buckets=_LATENCY_BUCKETS
        )
        self.containers = m.gauge("containers", "containers with state")
        self.assigned = m.gauge("assigned_partitions", "input partitions this worker owns")
        self.in_by_topic = {name: self.events.labels(name) for name in _INPUTS}
        self.out_by_topic = {name: self.outputs.labels(name) for name in _OUTPUTS}

    def count_in(self, topic: str, n: int = 1) -> None:
        child = self.in_by_topic.get(topic)
        (child if child is not None else self.events.labels(topic)).inc(n)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (tests and benchmarks read progress with it)."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0
