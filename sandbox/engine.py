"""What every sandbox of one manager shares: the engine's clients, the thread pool for the
blocking Docker SDK, the exec runner, the path checker, the networks, the publisher."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import docker.errors

from sandbox.audit import AuditPublisher
from sandbox.engine_http import EngineHTTP
from sandbox.exceptions import DockerUnavailable, SandboxError, ValidationDenied
from sandbox.execution import ExecRunner
from sandbox.metrics import ManagerMetrics
from sandbox.networks import Networks
from sandbox.paths import MountSources, PathChecker
from sandbox.workspace import WorkspaceStore

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    host: str
    image: str
    exec_timeout: float
    output_limit: int
    list_limit: int
    runtime: str | None


def engine_url(api: Any) -> str:
    """The engine's address as the SDK client has it (a unix socket, or tcp)."""
    socket_path = getattr(getattr(api, "_custom_adapter", None), "socket_path", None)
    return f"unix://{socket_path}" if socket_path else str(api.base_url)


class Engine:
    def __init__(
        self,
        client: Any,
        *,
        workers: int,
        manager_id: str,
        labels: Mapping[str, str],
        publisher: AuditPublisher,
        metrics: ManagerMetrics,
        options: SandboxOptions,
        workspaces: WorkspaceStore | None = None,
    ) -> None:
        self.client = client
        self.api = getattr(client, "api", client)  # a DockerClient, or its low-level APIClient
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sandguard-{manager_id}")
        self.http = EngineHTTP(engine_url(self.api), self.api.api_version)
        self.runner = ExecRunner(self.http, executor=self.executor)
        self.paths = PathChecker(MountSources(self.api), self.call)
        self.networks = Networks(self.api, executor=self.executor, manager_id=manager_id, labels=labels)
        self.publisher = publisher
        self.metrics = metrics
        self.options = options
        self.workspaces = workspaces  # None: /work and /tmp are tmpfs (sandbox.config)
        self.totals: Counter[str] = Counter()

    async def call(self, fn: Callable[[], T]) -> T:
        """A blocking SDK call on the pool; an unreachable engine is DockerUnavailable."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn)
        except (SandboxError, ValidationDenied, docker.errors.DockerException):
            raise  # ours, a denial (a PermissionError), or the engine's answer (APIError is an OSError)
        except OSError as exc:  # requests' connection errors and timeouts are OSErrors
            raise DockerUnavailable(str(exc)) from exc

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
