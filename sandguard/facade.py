"""The public classes with embedded defaults. ``sandguard.SandboxManager`` is
``EmbeddedSandboxManager`` (and ``sandguard.SandboxSecurityManager`` is
``EmbeddedSecurityManager``): the seed's names, kept by the package's exports, for the
component's classes with a pipeline of their own. ``SandboxManager(security_policy=policy)``
gives hardened sandboxes with monitoring, detection, enforcement and history on, in
this process, with no service to run besides the Docker engine.

Give ``bus=`` (a ``KafkaBus``) and ``reports=`` to use a distributed deployment instead:
then this process only creates and runs sandboxes, and publishes what it does. A bus
that is not running yet is started by ``start()`` (or ``async with``), before anything
is published, and stopped by ``cleanup()``; one the caller started stays the caller's.
With ``kernel_gate=True`` (off by default: a manager on Kafka with no collector would
refuse every sandbox) ``create_sandbox`` waits until the host's collector says its kernel
layer watches the new sandbox (docs/kernel.md): refused after ``kernel_gate_timeout_s``
(15 s) in policy mode enforce (KernelCoverageError), a warning in audit mode.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sandbox import SandboxManager, SandboxSecurityManager
from sandguard.bus import KafkaBus, LocalBus
from sandguard.coverage import COVER_TIMEOUT_S, CoverageGate
from sandguard.embedded import EmbeddedPipeline, PipelineOptions
from sandguard.settings import Settings
from schemas import Bus, ReportSource, SecurityPolicy, labels

# Under the data directory: the audit events a manager could not publish yet (durable).
AUDIT_SPILL_DIR = "audit-spill"


class EmbeddedSandboxManager(SandboxManager):
    """Hardened sandboxes, watched live, judged and enforced (see ``sandbox.SandboxManager``).

    Embedded by default: a pipeline of its own (collector, processor, enforcer, sink)
    watches and acts on this manager's sandboxes only, and keeps their history in the
    process's embedded ClickHouse engine under ``data_dir``. ``monitoring=False`` (or a
    policy with ``enable_monitoring=False``) runs sandboxes without the pipeline.
    """

    def __init__(
        self,
        security_policy: SecurityPolicy | None = None,
        *,
        bus: Bus | None = None,
        reports: ReportSource | None = None,
        data_dir: str | Path | None = None,
        monitoring: bool | None = None,
        audit_only: bool = False,
        sample_interval_s: float = 1.0,
        settings: Settings | None = None,
        registry: CollectorRegistry | None = None,
        kernel_gate: bool = False,
        kernel_gate_timeout_s: float = COVER_TIMEOUT_S,
        **options: Any,
    ) -> None:
        settings = settings or Settings()
        self._coverage = _coverage_gate(bus, kernel_gate, kernel_gate_timeout_s)
        policy = security_policy or settings.load_default_policy()
        self._pipeline: EmbeddedPipeline | None = None
        self._own_bus: LocalBus | None = None
        self._given_bus: Bus | None = bus
        self._started_given_bus = False
        if bus is None:
            self._own_bus = bus = LocalBus()
        registry = registry if registry is not None else CollectorRegistry()
        options.setdefault("workspace", settings.workspace)
        options.setdefault("workspace_dir", str(settings.workspace_dir))
        directory = Path(data_dir) if data_dir is not None else settings.data_dir
        # Audit events the bus did not take wait on disk here (sandbox.audit): one per bus.
        options.setdefault("spill_dir", str(directory / AUDIT_SPILL_DIR))
        super().__init__(policy, bus=bus, reports=reports, registry=registry, **options)
        if self._coverage is not None:
            self.exec_gate = self._coverage
        if self._own_bus is None or not (policy.enable_monitoring if monitoring is None else monitoring):
            return
        label = labels.manager_selector(self.manager_id)
        self._pipeline = EmbeddedPipeline(
            PipelineOptions(
                host=self.host,
                data_dir=directory,
                enforcer_state_dir=directory / "enforcer" / self.manager_id,
                default_policy=policy,
                watch_label=label,
                enforcer_labels={labels.SANDBOX: "1", labels.MANAGER: self.manager_id},
                interval_s=sample_interval_s,
                audit_only=audit_only,
            ),
            bus=self._own_bus,
            registry=registry,
        )
        self.exec_gate = self._pipeline.kernel_covered
        if reports is None:
            self._reports = self._pipeline.reports

    @property
    def pipeline(self) -> EmbeddedPipeline | None:
        """The embedded pipeline behind this manager (None when monitoring is off or remote)."""
        return self._pipeline

    async def start(self) -> None:
        """Starts the bus (raising BusUnavailableError at once when Kafka cannot be
        reached), the embedded pipeline if any, then the manager (idempotent)."""
        await self._start_given_bus()
        if self._coverage is not None:
            await self._coverage.start()  # positioned before the first sandbox exists
        if self._own_bus is not None and self._pipeline is None:
            await self._own_bus.start()  # idempotent
        if self._pipeline is not None and self._pipeline.is_new:
            await self._pipeline.start()
        await super().start()

    async def _start_given_bus(self) -> None:
        bus = self._given_bus
        running = getattr(
            bus, "is_running", None
        )  # KafkaBus and LocalBus say; duck-typed to keep aiokafka lazy
        if bus is None or not isinstance(running, bool) or running:
            return  # running already, or a Bus that does not say: its lifecycle is the caller's
        await bus.start()
        self._started_given_bus = True

    async def cleanup(self) -> None:
        """Destroys every sandbox, then lets the pipeline judge and store what it saw;
        a bus this manager started is flushed and stopped last."""
        try:
            await super().cleanup()
        finally:
            if self._coverage is not None:
                await self._coverage.stop()
            if self._started_given_bus and self._given_bus is not None:
                self._started_given_bus = False
                await self._given_bus.stop()
        if self._pipeline is not None:
            await self._pipeline.stop()
            # Nothing replays into an in-process bus once it is gone: the ledger has no more use.
            ledger = self._pipeline.options.enforcer_state_dir
            if ledger is not None:
                await asyncio.to_thread(shutil.rmtree, ledger, True)
        elif self._own_bus is not None:
            await self._own_bus.stop()


def _coverage_gate(bus: Bus | None, wanted: bool, timeout_s: float) -> CoverageGate | None:
    """``kernel_gate=True``: the exec gate on Kafka (sandguard.coverage); it needs a KafkaBus."""
    if not wanted:
        return None
    if not isinstance(bus, KafkaBus):
        raise TypeError("kernel_gate=True needs bus=KafkaBus(...) (it reads the collector's kernel_covered)")
    return CoverageGate(bus, timeout_s=timeout_s)


class EmbeddedSecurityManager(SandboxSecurityManager):
    """The original API's security manager; without a manager or bus it makes an
    ``EmbeddedSandboxManager`` of its own (removed by ``cleanup``)."""

    def __init__(
        self,
        security_policy: SecurityPolicy | None = None,
        *,
        manager: SandboxManager | None = None,
        bus: Bus | None = None,
        **options: Any,
    ) -> None:
        owns = manager is None and bus is None
        if owns:
            manager = EmbeddedSandboxManager(security_policy, **options)
            options = {}
        super().__init__(security_policy, manager=manager, bus=bus, **options)
        self._owns_manager = owns or self._owns_manager
