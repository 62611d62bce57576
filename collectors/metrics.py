"""The collector's Prometheus metrics, on a registry passed in (several collectors, or a
collector and other components, can share one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Per-container sample cost: ~50 µs for an idle sandbox up to ms for hundreds of processes.
SAMPLE_BUCKETS = (25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3)
# A whole pass: 200 containers × ~100 µs = 20 ms; the interval (1 s) is the ceiling.
PASS_BUCKETS = (1e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5)


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p = "sandguard_collector_"
        r = registry
        self.produced = Counter(
            p + "events", "Events produced (samples, snapshots, audit)", ["topic"], registry=r
        )
        self.published = Counter(p + "events_published", "Events delivered to the bus", ["topic"], registry=r)
        self.containers = Gauge(p + "containers_watched", "Containers being sampled", registry=r)
        self.kept_files = Gauge(p + "kept_files", "Kernel files held open across samples", registry=r)
        self.processes = Gauge(p + "processes_tracked", "Processes tracked across containers", registry=r)
        self.sample_seconds = Histogram(
            p + "sample_seconds", "Time to sample one container", buckets=SAMPLE_BUCKETS, registry=r
        )
        self.pass_seconds = Histogram(
            p + "pass_seconds", "Time to sample every container once", buckets=PASS_BUCKETS, registry=r
        )
        self.read_errors = Counter(
            p + "read_errors", "Failed reads by resource family", ["family"], registry=r
        )
        self.buffer_depth = Gauge(p + "buffer_depth", "Events waiting to be published", registry=r)
        self.dropped = Counter(
            p + "dropped", "Events dropped because the buffer was full", ["topic"], registry=r
        )
        self.publish_errors = Counter(p + "publish_errors", "Failed publish or flush attempts", registry=r)
        self.docker_events = Counter(p + "docker_events", "Docker events received", ["action"], registry=r)
        self.docker_errors = Counter(p + "docker_errors", "Docker API failures", ["operation"], registry=r)
        self.ticks_missed = Counter(
            p + "ticks_missed", "Intervals skipped because a pass overran", registry=r
        )
