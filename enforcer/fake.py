"""An in-memory ``DockerPort`` for what the real engine cannot be made to do on demand.

Integration tests use the real engine for every action and every state a container
can be in. This fake exists for the rest: an engine error in the middle of an action
(``fail``), an engine that stops answering (``unavailable``), an action whose effect
lands although the engine reports an error, and fast unit tests of the enforcer's
decisions. It follows the engine's observable rules where the enforcer relies on them:
pausing a paused container is a 409, unpausing a running one a 500, acting on a removed
one a 404, NanoCpus and CpuQuota exclude each other.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from enforcer.exceptions import (
    ContainerNotFoundError,
    DockerActionError,
    DockerPortError,
    EngineUnavailableError,
)
from enforcer.port import API_FIELDS, ObservedContainer


class FakeDocker:
    """Containers by full id; ``calls`` records every operation that reached the engine."""

    def __init__(self, containers: Mapping[str, ObservedContainer] | None = None) -> None:
        self.containers: dict[str, ObservedContainer] = dict(containers or {})
        self.calls: list[tuple[str, str]] = []
        self._faults: list[tuple[str, DockerPortError, bool]] = []
        self._lock = threading.Lock()

    def add(self, state: ObservedContainer) -> ObservedContainer:
        self.containers[state.id] = state
        return state

    def fail(
        self, operation: str, *, status: int = 500, reason: str = "injected", apply: bool = False
    ) -> None:
        """The next ``operation`` answers ``status``; with ``apply`` its effect lands anyway."""
        self._faults.append((operation, DockerActionError("", operation, status, reason), apply))

    def unavailable(self, operation: str, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` find no engine."""
        for _ in range(times):
            self._faults.append(
                (operation, EngineUnavailableError("", operation, "connection refused"), False)
            )

    def inspect(self, container_id: str) -> ObservedContainer:
        self._enter("inspect", container_id)
        return self._find(container_id, "inspect")

    def update(self, container_id: str, resources: Mapping[str, int]) -> None:
        late = self._enter("update", container_id)
        state = self._find(container_id, "update")
        if "CpuQuota" in resources and state.nano_cpus and resources.get("NanoCpus", state.nano_cpus):
            raise DockerActionError(container_id, "update", 409, "Conflicting options: NanoCPUs already set")
        changes: dict[str, Any] = {API_FIELDS[k]: v for k, v in resources.items()}
        self._set(replace(state, **changes), late)

    def pause(self, container_id: str) -> None:
        late = self._enter("pause", container_id)
        state = self._find(container_id, "pause")
        if state.status != "running":
            raise DockerActionError(container_id, "pause", 409, f"container is {state.status}")
        self._set(replace(state, status="paused"), late)

    def unpause(self, container_id: str) -> None:
        late = self._enter("unpause", container_id)
        state = self._find(container_id, "unpause")
        if state.status != "paused":
            raise DockerActionError(container_id, "unpause", 500, "container is not paused")
        self._set(replace(state, status="running"), late)

    def stop(self, container_id: str) -> None:
        late = self._enter("stop", container_id)
        state = self._find(container_id, "stop")
        self._set(replace(state, status="exited"), late)

    def remove(self, container_id: str) -> None:
        late = self._enter("remove", container_id)
        state = self._find(container_id, "remove")
        with self._lock:
            del self.containers[state.id]
        if late is not None:
            raise late

    # --- internals ----------------------------------------------------------------

    def _enter(self, operation: str, container_id: str) -> DockerActionError | None:
        """Records the call; raises the next fault injected for it, or returns it when the
        fault comes after the effect (the caller raises it once the effect landed)."""
        with self._lock:
            self.calls.append((operation, container_id))
            for i, (op, exc, late) in enumerate(self._faults):
                if op == operation:
                    del self._faults[i]
                    if late and isinstance(exc, DockerActionError):
                        return exc
                    raise exc
        return None

    def _find(self, container_id: str, operation: str) -> ObservedContainer:
        with self._lock:
            for cid, state in self.containers.items():
                if cid.startswith(container_id) and len(container_id) >= 12:
                    return state
        raise ContainerNotFoundError(container_id, operation)

    def _set(self, state: ObservedContainer, late: DockerActionError | None = None) -> None:
        """Stores the new state; then raises a fault injected to come after the effect."""
        with self._lock:
            self.containers[state.id] = state
        if late is not None:
            raise late
