"""One way to declare a component's Prometheus metrics: on the registry it was given (several
components share a process in embedded mode and in tests, so nothing goes to the global
registry), every name under the component's prefix, one line a metric."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Makes the metrics of one component: ``Metrics(registry, "sandguard_sink")``, then
    ``counter("rows", "Rows inserted, by table", "table")`` is ``sandguard_sink_rows``."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.registry = registry
        self.prefix = prefix

    def counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(f"{self.prefix}_{name}", doc, labels, registry=self.registry)

    def gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(f"{self.prefix}_{name}", doc, labels, registry=self.registry)

    def histogram(self, name: str, doc: str, *labels: str, buckets: Sequence[float]) -> Histogram:
        return Histogram(f"{self.prefix}_{name}", doc, labels, buckets=buckets, registry=self.registry)
