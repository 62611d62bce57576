"""SandboxManager: hardened sandboxes on a Docker engine, with the seed's API.

Creates each sandbox from a SecurityPolicy (sandbox.config), puts its network policy in
force (sandbox.networks), publishes its policy and audit events on the bus it is given,
and follows what happens to it: the engine's events (stopped, paused) and the
enforcer's results and the processors' violations from the bus. Blocking Docker SDK
calls run on the manager's own thread pool, never on the event loop.

Lifecycle: made, started by the first call that needs the engine (or ``start()``, or
``async with``), closed by ``cleanup()``, which removes every container, volume,
network and host rule it made. A closed manager refuses to work (ManagerClosed).
While it runs it holds a lease (sandbox.lease) and reclaims what managers that died
without a cleanup left, and ends sandboxes past their lifetime (sandbox.gc).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog
from prometheus_client import CollectorRegistry

from common.docker_events import EventFollower
from sandbox import audit, workspaces
from sandbox import labels as lb
from sandbox.audit import AuditPublisher
from sandbox.config import DEFAULT_IMAGE, check_policy_fits, container_config
from sandbox.docker_engine import DockerSandboxEngine
from sandbox.docker_sandbox import DockerSandbox, remove_container
from sandbox.engine import Engine, SandboxOptions
from sandbox.engine_events import container_events
from sandbox.exceptions import (
    KernelCoverageError,
    ManagerClosed,
    NetworkSetupError,
    SandboxCreateError,
    SandboxNotFound,
)
from sandbox.follower import SandboxFollower
from sandbox.gate import ExecGate
from sandbox.keeper import LeaseKeeper
from sandbox.lease import Lease, lease_dir
from sandbox.metrics import ManagerMetrics
from sandbox.oom import protect_core
from sandbox.port import EngineError, ImageMissing, SandboxEngine
from sandbox.record import SandboxRecord
from sandbox.report import local_report, manager_stats, merge_reports
from sandbox.results import ExecResult, FileInfo, utc_now
from sandbox.validation import Operation
from sandbox.watcher import EnforcementWatcher
from sandbox.workspace import DEFAULT_ROOT as DEFAULT_WORKSPACE_ROOT
from schemas import Bus, Lifecycle, PolicyMode, ReportSource, SecurityPolicy

log = structlog.get_logger(__name__)

DEFAULT_EXEC_TIMEOUT_S = 60.0
# 1 MiB per stream: a screenful of logs many times over, small enough to hold 20 at once.
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
DEFAULT_LIST_LIMIT = 10_000
# Threads for blocking SDK calls: 20 concurrent creates use 20; reads and writes of other
# sandboxes must not wait behind them. Threads are cheap; the engine serialises anyway.
DEFAULT_WORKERS = 48
# Destroyed sandboxes kept for reports and "destroyed" answers: ~1 KB each.
GRAVEYARD = 1000


class SandboxManager:
    """Creates and runs hardened sandboxes; see the module docstring for the lifecycle.

    ``bus`` receives the policies, lifecycle and audit events and carries the
    enforcer's results back (start and stop it yourself); ``reports`` (optional) is the
    history behind ``get_security_report``; ``docker_client`` defaults to the engine of
    the environment (DOCKER_HOST or the local socket); ``port`` replaces the engine
    altogether (a ``SandboxEngine``: sandbox.fake's for tests without one; ``cleanup()``
    closes it). ``workspace`` "disk" (the default:
    /work and /tmp on ext4 images in ``workspace_dir``, needs root on the engine's host)
    or "tmpfs" (charged to the sandbox's memory; for a remote engine). ``spill_dir`` keeps
    audit events the bus did not take on disk (sandbox.audit): none is lost with a crash.
    """

    def __init__(
        self,
        security_policy: SecurityPolicy | None = None,
        *,
        bus: Bus,
        docker_client: Any | None = None,
        port: SandboxEngine | None = None,
        reports: ReportSource | None = None,
        host: str | None = None,
        image: str = DEFAULT_IMAGE,
        exec_timeout: float = DEFAULT_EXEC_TIMEOUT_S,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        list_limit: int = DEFAULT_LIST_LIMIT,
        labels: Mapping[str, str] | None = None,
        runtime: str | None = None,
        registry: CollectorRegistry | None = None,
        watch_enforcement: bool = True,
        workers: int = DEFAULT_WORKERS,
        workspace: str = workspaces.DISK,
        workspace_dir: str = DEFAULT_WORKSPACE_ROOT,
        lease_directory: str | None = None,
        exec_gate: ExecGate | None = None,
        spill_dir: str | None = None,
    ) -> None:
        self.security_policy = security_policy or SecurityPolicy()
        check_policy_fits(self.security_policy)
        self.manager_id = secrets.token_hex(4)
        self.host = host or socket.gethostname()
        self._bus = bus
        self._client = docker_client
        self._port = port
        self._reports = reports
        self._user_labels = lb.check_user_labels(labels)
        self._labels = lb.manager_labels(self.manager_id, self.host, self._user_labels)
        self._keeper = LeaseKeeper(Lease(lease_dir(lease_directory), self.manager_id), host=self.host)
        self._options = SandboxOptions(self.host, image, exec_timeout, output_limit, list_limit, runtime)
        self._workers = workers
        self._workspaces = workspaces.store_for(workspace, workspace_dir, self.manager_id)
        self._watch_enforcement = watch_enforcement
        self.metrics = ManagerMetrics(registry)
        self.metrics.active.set_function(lambda: sum(1 for s in self._sandboxes.values() if s.record.active))
        spill = None if spill_dir is None else Path(spill_dir)
        self._publisher = AuditPublisher(bus, self.metrics, spill_dir=spill, owner=self.manager_id)
        self._state = Lifecycle.NEW
        self._start_lock = asyncio.Lock()
        self._engine: Engine | None = None
        self._events: EventFollower | None = None
        self._watcher: EnforcementWatcher | None = None
        self._sandboxes: dict[str, DockerSandbox] = {}
        self._graveyard: OrderedDict[str, SandboxRecord] = OrderedDict()
        self._follower: SandboxFollower | None = None
        # Awaited before create_sandbox returns: True once the kernel layer watches the new
        # sandbox (or none runs), so no command runs in it unseen or with blocked programs alive.
        self.exec_gate = exec_gate

    # --- lifecycle --------------------------------------------------------------

    @property
    def state(self) -> Lifecycle:
        return self._state

    @property
    def labels(self) -> dict[str, str]:
        """Labels on every container, volume and network this manager creates."""
        return dict(self._labels)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.cleanup()

    async def start(self) -> None:
        """Connects to the engine and starts following events (idempotent)."""
        if self._state is Lifecycle.STOPPED:
            raise ManagerClosed(self.manager_id)
        async with self._start_lock:
            if self._state is Lifecycle.RUNNING:
                return
            if await asyncio.to_thread(self._keeper.take):
                lease = str(self._keeper.lease.directory)
                self._labels = lb.manager_labels(self.manager_id, self.host, self._user_labels, lease=lease)
            await self._publisher.open()  # a durable spill: dead managers' events go out first
            engine = await self._connect()
            self._engine = engine
            follower = self._follower = SandboxFollower(self._sandboxes, engine)
            self._events = container_events(
                engine.port,
                label=lb.manager_selector(self.manager_id),
                on_event=follower.on_engine_event,
                metrics=self.metrics,
            )
            self._events.start()
            if self._watch_enforcement:
                self._watcher = EnforcementWatcher(
                    self._bus,
                    group=f"sandbox-manager.{self.host}.{self.manager_id}",
                    metrics=self.metrics,
                    on_action=follower.on_action,
                    on_violation=follower.on_violation,
                    on_command=follower.on_command,
                    wanted=self._sandboxes.__contains__,
                )
                await self._watcher.start()
            await self._keeper.reclaim(engine.port)
            self._keeper.start(engine.port)
            self._state = Lifecycle.RUNNING
            log.info("sandbox_manager_started", manager_id=self.manager_id, host=self.host)

    async def _connect(self) -> Engine:
        executor = ThreadPoolExecutor(self._workers, thread_name_prefix=f"sandguard-{self.manager_id}")
        try:
            if self._port is None:
                pool = self._workers
                self._port = await DockerSandboxEngine.connect(self._client, executor=executor, pool=pool)
            await self._port.ping()
        except BaseException:
            executor.shutdown(wait=False)  # a start that failed leaves no threads behind
            raise
        return Engine(
            self._port,
            executor,
            manager_id=self.manager_id,
            labels=self._labels,
            publisher=self._publisher,
            options=self._options,
            workspaces=self._workspaces,
        )

    async def _ready(self) -> Engine:
        if self._state is not Lifecycle.RUNNING:
            await self.start()
        assert self._engine is not None  # set by start()
        return self._engine

    async def engine(self) -> Engine:
        """The started engine services (for SandboxSecurityManager)."""
        return await self._ready()

    @property
    def publisher(self) -> AuditPublisher:
        """Where this manager's policies and audit events go (for SandboxSecurityManager)."""
        return self._publisher

    async def cleanup(self) -> None:
        """Destroys every sandbox and removes every resource and host rule this manager made."""
        if self._state is Lifecycle.STOPPED:
            return
        engine = self._engine
        if engine is not None:
            results = await asyncio.gather(
                *(self._destroy(sb, "cleanup") for sb in list(self._sandboxes.values())),
                return_exceptions=True,
            )
            for failure in (r for r in results if isinstance(r, BaseException)):
                log.error("cleanup_destroy_failed", error=repr(failure))
            await self._remove_leftovers(engine)
            await workspaces.close(engine)
            await engine.networks.close()
            await self._keeper.reclaim(engine.port)
        if not await self._publisher.flush():
            log.error("audit_events_undelivered_at_close", spilled=self._publisher.spilled)
        await self._publisher.close()
        await self._stop_background()
        if engine is not None:
            await engine.port.close()
            engine.close()
        self._state = Lifecycle.STOPPED
        log.info("sandbox_manager_closed", manager_id=self.manager_id)

    async def _stop_background(self) -> None:
        await self._keeper.stop()
        if self._watcher is not None:
            await self._watcher.stop()
        if self._events is not None:
            await self._events.stop()
        if self._follower is not None:
            await self._follower.stop()

    async def _remove_leftovers(self, engine: Engine) -> None:
        """Anything with our label the bookkeeping lost (a create interrupted mid-way)."""
        await workspaces.remove_labelled(engine, lb.manager_selector(self.manager_id), "leftover")

    # --- sandboxes --------------------------------------------------------------

    async def create_sandbox(
        self,
        image: str | None = None,
        policy: SecurityPolicy | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Creates and starts a sandbox; returns its id (the container id)."""
        engine = await self._ready()
        policy = policy or self.security_policy
        check_policy_fits(policy)
        user_labels = lb.check_user_labels(labels)
        image = image or self._options.image
        started = time.monotonic()
        name = f"sandguard-{self.manager_id}-{secrets.token_hex(4)}"
        created_at = utc_now()
        expires_at = created_at + timedelta(seconds=policy.resource_limits.execution_timeout)
        network = await engine.networks.network_for(policy.network_policy)
        storage = await workspaces.make_for(engine, name, policy, image)
        body = self._config(
            policy,
            image=image,
            name=name,
            network=network,
            expires=int(expires_at.timestamp()),
            user=user_labels,
            workspace=storage.devices() if storage else None,
        )
        try:
            container_id = await self._start_container(engine, body, name, image)
        except BaseException:
            await workspaces.release_for(engine, storage)
            raise
        record = SandboxRecord(container_id, name, image, policy, user_labels, created_at, expires_at)
        record.monitored = policy.enable_monitoring
        sandbox = DockerSandbox(record, engine, workspace=storage)
        self._sandboxes[container_id] = sandbox
        await self._attach_network(engine, sandbox)
        await self._await_gate(sandbox)
        if self._follower is not None:
            self._follower.schedule_expiry(sandbox)
        engine.totals["created"] += 1
        self.metrics.created.inc()
        self.metrics.create_seconds.observe(time.monotonic() - started)
        await self._announce(sandbox, network)
        return container_id

    def _config(
        self,
        policy: SecurityPolicy,
        *,
        image: str,
        name: str,
        network: str | None,
        expires: int,
        user: dict[str, str],
        workspace: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        labels = lb.sandbox_labels(
            self._labels,
            name=name,
            policy_id=policy.policy_id,
            policy_name=policy.name,
            network_policy=policy.network_policy.value,
            expires_at=expires,
            user=user,
            mode=policy.mode.value,
            blocked=policy.blocked_commands,
            workspace_exec=policy.allow_workspace_exec,
        )
        return container_config(
            policy,
            image=image,
            labels=labels,
            network_name=network,
            volume_labels=self._labels,
            runtime=self._options.runtime,
            workspace=workspace,
        )

    async def _start_container(self, engine: Engine, body: dict[str, Any], name: str, image: str) -> str:
        try:
            container_id = await engine.port.create(body, name)
        except ImageMissing as exc:
            self.metrics.create_failures.inc()
            raise SandboxCreateError(image, "image not found (nothing is pulled: build it locally)") from exc
        except EngineError as exc:
            self.metrics.create_failures.inc()
            raise SandboxCreateError(image, exc.message) from exc
        try:
            await engine.port.start(container_id)
            info = await engine.port.inspect(container_id)
        except EngineError as exc:
            self.metrics.create_failures.inc()
            await remove_container(engine, container_id)
            raise SandboxCreateError(image, f"start failed: {exc.message}") from exc
        await engine.call(lambda: protect_core(int(info["State"]["Pid"])))
        return container_id

    async def _await_gate(self, sandbox: DockerSandbox) -> None:
        """Enforce mode: a sandbox the kernel layer does not watch in time is refused (fail
        closed); audit mode: said (log, audit event) and kept."""
        if self.exec_gate is None:
            return
        answer = await self.exec_gate(sandbox.id)
        if answer.covered:
            return
        enforce = sandbox.policy.mode is PolicyMode.ENFORCE
        reason = f"the kernel layer did not start watching it in time: {answer.reason or 'no answer'}"
        await self._publisher.audit(audit.lifecycle(
            sandbox.id, self.host, "kernel_uncovered", reason=reason, mode=answer.mode, refused=enforce
        ))  # fmt: skip
        if not enforce:
            log.warning("kernel_uncovered_audit_mode", sandbox_id=sandbox.id[:12], reason=reason)
            return
        self.metrics.create_failures.inc()
        self._sandboxes.pop(sandbox.id, None)
        await sandbox.remove()
        raise KernelCoverageError(sandbox.record.image, reason)

    async def _attach_network(self, engine: Engine, sandbox: DockerSandbox) -> None:
        try:
            sandbox.rules = await engine.networks.attach(
                sandbox.id, sandbox.policy.network_policy, sandbox.policy.allowed_ports
            )
        except NetworkSetupError:
            self.metrics.create_failures.inc()
            self._sandboxes.pop(sandbox.id, None)
            await sandbox.remove()
            raise

    async def _announce(self, sandbox: DockerSandbox, network: str | None) -> None:
        r = sandbox.record
        await self._publisher.policy(
            audit.policy_event(r.sandbox_id, self.host, r.policy, name=r.name, image=r.image, labels=r.labels)
        )
        await self._publisher.audit(
            audit.lifecycle(
                r.sandbox_id,
                self.host,
                "create",
                name=r.name,
                image=r.image,
                policy_id=r.policy.policy_id,
                network=network or "none",
                expires_at=r.expires_at.isoformat(),
                manager_id=self.manager_id,
            )
        )

    def sandbox(self, sandbox_id: str) -> DockerSandbox:
        """The sandbox object (SandboxNotFound when unknown or destroyed)."""
        if self._state is Lifecycle.STOPPED:
            raise ManagerClosed(self.manager_id)
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            reason = (
                "destroyed" if sandbox_id in self._graveyard else "no sandbox with this id in this manager"
            )
            raise SandboxNotFound(sandbox_id, reason)
        return sandbox

    def knows(self, sandbox_id: str) -> bool:
        """A live sandbox of this manager?"""
        return sandbox_id in self._sandboxes

    def list_sandboxes(self) -> list[str]:
        return list(self._sandboxes)

    async def destroy_sandbox(self, sandbox_id: str) -> None:
        await self._destroy(self.sandbox(sandbox_id), "destroy_sandbox")

    async def _destroy(self, sandbox: DockerSandbox, reason: str) -> None:
        previous = sandbox.status
        if self._follower is not None:
            self._follower.forget(sandbox.id)
        self._sandboxes.pop(sandbox.id, None)
        self._bury(sandbox.record)
        await sandbox.remove()
        if self._engine is not None:
            self._engine.totals["destroyed"] += 1
        await self._publisher.audit(
            audit.lifecycle(sandbox.id, self.host, "destroy", reason=reason, previous_status=previous.value)
        )
        await self._publisher.tombstone(sandbox.id)

    def _bury(self, record: SandboxRecord) -> None:
        self._graveyard[record.sandbox_id] = record
        while len(self._graveyard) > GRAVEYARD:
            self._graveyard.popitem(last=False)

    # --- operations (the seed's API) ---------------------------------------------

    async def execute(
        self,
        sandbox_id: str,
        command: str | Sequence[str],
        timeout: float | None = None,  # noqa: ASYNC109 - bounds the command in the sandbox, not this call
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
    ) -> ExecResult:
        await self._ready()
        return await self.sandbox(sandbox_id).execute(command, timeout=timeout, env=env, workdir=workdir)

    async def write_file(self, sandbox_id: str, path: str, data: bytes | str, *, mode: int = 0o644) -> str:
        await self._ready()
        return await self.sandbox(sandbox_id).write_file(path, data, mode=mode)

    async def read_file(self, sandbox_id: str, path: str) -> bytes:
        await self._ready()
        return await self.sandbox(sandbox_id).read_file(path)

    async def list_files(
        self, sandbox_id: str, path: str = "/work", *, recursive: bool = False, limit: int | None = None
    ) -> list[FileInfo]:
        await self._ready()
        return await self.sandbox(sandbox_id).list_files(path, recursive=recursive, limit=limit)

    async def validate_command_execution(self, sandbox_id: str, command: str | Sequence[str]) -> bool:
        """Would the sandbox's policy allow this command? A question, so no event."""
        return self.sandbox(sandbox_id).check_command(command)

    async def validate_file_operation(
        self, sandbox_id: str, path: str, operation: Operation = "read"
    ) -> bool:
        """Would the policy allow this path (symlinks resolved inside the sandbox)? No event."""
        await self._ready()
        return await self.sandbox(sandbox_id).check_file(path, operation)

    # --- reports ----------------------------------------------------------------

    def _record(self, sandbox_id: str) -> SandboxRecord:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is not None:
            return sandbox.record
        if sandbox_id in self._graveyard:
            return self._graveyard[sandbox_id]
        raise SandboxNotFound(sandbox_id)

    def monitored_count(self) -> int:
        return sum(1 for s in self._sandboxes.values() if s.record.monitored and s.record.active)

    async def get_security_report(self, sandbox_id: str) -> dict[str, Any]:
        """What the manager knows (policy, status, denials, actions, violations), completed
        by the history when a ReportSource was given."""
        record = self._record(sandbox_id)
        report = local_report(record, monitored_containers=self.monitored_count(), now=utc_now())
        if self._reports is None:
            return report
        return merge_reports(report, await self.history(sandbox_id))

    async def history(self, container_id: str) -> dict[str, Any]:
        """The ReportSource's report ({} without one; a failure is logged, counted and
        returned as ``history_error``, the local report still stands)."""
        if self._reports is None:
            return {}
        try:
            return dict(await asyncio.to_thread(self._reports.security_report, container_id))
        except Exception as exc:
            self.metrics.errors.labels("report_source").inc()
            log.exception("history_report_failed", container_id=container_id, error=repr(exc))
            return {"history_error": str(exc)}

    def get_stats(self) -> dict[str, Any]:
        totals = self._engine.totals if self._engine is not None else {}
        return manager_stats(
            (s.record for s in self._sandboxes.values()),
            totals=totals,
            manager_id=self.manager_id,
            host=self.host,
        )
