"""The one seam between the collector and the Docker engine: ``ContainerLister``.

The collector only needs to list running containers, inspect one, and follow the
events stream; ``DockerSdkPort`` lists and inspects with the (blocking) Docker SDK,
always called from threads, never on the event loop, and streams the events with
aiodocker (the one streaming client, common.docker_events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiodocker
from docker.transport import UnixHTTPAdapter

from common.docker_events import aiodocker_events, streaming_url

# docker-py keeps one connection pool per URL, i.e. per container id, in an LRU of 25:
# inspecting hundreds of short-lived containers keeps 25 sockets open to the engine.
# 4 pools cover the listing and an inspect or two (the events stream holds its own).
# APIClient's num_pools argument is ignored for unix sockets (an operator-precedence
# slip in docker-py 7.x makes it 25 whatever is passed), so the adapter is replaced by one
# with NUM_POOLS pools, mounted with requests' public Session.mount.
NUM_POOLS = 4
# Mount kinds whose use counts as the container's disk use (a bind mount is the host's disk).
DISK_MOUNT_TYPES = ("tmpfs", "volume")


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: str
    pid: int  # host pid of the container's init process; 0 when not running
    name: str = ""
    image: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    # Writable mount points inside the container whose use is its disk use: tmpfs mounts and
    # volumes (a sandbox's /work and /tmp: ext4 images of their own, or tmpfs).
    disk_mounts: tuple[str, ...] = ()
    running: bool = True


class ContainerLister(Protocol):
    """What the collector asks of the engine: running containers, one's details, events."""

    def running(self, label: str | None) -> list[str]:
        """Ids of running (and paused) containers, with ``label`` ("k=v") when given."""
        ...

    def inspect(self, container_id: str) -> ContainerInfo | None:
        """None when the container no longer exists."""
        ...

    def events(
        self, *, since: str, label: str | None, actions: Sequence[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """Container events from ``since`` ("seconds.nanoseconds") on, until the stream ends."""
        ...


def _limit_pools(client: Any) -> None:
    api = client.api
    old = api.get_adapter(api.base_url)
    if isinstance(old, UnixHTTPAdapter):
        limited = UnixHTTPAdapter(
            old.socket_path, old.timeout, pool_connections=NUM_POOLS, max_pool_size=old.max_pool_size
        )
        api.mount("http+docker://", limited)
        old.close()


def container_info(attrs: Mapping[str, Any]) -> ContainerInfo:
    """ContainerInfo from the engine's inspect document."""
    state = attrs.get("State") or {}
    host_config = attrs.get("HostConfig") or {}
    config = attrs.get("Config") or {}
    disk = set((host_config.get("Tmpfs") or {}).keys())
    disk.update(
        m["Destination"]
        for m in attrs.get("Mounts") or ()
        if m.get("Type") in DISK_MOUNT_TYPES and m.get("RW", True)
    )
    return ContainerInfo(
        id=attrs["Id"],
        pid=int(state.get("Pid") or 0),
        name=str(attrs.get("Name") or "").lstrip("/"),
        image=str(config.get("Image") or ""),
        labels=dict(config.get("Labels") or {}),
        disk_mounts=tuple(sorted(disk)),
        running=bool(state.get("Running")) and int(state.get("Pid") or 0) > 0,
    )


class DockerSdkPort:
    """ContainerLister on docker-py's low-level API client (blocking: call ``running`` and
    ``inspect`` from threads) and aiodocker for the events."""

    def __init__(self, client: Any | None = None, *, timeout_s: int = 30) -> None:
        if client is None:
            import docker

            client = docker.from_env(timeout=timeout_s)
            _limit_pools(client)
        self._client = client

    def running(self, label: str | None) -> list[str]:
        filters: dict[str, Any] = {"status": ["running", "paused"]}
        if label:
            filters["label"] = label
        return [c["Id"] for c in self._client.api.containers(filters=filters)]

    def inspect(self, container_id: str) -> ContainerInfo | None:
        import docker.errors

        try:
            return container_info(self._client.api.inspect_container(container_id))
        except docker.errors.NotFound:
            return None

    async def events(
        self, *, since: str, label: str | None, actions: Sequence[str]
    ) -> AsyncIterator[dict[str, Any]]:
        filters = {"type": ["container"], "event": list(actions), **({"label": [label]} if label else {})}
        async with aiodocker.Docker(url=streaming_url(self._client.api)) as client:
            async for event in aiodocker_events(client, since, filters):
                yield event

    def close(self) -> None:
        self._client.close()
