"""Prometheus metrics of the sink, on the registry it is given (several sinks per process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Insert latency buckets: 1 ms to 30 s, covering a small embedded batch up to a large server batch.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "sandguard_sink_records", "Records consumed, by topic", ["topic"], registry=registry
        )
        self.rows = Counter("sandguard_sink_rows", "Rows inserted, by table", ["table"], registry=registry)
        self.batches = Counter("sandguard_sink_batches", "Batches flushed and committed", registry=registry)
        self.insert_seconds = Histogram(
            "sandguard_sink_insert_seconds",
            "Latency of one table insert",
            ["table"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "sandguard_sink_retries", "Insert attempts that failed and were retried", ["reason"],
            registry=registry,
        )  # fmt: skip
        self.deadletters = Counter(
            "sandguard_sink_deadletters", "Messages sent to the dead-letter topic, by source topic",
            ["topic"], registry=registry,
        )  # fmt: skip
        self.lag = Gauge(
            "sandguard_sink_lag_seconds",
            "Age of the newest record committed (now minus its broker timestamp)",
            registry=registry,
        )
        self.buffered = Gauge(
            "sandguard_sink_buffered_rows", "Rows waiting for the next flush", registry=registry
        )
        self.store_up = Gauge(
            "sandguard_sink_store_up", "1 when the last insert succeeded, 0 while retrying", registry=registry
        )
