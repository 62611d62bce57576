"""Prometheus metrics of the sink, on the registry it is given (several sinks per process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from common.metrics import Metrics

# Insert latency buckets: 1 ms to 30 s, covering a small embedded batch up to a large server batch.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        m = Metrics(registry, "sandguard_sink")
        self.records = m.counter("records", "Records consumed, by topic", "topic")
        self.rows = m.counter("rows", "Rows inserted, by table", "table")
        self.batches = m.counter("batches", "Batches flushed and committed")
        self.insert_seconds = m.histogram(
            "insert_seconds", "Latency of one table insert", "table", buckets=LATENCY_BUCKETS
        )
        self.retries = m.counter("retries", "Insert attempts that failed and were retried", "reason")
        self.deadletters = m.counter(
            "deadletters", "Messages sent to the dead-letter topic, by source topic", "topic"
        )
        self.lag = m.gauge(
            "lag_seconds", "Age of the newest record committed (now minus its broker timestamp)"
        )
        self.buffered = m.gauge("buffered_rows", "Rows waiting for the next flush")
        self.store_up = m.gauge("store_up", "1 when the last insert succeeded, 0 while retrying")
