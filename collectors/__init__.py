"""Per-host collectors: container discovery (Docker events), cgroup v1/v2 and /proc
readers, and the sampling loop that streams metrics, process snapshots, limits and
lifecycle events to the bus without ever entering a container."""

from collectors.cgroups import CgroupLocator, CgroupPaths
from collectors.clock import Clock, SystemClock
from collectors.collector import Collector
from collectors.config import SANDBOX_LABEL, CollectorConfig
from collectors.docker_port import ContainerInfo, ContainerLister, DockerSdkPort
from collectors.exceptions import (
    CgroupNotFoundError,
    CollectorError,
    CollectorStateError,
    ContainerGoneError,
)
from collectors.lifecycle import lifecycle_event

__all__ = [
    "SANDBOX_LABEL",
    "CgroupLocator",
    "CgroupNotFoundError",
    "CgroupPaths",
    "Clock",
    "Collector",
    "CollectorConfig",
    "CollectorError",
    "CollectorStateError",
    "ContainerGoneError",
    "ContainerInfo",
    "ContainerLister",
    "DockerSdkPort",
    "SystemClock",
    "lifecycle_event",
]
