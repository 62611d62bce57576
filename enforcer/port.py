"""The one seam between the enforcer and a Docker engine.

Blocking by nature (the Docker SDK is synchronous): the enforcer calls every method
from a worker thread. Implementations raise the ``DockerPortError`` family, never an
SDK exception, so the enforcer's decisions do not depend on which engine client is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from schemas.policy import CPU_PERIOD_US

# Docker API resource fields (HostConfig, ``docker update``) and the ObservedContainer fields
# that hold them, in the order result details list them.
API_FIELDS: Mapping[str, str] = {
    "NanoCpus": "nano_cpus",
    "CpuQuota": "cpu_quota_us",
    "CpuPeriod": "cpu_period_us",
    "Memory": "memory_bytes",
    "MemorySwap": "memory_swap_bytes",
    "PidsLimit": "pids_limit",
}

# Statuses in which the container's processes exist (a paused one is frozen, not gone).
ALIVE_STATUSES = frozenset({"running", "paused", "restarting"})


@dataclass(frozen=True, slots=True)
class ObservedContainer:
    """What the enforcer needs to know of a container, read by one inspect."""

    id: str
    name: str = ""
    status: str = "running"
    labels: Mapping[str, str] = field(default_factory=dict)
    nano_cpus: int = 0  # --cpus; exclusive with cpu_quota in Docker
    cpu_quota_us: int = 0  # 0: no quota
    cpu_period_us: int = 0  # 0: the default period
    memory_bytes: int = 0  # 0: unlimited
    memory_swap_bytes: int = 0  # memory + swap; -1: unlimited swap, 0: unset
    pids_limit: int = 0  # 0 or -1: unlimited

    @property
    def alive(self) -> bool:
        return self.status in ALIVE_STATUSES

    @property
    def paused(self) -> bool:
        return self.status == "paused"

    @property
    def period_us(self) -> int:
        return self.cpu_period_us or CPU_PERIOD_US  # 0: Docker's default, 100 ms

    def resources(self) -> dict[str, int]:
        """The limits in force, in the Docker API's field names (for result details)."""
        return {api: getattr(self, name) for api, name in API_FIELDS.items()}


@runtime_checkable
class DockerPort(Protocol):
    """Operations on the containers of one Docker engine (blocking)."""

    def inspect(self, container_id: str) -> ObservedContainer:
        """The container's state; ContainerNotFoundError when it does not exist."""
        ...

    def update(self, container_id: str, resources: Mapping[str, int]) -> None:
        """``docker update`` with Docker API field names (Memory, MemorySwap, CpuQuota,
        CpuPeriod, NanoCpus, PidsLimit)."""
        ...

    def pause(self, container_id: str) -> None: ...

    def unpause(self, container_id: str) -> None: ...

    def stop(self, container_id: str) -> None:
        """Stops at once (SIGKILL without a grace period) and keeps the container."""
        ...

    def remove(self, container_id: str) -> None:
        """Kills if running and removes the container with its anonymous volumes."""
        ...
