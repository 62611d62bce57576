"""Prometheus metrics of the kernel source (on the collector's registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MODES = ("bpf", "proc_connector", "off")
# Why the mode is not bpf (KernelSource.cause); the full text is in the health output.
CAUSES = ("unsupported", "attach_failed", "tracer_unstable", "proc_connector_failed")
# exec to kill: the probe runs inside execve, so tens of µs; 10 ms is already a fault.
KILL_BUCKETS = (10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 10e-3)


class KernelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        p, r = "sandguard_collector_kernel_", registry
        self.events = Counter(p + "events", "Kernel events published", ["kind"], registry=r)
        self.lost = Counter(p + "events_lost", "Events the kernel dropped (perf ring full)", registry=r)
        self.unattributed = Counter(
            p + "unattributed", "Proc connector execs gone before their sandbox was read", registry=r
        )
        self.restarts = Counter(p + "tracer_restarts", "Times the tracer ended and was restarted", registry=r)
        self.parse_errors = Counter(p + "parse_errors", "Tracer lines that did not parse", registry=r)
        self.blocked = Counter(p + "blocked_execs", "Blocked programs at exec", ["outcome"], registry=r)
        self.sandboxes = Gauge(p + "sandboxes", "Sandboxes the kernel layer watches", registry=r)
        self.mode = Gauge(p + "mode", "1 for the mode in force", ["mode"], registry=r)
        self.fallback = Gauge(p + "fallback", "1 for why the mode is not bpf", ["cause"], registry=r)
        self.exec_to_kill = Histogram(
            p + "exec_to_kill_seconds", "execve entry to SIGKILL", buckets=KILL_BUCKETS, registry=r
        )

    def set_mode(self, mode: str, cause: str = "") -> None:
        for m in MODES:
            self.mode.labels(m).set(1 if m == mode else 0)
        for c in CAUSES:
            self.fallback.labels(c).set(1 if c == cause else 0)
