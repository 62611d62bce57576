"""Errors of the collector.

Tree::

    CollectorError              root of this package
    ├── CgroupNotFoundError     a container's cgroups cannot be located (carries container_id, pid)
    ├── ContainerGoneError      a container vanished while it was read (carries container_id);
    │                           expected during churn: skipped, never logged as an error
    └── CollectorStateError     the collector was used out of order (start twice, sample after stop)
"""

from __future__ import annotations

from schemas.exceptions import DetailedError, LifecycleError


class CollectorError(Exception):
    """Root of the collector's errors."""


class CgroupNotFoundError(CollectorError, DetailedError):
    """Raised by CgroupLocator.locate when /proc/<pid>/cgroup cannot be read or names no
    cgroup the collector can read (for instance the process already exited)."""

    container_id: str
    pid: int
    reason: str
    template = "container {container_id:.12} (pid {pid}): {reason}"


class ContainerGoneError(CollectorError, DetailedError):
    """Raised by a sampler when the container's cgroup or init process disappeared."""

    container_id: str
    template = "container {container_id:.12} is gone"


class CollectorStateError(CollectorError, LifecycleError):
    """Raised when Collector.start is called twice, or a stopped collector is started."""

    template = "cannot {operation} a collector that is {state}"
