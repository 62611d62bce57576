"""Errors of the collector.

Tree::

    CollectorError              root of this package
    ├── CgroupNotFoundError     a container's cgroups cannot be located (carries container_id, pid)
    ├── ContainerGoneError      a container vanished while it was read (carries container_id);
    │                           expected during churn: skipped, never logged as an error
    └── CollectorStateError     the collector was used out of order (start twice, sample after stop)
"""

from __future__ import annotations


class CollectorError(Exception):
    """Root of the collector's errors."""


class CgroupNotFoundError(CollectorError):
    """Raised by CgroupLocator.locate when /proc/<pid>/cgroup cannot be read or names no
    cgroup the collector can read (for instance the process already exited)."""

    def __init__(self, container_id: str, pid: int, reason: str) -> None:
        self.container_id = container_id
        self.pid = pid
        self.reason = reason
        super().__init__(f"container {container_id[:12]} (pid {pid}): {reason}")


class ContainerGoneError(CollectorError):
    """Raised by a sampler when the container's cgroup or init process disappeared."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container {container_id[:12]} is gone")


class CollectorStateError(CollectorError):
    """Raised when Collector.start is called twice, or a stopped collector is started."""

    def __init__(self, state: str, operation: str) -> None:
        self.state = state
        self.operation = operation
        super().__init__(f"cannot {operation} a collector that is {state}")
