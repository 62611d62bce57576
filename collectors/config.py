"""Collector options, with the arithmetic behind each default."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.labels import SANDBOX_SELECTOR

SANDBOX_LABEL = SANDBOX_SELECTOR  # the collectors' name for it


@dataclass(frozen=True, kw_only=True, slots=True)
class CollectorConfig:
    host: str
    interval_s: float = 1.0
    # A full process list every 30 samples: a consumer that joins late waits at most 30 s.
    full_snapshot_every: int = 30
    # Limits are read every 5 samples (drift is seen within 5 s) and published on change,
    # at start, and every 60 samples as a heartbeat.
    limits_every: int = 5
    limits_heartbeat_every: int = 60
    disk_every: int = 5
    # 0: never. net/tcp costs ~1.7 ms per read here (the kernel walks the host's whole
    # socket table), so per-state counts are opt-in and read at most every N samples.
    tcp_states_every: int = 0
    all_containers: bool = False
    label: str = SANDBOX_LABEL
    # 20,000 events: 200 containers × ~1.5 events/s × ~60 s of broker outage; at ~600
    # bytes an event that is ~12 MB at most.
    buffer_capacity: int = 20_000
    # Events per publish batch (flushed, retried whole on failure).
    publish_batch: int = 2_000
    proc_root: str = "/proc"
    # Every exec, exit and connect of sandboxes from the kernel (collectors/kernel), and
    # blocked programs killed at exec. Off here (unit tests build many collectors); the
    # embedded runner and the ``sandguard collector`` command turn it on.
    kernel_events: bool = False
    host_root: str = "/"

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {self.interval_s}")
        for name in ("full_snapshot_every", "limits_every", "limits_heartbeat_every", "disk_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.buffer_capacity < 1 or self.publish_batch < 1:
            raise ValueError("buffer_capacity and publish_batch must be >= 1")
