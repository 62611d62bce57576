"""What every sandbox of one manager shares: the engine (the ``SandboxEngine`` port), the
thread pool for blocking host work (the sandbox's storage, /proc), the exec runner, the
path checker, the networks, the publisher."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from sandbox.audit import AuditPublisher
from sandbox.exceptions import DockerUnavailable, SandboxError, ValidationDenied
from sandbox.execution import ExecRunner
from sandbox.metrics import ManagerMetrics
from sandbox.networks import Networks
from sandbox.paths import MountSources, PathChecker
from sandbox.port import EngineError, SandboxEngine
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


class Engine:
    def __init__(
        self,
        port: SandboxEngine,
        executor: ThreadPoolExecutor,
        *,
        manager_id: str,
        labels: Mapping[str, str],
        publisher: AuditPublisher,
        options: SandboxOptions,
        workspaces: WorkspaceStore | None = None,
    ) -> None:
        self.port = port
        self.executor = executor
        self.runner = ExecRunner(port, executor=self.executor)
        self.paths = PathChecker(MountSources(port), self.call)
        self.networks = Networks(port, manager_id=manager_id, labels=labels)
        self.publisher = publisher
        self.metrics: ManagerMetrics = publisher.metrics  # the manager's, which its events count in
        self.options = options
        self.workspaces = workspaces  # None: /work and /tmp are tmpfs (sandbox.config)
        self.totals: Counter[str] = Counter()

    async def call(self, fn: Callable[[], T]) -> T:
        """Blocking host work on the pool; an unreachable engine is DockerUnavailable."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn)
        except (SandboxError, ValidationDenied, EngineError):
            raise  # ours, a denial (a PermissionError), or the engine's answer
        except OSError as exc:
            raise DockerUnavailable(str(exc)) from exc

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
