"""The one seam between the sandbox package and a Docker engine: ``SandboxEngine``.

Everything the package asks of an engine goes through it: containers (create, start,
inspect, kill, update, remove), the volumes and networks a manager makes, execs with
their output streamed, the events stream, and the reclaiming of what gone managers left.
The real adapter is sandbox.docker_engine (the Docker SDK on a thread pool, aiodocker for
the streams); sandbox.fake ships an in-memory one for unit tests without an engine.
Implementations raise ``EngineError`` (and its two kinds below) for an engine's refusal
and sandbox.exceptions.DockerUnavailable when no engine answers, never an SDK exception.
Host work (the sandbox's storage, /proc) is not the engine's and stays out of the port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sandbox.gc import GcReport
from sandbox.output import STDERR, STDOUT
from schemas.exceptions import DetailedError

__all__ = ["STDERR", "STDOUT", "ContainerMissing", "EngineError", "ExecSpec", "ExecStream", "ImageMissing",
           "SandboxEngine"]  # fmt: skip


class EngineError(DetailedError):
    """The engine answered with an error status; ``status`` and ``message`` are the engine's."""

    status: int
    message: str
    template = "{status}: {message}"


class ContainerMissing(EngineError):
    """No such container (404): gone, or never there."""


class ImageMissing(EngineError):
    """The image to create from is not on the engine (404: nothing is pulled)."""


@dataclass(frozen=True, slots=True)
class ExecSpec:
    """One command to run in a container: argv, ``NAME=value`` variables, where, as whom."""

    argv: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str
    user: str


class ExecStream(Protocol):
    async def read(self) -> tuple[int, bytes] | None:
        """The next frame of output (STDOUT or STDERR, payload); None at the end."""
        ...


@runtime_checkable
class SandboxEngine(Protocol):
    """Operations on one Docker engine, all awaitable (never blocking the event loop)."""

    async def ping(self) -> None: ...

    async def create(self, config: Mapping[str, Any], name: str) -> str:
        """The new container's id; ImageMissing, or EngineError for a refused config."""
        ...

    async def start(self, container_id: str) -> None: ...

    async def inspect(self, container_id: str) -> dict[str, Any]:
        """The engine's inspect document; ContainerMissing when it does not exist."""
        ...

    async def kill(self, container_id: str) -> None: ...

    async def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        """``docker update`` with Docker API field names."""
        ...

    async def remove(self, container_id: str) -> None:
        """Force-removes it with its anonymous volumes; ContainerMissing when gone already,
        EngineError 409 while another removal is in progress."""
        ...

    async def containers(self, label: str) -> list[str]:
        """Ids of the containers, in any state, with ``label`` ("k" or "k=v")."""
        ...

    async def volumes(self, label: str) -> list[str]:
        """Names of the volumes with ``label``."""
        ...

    async def remove_volume(self, name: str) -> None:
        """Force-removes a volume; gone already is fine."""
        ...

    async def create_network(
        self, name: str, *, internal: bool, options: Mapping[str, str], labels: Mapping[str, str]
    ) -> None:
        """A bridge network without IPv6, refused (EngineError) if the name is taken."""
        ...

    async def remove_network(self, name: str) -> None:
        """Removes a network; gone already is fine."""
        ...

    async def exec_create(self, container_id: str, spec: ExecSpec) -> str:
        """The exec's id (stdout and stderr attached, no TTY, not privileged)."""
        ...

    def exec_start(self, exec_id: str) -> AbstractAsyncContextManager[ExecStream]:
        """Starts the exec attached; the stream is closed when the context ends."""
        ...

    async def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        """The exec's state: Running, ExitCode, Pid."""
        ...

    def events(self, since: str, filters: Mapping[str, Sequence[str]]) -> AsyncIterator[dict[str, Any]]:
        """The engine's events from ``since`` ("seconds.nanoseconds") on, as they come."""
        ...

    async def reclaim(self, lease_dir: Path, host: str, spare: frozenset[str]) -> GcReport:
        """One round of sandbox.gc: what gone managers left, and sandboxes past their life."""
        ...

    async def close(self) -> None: ...
