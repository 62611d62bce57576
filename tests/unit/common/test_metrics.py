"""A component's metrics: its prefix, its registry, its labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from common.metrics import Metrics


def test_metrics_are_named_under_the_prefix_on_the_given_registry() -> None:
    registry = CollectorRegistry()
    m = Metrics(registry, "sandguard_x")
    m.counter("errors", "errors, by kind", "kind").labels("bus").inc(2)
    m.gauge("up", "1 when up").set(1)
    m.histogram("seconds", "latency", "table", buckets=(0.1, 1.0)).labels("t").observe(0.5)
    assert registry.get_sample_value("sandguard_x_errors_total", {"kind": "bus"}) == 2
    assert registry.get_sample_value("sandguard_x_up") == 1
    assert registry.get_sample_value("sandguard_x_seconds_bucket", {"table": "t", "le": "1.0"}) == 1
    other = CollectorRegistry()  # a second component of the same kind: no name clash
    Metrics(other, "sandguard_x").counter("errors", "errors, by kind", "kind").labels("bus").inc()
    assert other.get_sample_value("sandguard_x_errors_total", {"kind": "bus"}) == 1
    assert registry.get_sample_value("sandguard_x_errors_total", {"kind": "bus"}) == 2
