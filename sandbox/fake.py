"""An in-memory ``SandboxEngine`` for unit tests of the sandbox package without an engine.

What it does: containers with a status (created, running, paused, exited) and an inspect
document; each container's /work and /tmp are real directories under ``root`` (the
"volumes"), so the package's file operations run for real on the host as they do on an
engine (sandbox.hostfs); events (die, destroy, pause, unpause) for every change, to the
streams opened with ``events``; engine refusals as the engine words them (404 for a gone
container, 409 for an exec in a paused one or a taken network name); ``fail`` makes the
next call of an operation fail with a status of the test's choosing, ``unavailable`` as if
no engine answered.

What it does not simulate: it runs no process. An exec's output and exit code come from
``on_exec`` (argv -> exit code, stdout, stderr; by default 0 and nothing), so an exec
timeout, a kill or anything the kernel does (limits, seccomp, the network) is the
integration tests' to prove on the real engine. Nothing of the container's config is
enforced, images always exist (but ``missing_images``), and reclaiming finds nothing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.config import ROOTS
from sandbox.exceptions import DockerUnavailable
from sandbox.gc import GcReport
from sandbox.port import STDERR, STDOUT, ContainerMissing, EngineError, ExecSpec, ExecStream, ImageMissing

ExecScript = Callable[[ExecSpec], tuple[int, bytes, bytes]]
# The engine's time of a stopped container that never stopped.
NEVER = "0001-01-01T00:00:00Z"


@dataclass
class FakeContainer:
    id: str
    name: str
    config: dict[str, Any]
    mounts: dict[str, str]  # mount point -> host directory
    status: str = "created"
    exit_code: int = 0
    finished_at: str = NEVER
    updates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})

    def inspect(self) -> dict[str, Any]:
        state = {
            "Status": self.status,
            "Running": self.status in ("running", "paused"),
            "Paused": self.status == "paused",
            "Pid": 0,  # no process: host work on it (/proc) finds nothing
            "ExitCode": self.exit_code,
            "OOMKilled": False,
            "FinishedAt": self.finished_at,
        }
        mounts = [{"Destination": d, "Source": s, "Type": "volume"} for d, s in self.mounts.items()]
        return {
            "Id": self.id,
            "Name": f"/{self.name}",
            "Config": {"Image": self.config.get("Image", ""), "Labels": self.labels},
            "HostConfig": dict(self.config.get("HostConfig") or {}),
            "State": state,
            "Mounts": mounts,
            "NetworkSettings": {"Networks": {}},
        }


class _Frames:
    def __init__(self, frames: list[tuple[int, bytes]]) -> None:
        self._frames = frames

    async def read(self) -> tuple[int, bytes] | None:
        return self._frames.pop(0) if self._frames else None


class FakeSandboxEngine:
    """``root``: where the containers' /work and /tmp directories are made."""

    def __init__(self, root: Path, *, on_exec: ExecScript | None = None) -> None:
        self.root = root
        self.on_exec: ExecScript = on_exec or (lambda spec: (0, b"", b""))
        self.made: dict[str, FakeContainer] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.volumes_made: dict[str, dict[str, str]] = {}
        self.missing_images: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.execs: dict[str, tuple[str, ExecSpec, int | None]] = {}
        self._faults: dict[str, Exception] = {}
        self._streams: list[tuple[Mapping[str, Sequence[str]], asyncio.Queue[dict[str, Any] | None]]] = []
        self.closed = False

    # --- the test's controls ---------------------------------------------------------

    def fail(self, operation: str, status: int = 500, message: str = "injected") -> None:
        """The next call of ``operation`` is refused with ``status``."""
        self._faults[operation] = EngineError(status, message)

    def unavailable(self, operation: str) -> None:
        """The next call of ``operation`` finds no engine (refused connection)."""
        self._faults[operation] = DockerUnavailable("connection refused")

    def stop(self, container_id: str, exit_code: int = 137) -> None:
        """The container stops as if killed from outside (the enforcer, its lifetime)."""
        c = self._find(container_id)
        c.status, c.exit_code = "exited", exit_code
        c.finished_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._emit(c, "die", exitCode=str(exit_code))

    def set_paused(self, container_id: str, paused: bool) -> None:
        c = self._find(container_id)
        c.status = "paused" if paused else "running"
        self._emit(c, "pause" if paused else "unpause")

    # --- SandboxEngine ---------------------------------------------------------------

    async def ping(self) -> None:
        self._enter("ping", "")

    async def create(self, config: Mapping[str, Any], name: str) -> str:
        self._enter("create", name)
        image = str(config.get("Image", ""))
        if image in self.missing_images:
            raise ImageMissing(404, f"No such image: {image}")
        if any(c.name == name for c in self.made.values()):
            raise EngineError(409, f'Conflict. The container name "/{name}" is already in use')
        cid = secrets.token_hex(32)
        mounts = {}
        for mount in ROOTS:
            path = self.root / cid / mount.strip("/")
            path.mkdir(parents=True)
            os.chmod(path, 0o777)  # noqa: S103 - a sandbox's own scratch, as the engine's tmpfs
            mounts[mount] = str(path)
        self.made[cid] = FakeContainer(cid, name, dict(config), mounts)
        return cid

    async def start(self, container_id: str) -> None:
        self._enter("start", container_id)
        self._find(container_id).status = "running"

    async def inspect(self, container_id: str) -> dict[str, Any]:
        self._enter("inspect", container_id)
        return self._find(container_id).inspect()

    async def kill(self, container_id: str) -> None:
        self._enter("kill", container_id)
        c = self._find(container_id)
        if c.status != "running":
            raise EngineError(409, f"Container {container_id} is not running")
        self.stop(container_id)

    async def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        self._enter("update", container_id)
        self._find(container_id).updates.append(dict(resources))

    async def remove(self, container_id: str) -> None:
        self._enter("remove", container_id)
        c = self._find(container_id)
        if c.status in ("running", "paused"):
            self.stop(container_id)
        del self.made[c.id]
        self._emit(c, "destroy")

    async def containers(self, label: str) -> list[str]:
        self._enter("containers", label)
        return [c.id for c in self.made.values() if _labelled(c.labels, label)]

    async def volumes(self, label: str) -> list[str]:
        self._enter("volumes", label)
        return [name for name, labels in self.volumes_made.items() if _labelled(labels, label)]

    async def remove_volume(self, name: str) -> None:
        self._enter("remove_volume", name)
        self.volumes_made.pop(name, None)

    async def create_network(
        self, name: str, *, internal: bool, options: Mapping[str, str], labels: Mapping[str, str]
    ) -> None:
        self._enter("create_network", name)
        if name in self.networks:
            raise EngineError(409, f"network with name {name} already exists")
        self.networks[name] = {"internal": internal, "options": dict(options), "labels": dict(labels)}

    async def remove_network(self, name: str) -> None:
        self._enter("remove_network", name)
        self.networks.pop(name, None)

    async def exec_create(self, container_id: str, spec: ExecSpec) -> str:
        self._enter("exec_create", container_id)
        c = self._find(container_id)
        if c.status != "running":
            raise EngineError(409, f"Container {container_id} is {c.status}")
        exec_id = secrets.token_hex(32)
        self.execs[exec_id] = (container_id, spec, None)
        return exec_id

    @asynccontextmanager
    async def exec_start(self, exec_id: str) -> AsyncIterator[ExecStream]:
        self._enter("exec_start", exec_id)
        container_id, spec, _ = self.execs[exec_id]
        code, out, err = self.on_exec(spec)
        self.execs[exec_id] = (container_id, spec, code)
        yield _Frames([(s, data) for s, data in ((STDOUT, out), (STDERR, err)) if data])

    async def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        self._enter("exec_inspect", exec_id)
        _, _, code = self.execs[exec_id]
        return {"Running": code is None, "ExitCode": code, "Pid": 0}

    async def events(self, since: str, filters: Mapping[str, Sequence[str]]) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        entry = (filters, queue)
        self._streams.append(entry)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._streams.remove(entry)

    async def reclaim(self, lease_dir: Path, host: str, spare: frozenset[str]) -> GcReport:
        self._enter("reclaim", str(lease_dir))
        return GcReport()

    async def close(self) -> None:
        self.closed = True
        for _, queue in self._streams:
            queue.put_nowait(None)

    # --- internals -------------------------------------------------------------------

    def _enter(self, operation: str, subject: str) -> None:
        self.calls.append((operation, subject))
        fault = self._faults.pop(operation, None)
        if fault is not None:
            raise fault

    def _find(self, container_id: str) -> FakeContainer:
        for cid, c in self.made.items():
            if container_id in (cid, c.name) or (len(container_id) >= 12 and cid.startswith(container_id)):
                return c
        raise ContainerMissing(404, f"No such container: {container_id}")

    def _emit(self, c: FakeContainer, action: str, **attributes: str) -> None:
        ns = time.time_ns()
        event = {
            "Type": "container", "Action": action, "id": c.id, "time": ns // 1_000_000_000, "timeNano": ns,
            "Actor": {"ID": c.id, "Attributes": {**c.labels, "name": c.name, **attributes}},
        }  # fmt: skip
        for filters, queue in self._streams:
            wanted = filters.get("event")
            labels = filters.get("label") or ()
            if (not wanted or action in wanted) and all(_labelled(c.labels, sel) for sel in labels):
                queue.put_nowait(event)


def _labelled(labels: Mapping[str, str], selector: str) -> bool:
    """Docker's label filter: "k" (has it) or "k=v" (has it with that value)."""
    key, sep, value = selector.partition("=")
    return key in labels and (not sep or labels[key] == value)
