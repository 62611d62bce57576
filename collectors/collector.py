"""The per-host collector: discovers containers, samples each every interval from cgroups
and /proc on the host, and streams the events through a bounded buffer to the bus.

Threads: sampling runs in one dedicated thread (file reads and parsing, ~100 µs per
container) that owns every sampler and its open files; the Docker events stream and
inspects run in threads of their own; the event loop only moves events around.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from collectors.buffer import Out, PublishBuffer
from collectors.cgroups import CgroupLocator
from collectors.clock import Clock, SystemClock, next_tick
from collectors.config import CollectorConfig
from collectors.discovery import RESYNC, Discovery
from collectors.docker_port import ContainerInfo, ContainerLister, DockerSdkPort
from collectors.errors import ErrorReporter
from collectors.exceptions import CgroupNotFoundError, CollectorStateError, ContainerGoneError
from collectors.files import FdBudget, read_once
from collectors.ids import EventIds
from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.source import KernelSource
from collectors.lifecycle import collector_audit, lifecycle_event
from collectors.metrics import CollectorMetrics
from collectors.parsers import parse_btime
from collectors.processes import fd_counter
from collectors.publisher import Publisher
from collectors.sampler import ContainerSampler, SamplerContext
from schemas import Lifecycle, topics
from schemas.bus import Bus
from schemas.codec import encode

log = structlog.get_logger(__name__)

# On stop, publishing what is buffered may take this long before giving up (and counting).
DRAIN_TIMEOUT_S = 10.0


class Collector:
    """``Collector(bus, config=CollectorConfig(host=...))``; ``await start()``, ``await stop()``."""

    def __init__(
        self,
        bus: Bus,
        *,
        config: CollectorConfig,
        docker: ContainerLister | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self._bus = bus
        self._own_docker = docker is None
        self._docker: ContainerLister = docker if docker is not None else DockerSdkPort()
        registry = registry if registry is not None else CollectorRegistry()
        self.metrics = CollectorMetrics(registry)
        self._clock = clock or SystemClock()
        self._ids = EventIds()
        self._errors = ErrorReporter(counter=self.metrics.read_errors, clock=self._clock)
        self._budget = FdBudget.from_rlimit()
        self._ctx = self._context()
        self._buffer = PublishBuffer(config.buffer_capacity, self.metrics)
        self._publisher = Publisher(
            bus,
            self._buffer,
            self.metrics,
            host=config.host,
            ids=self._ids,
            clock=self._clock,
            batch=config.publish_batch,
        )
        self._label = None if config.all_containers else config.label  # None: every container
        self._discovery = Discovery(self._docker, label=self._label, metrics=self.metrics)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sampler")
        self._samplers: dict[str, ContainerSampler] = {}  # owned by the sampler thread
        self._commands: deque[tuple[str, Any]] = deque()  # loop -> sampler thread
        self._watched: set[str] = set()  # the loop's view
        self._tasks: list[asyncio.Task[None]] = []
        self.kernel: KernelSource | None = None
        if config.kernel_events:
            self.kernel = KernelSource(host=config.host, emit=self._kernel_out,
                                       metrics=KernelMetrics(registry), proc=config.proc_root)  # fmt: skip
        self.state = Lifecycle.NEW
        self.passes = 0

    def _context(self) -> SamplerContext:
        c = self.config
        proc = c.proc_root
        return SamplerContext(
            host=c.host,
            locator=CgroupLocator(proc_root=proc, host_root=c.host_root),
            budget=self._budget,
            errors=self._errors,
            ids=self._ids,
            boot_ms=parse_btime(read_once(f"{proc}/stat", 65536)) * 1000,
            ticks_per_s=os.sysconf("SC_CLK_TCK"),
            count_fds=fd_counter(proc),
            full_every=c.full_snapshot_every,
            limits_every=c.limits_every,
            limits_heartbeat_every=c.limits_heartbeat_every,
            disk_every=c.disk_every,
            tcp_states_every=c.tcp_states_every,
        )

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        if self.state is not Lifecycle.NEW:
            raise CollectorStateError(self.state, "start")
        self.state = Lifecycle.RUNNING
        self._health("start", details={"interval_s": self.config.interval_s, "ids": self._ids.prefix})
        self._tasks = [
            asyncio.create_task(self._publisher.run(), name="collector-publish"),
            asyncio.create_task(self._follow_events(), name="collector-events"),
            asyncio.create_task(self._ticks(), name="collector-ticks"),
        ]
        if self.kernel is not None:
            await self.kernel.start()
            self._health("kernel_mode", details=self.kernel.health())
        self._discovery.start()
        log.info("collector_started", host=self.config.host, interval_s=self.config.interval_s)

    async def stop(self, *, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stops sampling, publishes what is buffered (bounded in time), releases everything."""
        if self.state is not Lifecycle.RUNNING:
            return
        self.state = Lifecycle.STOPPING
        await self._discovery.stop()
        if self.kernel is not None:
            await self.kernel.stop()
            self._health("kernel_stop", details=self.kernel.health())
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        self._health("stop", details={"buffered": len(self._buffer)})
        await self._drain(drain_timeout_s)
        self._tasks[0].cancel()
        await asyncio.gather(self._tasks[0], return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_all)
        self._executor.shutdown(wait=True)
        if self._own_docker and isinstance(self._docker, DockerSdkPort):
            self._docker.close()
        self.state = Lifecycle.STOPPED
        log.info("collector_stopped", unpublished=len(self._buffer))

    async def _drain(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._publisher.wait_drained(), timeout_s)
        except TimeoutError:
            log.warning("stop_with_unpublished_events", count=len(self._buffer) + self._publisher.in_flight)

    def _health(self, action: str, *, details: dict[str, Any]) -> None:
        now = self._clock.time_ms()
        host, eid = self.config.host, self._ids()
        event = collector_audit(action, host=host, event_id=eid, time_ms=now, details=details)
        self._buffer.extend([(topics.AUDIT, None, encode(event))], now)

    def _kernel_out(self, out: list[Out]) -> None:
        self._buffer.extend(out, self._clock.time_ms())

    @property
    def kernel_mode(self) -> str:
        """bpf, proc_connector or off: what the health output and reports name."""
        return self.kernel.mode if self.kernel is not None else "off"

    def tracked(self) -> dict[str, int]:
        """Sizes of everything the collector keeps per container (for leak checks)."""
        return {
            "containers": len(self._samplers),
            "watched": len(self._watched),
            "processes": sum(s.processes for s in list(self._samplers.values())),
            "kept_fds": self._budget.used,
            "commands": len(self._commands),
            "error_kinds": self._errors.kinds(),
            "buffered": len(self._buffer),
        }

    # --- discovery -----------------------------------------------------------------

    async def _follow_events(self) -> None:
        await self._resync()
        while True:
            ev = await self._discovery.queue.get()
            if ev is RESYNC:
                await self._resync()
                continue
            await self._on_event(ev)

    async def _on_event(self, ev: dict[str, Any]) -> None:
        audit = lifecycle_event(ev, self.config.host)
        if audit is None:
            return
        self.metrics.docker_events.labels(audit.action).inc()
        cid = audit.container_id
        self._buffer.extend([(topics.AUDIT, cid, encode(audit))], self._clock.time_ms())
        if audit.action in ("start", "unpause") and cid not in self._watched:
            await self._watch(cid)
        elif audit.action in ("die", "destroy"):
            self._unwatch(cid)

    async def _resync(self) -> None:
        try:
            running = set(await asyncio.to_thread(self._docker.running, self._label))
        except Exception as exc:  # engine unreachable: the events stream's reconnect resyncs again
            self.metrics.docker_errors.labels("list").inc()
            log.warning("docker_list_failed", error=f"{type(exc).__name__}: {exc}")
            return
        for cid in self._watched - running:
            self._unwatch(cid)
        for cid in running - self._watched:
            await self._watch(cid)

    async def _watch(self, cid: str) -> None:
        try:
            info = await asyncio.to_thread(self._docker.inspect, cid)
        except Exception as exc:  # engine hiccup: the next resync or event retries
            self.metrics.docker_errors.labels("inspect").inc()
            log.warning("docker_inspect_failed", container_id=cid[:12], error=f"{type(exc).__name__}: {exc}")
            return
        if info is None or not info.running:
            return
        self._watched.add(cid)
        self._commands.append(("add", info))
        if self.kernel is not None:
            self.kernel.add(info)

    def _unwatch(self, cid: str) -> None:
        if self.kernel is not None:
            self.kernel.remove(cid)
        if cid in self._watched:
            self._watched.discard(cid)
            self._commands.append(("remove", cid))

    # --- sampling --------------------------------------------------------------------

    async def _ticks(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.interval_s
        first = self._clock.monotonic() + random.uniform(0, interval)  # noqa: S311 (jitter, not crypto)
        k = -1
        while True:
            k_next, at = next_tick(first, interval, self._clock.monotonic())
            if k >= 0 and k_next > k + 1:
                self.metrics.ticks_missed.inc(k_next - k - 1)
            k = k_next
            await asyncio.sleep(max(0.0, at - self._clock.monotonic()))
            out = await loop.run_in_executor(self._executor, self._pass)
            self._buffer.extend(out, self._clock.time_ms())
            lost = self._buffer.take_lost_process_keys()
            if lost:
                self._commands.append(("full", lost))

    async def sample_now(self) -> list[Out]:
        """One pass over every watched container, outside the schedule (bench, tests)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._pass)

    def _pass(self) -> list[Out]:
        self._apply_commands()
        out: list[Out] = []
        clock, observe = self._clock, self.metrics.sample_seconds.observe
        started = time.perf_counter()
        for cid, sampler in list(self._samplers.items()):
            t0 = time.perf_counter()
            try:
                sampler.sample(clock.monotonic(), clock.time_ms(), out)
            except ContainerGoneError:
                self._remove(cid)
            except Exception as exc:  # a bug in one container's sample must not stop the others
                self._errors.report("sample", cid, exc)
            observe(time.perf_counter() - t0)
        self.metrics.pass_seconds.observe(time.perf_counter() - started)
        self.metrics.containers.set(len(self._samplers))
        self.metrics.kept_files.set(self._budget.used)
        self.metrics.processes.set(sum(s.processes for s in self._samplers.values()))
        self.passes += 1
        return out

    def _apply_commands(self) -> None:
        while self._commands:
            op, arg = self._commands.popleft()
            if op == "add":
                self._add(arg)
            elif op == "remove":
                self._remove(arg)
            elif op == "full":
                for cid in arg:
                    if cid in self._samplers:
                        self._samplers[cid].force_full = True

    def _add(self, info: ContainerInfo) -> None:
        if info.id in self._samplers:
            return
        try:
            self._samplers[info.id] = ContainerSampler(info, self._ctx)
        except CgroupNotFoundError as exc:
            log.debug("container_gone_before_sampling", container_id=info.id[:12], reason=exc.reason)

    def _remove(self, cid: str) -> None:
        sampler = self._samplers.pop(cid, None)
        if sampler is not None:
            sampler.close()

    def _close_all(self) -> None:
        self._commands.clear()
        for cid in list(self._samplers):
            self._remove(cid)
