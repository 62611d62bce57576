"""The embedded mode: every component in one process, wired by an in-process bus.

The collector, the processor (the same pure engine as the Faust workers), the enforcer
and the sink run as tasks on one event loop, talking only through ``LocalBus`` with the
topic names, keys and event models of the distributed mode; the history goes to the
ClickHouse engine in-process (chdb). Consumers start before producers, because the
in-process bus hands a group only what is published after it subscribed (compacted
topics excepted).

chdb opens one data directory per process, so the store is shared by every pipeline of
the process (``shared_store``) and stays open until the process exits: closing the engine
has been seen to hang, and an insert is durable once it returns.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge

from collectors import Collector, CollectorConfig
from enforcer import DockerEngine, Enforcer
from processors.runner import ProcessorRunner
from reporting import ClickHouseStore, HistoryReports, Sink, open_store
from sandbox.gate import Coverage
from sandguard.bus import LocalBus
from sandguard.datadir import lock_data_dir
from sandguard.settings import Settings
from schemas import Bus, Lifecycle, SecurityPolicy, Store, labels

log = structlog.get_logger(__name__)

# Groups of the embedded components; distinct from the distributed defaults so a
# replay from Kafka never confuses the two.
SINK_GROUP = "sandguard-embedded-sink"
PROCESSOR_GROUP = "sandguard-embedded-processor"
ENFORCER_GROUP = "sandguard-embedded-enforcer"
# The sink batches up to 0.5 s in embedded mode: reports see a sandbox's events within
# about a second, at a few inserts per second (the engine prefers fewer, larger parts).
SINK_MAX_DELAY_S = 0.5
# At stop, consumers get up to 10 s to finish what is queued: at the embedded rates
# (thousands of events/s) that is far more than a full queue needs.
DRAIN_TIMEOUT_S = 10.0
DRAIN_POLL_S = 0.1

SPILL_METRICS = {
    "waiting": "Records for the sink waiting in the bus's spill (the store is behind)",
    "spilled": "Records for the sink that went through the spill, in total",
    "dropped": "Oldest records for the sink dropped past the spill's bound, in total",
}

_stores: dict[Path, ClickHouseStore] = {}
_stores_lock = threading.Lock()


def shared_store(data_dir: Path) -> ClickHouseStore:
    """The process's one embedded engine, opened on first use (chdb: one path per process)."""
    path = data_dir.resolve()
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            if _stores:
                other = next(iter(_stores))
                raise RuntimeError(
                    f"this process already holds the embedded ClickHouse engine at {other}; "
                    f"chdb opens one data directory per process, so {path} cannot be opened too"
                )
            lock_data_dir(path)  # a second process gets a clear error naming this one
            store = open_store(None, data_dir=path)
            _stores[path] = store
        return store


# A new sandbox is covered by the kernel layer ~10-50 ms after its start (Docker's event,
# an inspect, two prctl calls); 10 s covers a loaded engine. Past it, creation fails closed.
KERNEL_COVER_TIMEOUT_S = 10.0


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    host: str
    data_dir: Path
    default_policy: SecurityPolicy | None = None
    # Which containers this pipeline watches and may act on: all sandboxes of the host,
    # or (for a SandboxManager's own pipeline) only its own, by their manager label.
    watch_label: str = labels.SANDBOX_SELECTOR
    enforcer_labels: Mapping[str, str | None] = field(default_factory=lambda: {labels.SANDBOX: "1"})
    interval_s: float = 1.0
    audit_only: bool = False
    # The enforcer's command ledger; default data_dir/enforcer. A pipeline per manager
    # keeps its own, since each has its own consumer group.
    enforcer_state_dir: Path | None = None
    # The kernel layer (collectors/kernel): on unless SANDGUARD_KERNEL_EVENTS=0 (Settings).
    kernel_events: bool = field(default_factory=lambda: Settings().kernel_events)


class LazyReports:
    """A ReportSource that answers once its pipeline has opened the store."""

    def __init__(self) -> None:
        self.target: HistoryReports | None = None

    def security_report(self, container_id: str) -> dict[str, Any]:
        if self.target is None:
            return {}
        return self.target.security_report(container_id)


class EmbeddedPipeline:
    """Collector, processor, enforcer and sink on one LocalBus; history in chdb."""

    def __init__(
        self,
        options: PipelineOptions,
        *,
        bus: Bus | None = None,
        store: Store | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.options = options
        self.registry = registry if registry is not None else CollectorRegistry()
        self.bus: Bus = bus if bus is not None else LocalBus()
        self.reports = LazyReports()
        self.store: Store | None = store
        self.state = Lifecycle.NEW
        self._sink: Sink | None = None
        self._sink_task: asyncio.Task[None] | None = None
        self._processor: ProcessorRunner | None = None
        self._enforcer: Enforcer | None = None
        self._engine: DockerEngine | None = None
        self._collector: Collector | None = None

    @property
    def is_new(self) -> bool:
        return self.state is Lifecycle.NEW

    async def start(self) -> None:
        if self.state is not Lifecycle.NEW:
            raise RuntimeError(f"pipeline is {self.state.value}; a pipeline starts once")
        self.state = Lifecycle.RUNNING
        o = self.options
        await self.bus.start()
        if self.store is None:
            self.store = await asyncio.to_thread(shared_store, o.data_dir / "clickhouse")
        self.reports.target = HistoryReports(self.store)
        await self._start_consumers(o)
        self._collector = Collector(
            self.bus,
            config=CollectorConfig(
                host=o.host, interval_s=o.interval_s, label=o.watch_label, kernel_events=o.kernel_events
            ),
            registry=self.registry,
        )
        await self._collector.start()
        log.info("embedded_pipeline_started", host=o.host, data_dir=str(o.data_dir), watch=o.watch_label)

    async def kernel_covered(self, container_id: str) -> Coverage:
        """The manager's exec gate: covered once the kernel layer watches ``container_id``,
        at once when no kernel layer runs (mode off: the health output says why)."""
        kernel = self._collector.kernel if self._collector is not None else None
        if kernel is None or kernel.mode == "off":
            return Coverage(True, "off")
        if await kernel.wait_covered(container_id, KERNEL_COVER_TIMEOUT_S):
            return Coverage(True, kernel.mode)
        return Coverage(False, kernel.mode, f"not watched within {KERNEL_COVER_TIMEOUT_S:.0f} s")

    async def _start_consumers(self, o: PipelineOptions) -> None:
        assert self.store is not None
        if isinstance(self.bus, LocalBus):
            # The store never holds back the rules, the enforcer or the API: the sink's
            # records spill (bounded, counted) instead of blocking their publishers.
            self.bus.never_block(SINK_GROUP)
            self._spill_metrics(self.bus)
        self._sink = Sink(
            self.bus, self.store, registry=self.registry, group=SINK_GROUP, max_delay_s=SINK_MAX_DELAY_S
        )
        await self._sink.start()
        self._sink_task = asyncio.create_task(self._sink.run(), name="sandguard-sink")
        self._processor = ProcessorRunner(
            self.bus, default_policy=o.default_policy, registry=self.registry, group=PROCESSOR_GROUP
        )
        await self._processor.start()
        self._engine = await asyncio.to_thread(DockerEngine.from_env)
        self._enforcer = Enforcer(
            self.bus,
            self._engine,
            host=o.host,
            state_dir=o.enforcer_state_dir or o.data_dir / "enforcer",
            registry=self.registry,
            audit_only=o.audit_only,
            claim_unassigned=True,
            required_labels=o.enforcer_labels,
            group=ENFORCER_GROUP,
        )
        await self._enforcer.start()

    def _spill_metrics(self, bus: LocalBus) -> None:
        def stat(name: str) -> Callable[[], float]:
            return lambda: float(bus.spill_stats().get(SINK_GROUP, {}).get(name, 0))

        for name, doc in SPILL_METRICS.items():
            gauge = Gauge(f"sandguard_embedded_sink_spill_{name}", doc, registry=self.registry)
            gauge.set_function(stat(name))

    async def stop(self) -> None:
        """Stops producers first, then consumers, so what was observed is judged and stored."""
        if self.state is not Lifecycle.RUNNING:
            self.state = Lifecycle.STOPPED
            return
        self.state = Lifecycle.STOPPED
        if self._collector is not None:
            await self._collector.stop()
        await self._drain()
        if self._processor is not None:
            await self._processor.stop()
        if self._enforcer is not None:
            await self._enforcer.stop()
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
        if self._sink is not None and self._sink_task is not None:
            await self._sink.stop()
            await self._sink_task
            await self._sink.close()
        await self.bus.stop()
        log.info("embedded_pipeline_stopped", host=self.options.host)

    async def _drain(self) -> None:
        """Waits (bounded) until the processor, enforcer and sink consumed what was published."""
        bus = self.bus
        if not isinstance(bus, LocalBus):
            return  # on Kafka, what is not consumed now stays in the topics for the next start
        # Polled: the consumers run on their own schedules and signal nothing when idle.
        for _ in range(int(DRAIN_TIMEOUT_S / DRAIN_POLL_S)):
            await asyncio.sleep(DRAIN_POLL_S)  # also lets the outputs of the last records go round
            if not any(bus.lag().values()):
                break
        left = {g: n for g, n in bus.lag().items() if n}
        if left:
            log.warning("embedded_pipeline_stopped_with_backlog", backlog=left)
