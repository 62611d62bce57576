"""The kernel event source: runs the tracer, attributes its events to sandboxes, hands
them to the collector's buffer, and keeps the tracer's maps equal to the watched sandboxes.

Threads: the loader (bpf/loader.c) runs as a long-lived child; one reader thread reads
its binary records in large chunks, builds events, and hands each chunk's events to the
event loop with ``call_soon_threadsafe``: the loop never waits on the loader. Map
updates are ``prctl`` calls (control.py, microseconds) made from the loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from collectors.buffer import Out
from collectors.docker_port import ContainerInfo
from collectors.kernel import control, program
from collectors.kernel import events as E
from collectors.kernel.fallback import ProcConnectorReader
from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.probe import Capabilities, probe
from collectors.kernel.records import Ack, Connect, Exec, Exit, Hello, Lost, Record, RecordError, State, split
from collectors.kernel.tracer import Tracer
from collectors.lifecycle import collector_audit
from schemas import ExecEvent, labels, now_ms, stable_id, topics
from schemas.codec import encode

log = structlog.get_logger(__name__)

# The loader loads and attaches in ~0.3 s here; 30 s covers a loaded 2-core machine.
ATTACH_TIMEOUT_S = 30.0
# 1 MiB: ~400 exec records per read.
READ_CHUNK = 1 << 20
# While the stream is busy (the read just made returned within BUSY_READ_S: records were
# waiting), the reader naps READ_COALESCE_S after a read that did not fill its buffer, so the
# next read takes many records at once: at ~1,500 execs/s one wake-up per ~15 records
# (each wake-up costs the reader thread and the loop ~100 µs of CPU here).
# After a quiet spell (the read waited) there is no nap, so a lone exec's finding waits for
# nothing; kills are in the kernel and never wait. The pipe is 1 MiB (tracer.py): ~0.2 s of
# the fastest loop's records, so the loader never blocks on it during a nap (and when it
# does, the kernel's 16 MiB ring buffer behind it holds ~3 s more).
READ_COALESCE_S = 0.010
BUSY_READ_S = 0.002
STOP_TIMEOUT_S = 5.0
# A ping is repeated every 0.2 s until echoed (the first may precede the probe's attach):
# a resend on a fixed beat within the caller's deadline, not a retry of a failure.
PING_EVERY_S = 0.2
# A tracer that ended this often within the window is not started again: the source falls
# back to the proc connector. Each restart is a ~1-2 s gap without kills; a 4th end within
# 10 minutes says the tracer cannot live here (killed by an OOM or a supervisor, say).
TRACER_ENDS_MAX = 3
TRACER_ENDS_WINDOW_S = 600.0

Emit = Callable[[list[Out]], None]


class TracerAttachError(RuntimeError):
    """The loader could not attach (no CAP_BPF, no tracefs, the verifier refused the
    program...); the message has its own last words. The source falls back."""


class KernelSource:
    """``KernelSource(host=..., emit=...)``; ``await start()``, ``add(info)``, ``await stop()``.

    ``tracer_prefix`` is a command the loader runs under (``nice``, a wrapper; tests drop its
    capabilities with ``setpriv`` to make it fail to attach for real)."""

    def __init__(self, *, host: str, emit: Emit, metrics: KernelMetrics, proc: str = "/proc",
                 caps: Capabilities | None = None, tracer_prefix: Sequence[str] = ()) -> None:  # fmt: skip
        self.host, self._emit, self.metrics, self._proc = host, emit, metrics, proc
        # bound once: the hot path's counters
        self._exec_count, self._exit_count = metrics.events.labels("exec"), metrics.events.labels("exit")
        self.caps = caps or probe()
        self.mode = self.caps.mode
        # Why the mode in force is not bpf ('' when it is): said once, in health and metrics.
        self.reason = "; ".join(self.caps.missing()) if self.mode != "bpf" else ""
        self._cause = "unsupported"
        self._prefix = tuple(tracer_prefix)
        self._by_ns: dict[int, E.Sandbox] = {}
        self._by_cid: dict[str, E.Sandbox] = {}
        self._covered: dict[str, asyncio.Event] = {}
        self._tracer: Tracer | None = None
        self._live: Tracer | None = None  # the tracer whose end is a failure to act on
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._acks: dict[int, asyncio.Event] = {}
        self._seq = 0
        self.lost = 0
        self.started_at = 0.0
        self._fallback: ProcConnectorReader | None = None
        self._stopping = False
        self.restarts = 0
        self._ends: deque[float] = deque()
        self._pending: set[str] = set()  # added before the tracer answered: not yet covered
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        if self.mode == "bpf":
            try:
                await self._attach()
            except TracerAttachError as exc:
                self._fall_back("attach_failed", f"the kernel loader could not attach: {exc}")
        elif self.mode == "proc_connector":
            self._start_fallback()
        self.started_at = time.monotonic() - t0
        self._say_mode()
        self._cover_pending()

    def _say_mode(self) -> None:
        self.metrics.set_mode(self.mode, self.cause)
        if self.mode == "bpf":
            log.info("kernel_events_mode", mode=self.mode, attach_s=round(self.started_at, 2))
        else:
            log.warning("kernel_events_degraded", mode=self.mode, cause=self.cause, reason=self.reason)

    @property
    def cause(self) -> str:
        """Why the mode is not bpf, as a short code: '' (it is), unsupported, attach_failed,
        tracer_unstable, proc_connector_failed."""
        return self._cause if self.mode != "bpf" else ""

    async def _attach(self) -> None:
        """Starts a loader and returns once it answers a ping; TracerAttachError (the
        loader ended, with its own words) otherwise."""
        try:
            await asyncio.to_thread(self._spawn)
            await self.sync(ATTACH_TIMEOUT_S)
        except (OSError, TimeoutError, RuntimeError) as exc:
            tracer, self._tracer = self._tracer, None
            why = tracer.why() if tracer is not None else ""
            if tracer is not None:
                await self._end(tracer)
            raise TracerAttachError(f"{type(exc).__name__}: {exc}" + (f" ({why})" if why else "")) from exc
        self._live = self._tracer

    def _fall_back(self, cause: str, reason: str) -> None:
        """bpf is not to be had: the proc connector in its place (root), else off; said once."""
        self._cause, self.reason = cause, reason
        self.mode = "proc_connector" if self.caps.root else "off"
        if self.mode == "proc_connector":
            self._start_fallback()

    def _start_fallback(self) -> None:
        self._fallback = ProcConnectorReader(ctx=self._context(), by_ns=self._by_ns, metrics=self.metrics,
                                             hand_off=self._hand_off)  # fmt: skip
        try:
            self._fallback.start()
        except OSError as exc:
            log.exception("kernel_proc_connector_failed", error=f"{type(exc).__name__}: {exc}")
            self._fallback, self.mode = None, "off"
            self._cause, self.reason = "proc_connector_failed", f"{self.reason}; proc connector: {exc}"

    def _spawn(self) -> None:
        assert self.caps.loader is not None
        tracer = Tracer(self.caps.loader, os.getpid(), prefix=self._prefix)
        self._tracer = tracer
        self._thread = threading.Thread(target=self._read, args=(tracer,), name="kernel-reader", daemon=True)
        self._thread.start()
        attached = tracer.attached.wait(ATTACH_TIMEOUT_S)
        if tracer.ended.is_set():
            raise RuntimeError("the kernel loader ended before it attached")
        if not attached:
            raise TimeoutError(f"the kernel loader did not attach within {ATTACH_TIMEOUT_S}s")

    async def sync(self, timeout_s: float = 5.0) -> None:
        """Returns once the tracer echoed a ping: every map update before it is in force
        and every event before it has been read."""
        self._seq += 1
        seq, done = self._seq, asyncio.Event()
        self._acks[seq] = done
        deadline = time.monotonic() + timeout_s
        try:
            while not done.is_set():
                if self._tracer is None or self._tracer.ended.is_set():
                    raise RuntimeError("the tracer ended")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the tracer did not answer a ping within {timeout_s}s")
                control.ping(seq)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), PING_EVERY_S)
        finally:
            self._acks.pop(seq, None)

    async def stop(self) -> None:
        self._stopping = True
        if self._fallback is not None:
            await asyncio.to_thread(self._fallback.stop)
            self._fallback = None
        tracer, self._tracer, self._live = self._tracer, None, None
        if tracer is not None and not tracer.ended.is_set():
            self._tracer = tracer
            # One ring buffer for every CPU: the echoed ping comes after every event before it.
            with contextlib.suppress(TimeoutError, RuntimeError):
                await self.sync()
            self._tracer = None
        if tracer is not None:
            await self._end(tracer)

    async def _end(self, tracer: Tracer) -> None:
        await asyncio.to_thread(tracer.end, STOP_TIMEOUT_S)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        tracer.close()

    # --- sandboxes -----------------------------------------------------------------

    def add(self, info: ContainerInfo) -> E.Sandbox | None:
        """Watches a sandbox from now on; its blocked names are in the map before its
        namespace is, so no exec there is ever judged without them."""
        try:
            ns = os.stat(f"{self._proc}/{info.pid}/ns/mnt").st_ino
        except OSError:
            return None  # gone before it could be watched
        mode = info.labels.get(labels.MODE, "enforce")
        blocked = frozenset(n for n in info.labels.get(labels.BLOCKED, "").split(",") if n)
        no_memfd = info.labels.get(labels.WORKSPACE_EXEC, "0") != "1"
        sb = E.Sandbox(info.id, ns, mode == "enforce", blocked, no_memfd, self._own_netns(info.pid))
        self._by_ns[ns], self._by_cid[info.id] = sb, sb
        self.metrics.sandboxes.set(len(self._by_cid))
        if self.mode == "bpf" and self._live is None:
            self._pending.add(info.id)  # the tracer is (re)starting: covered once it answers
        else:
            self._cover(sb)
        return sb

    def _cover(self, sb: E.Sandbox) -> None:
        """Into the tracer's maps (bpf), then said: the embedded gate and kernel_covered."""
        if self.mode == "bpf":
            self._register(sb)
        self._covered.setdefault(sb.container_id, asyncio.Event()).set()
        self._emit([self._covered_event(sb)])

    def _cover_pending(self) -> None:
        """The sandboxes added while the tracer was starting, once it answers (or the mode
        changed): until now none of them was in its maps."""
        pending, self._pending = self._pending, set()
        for cid in sorted(pending):
            sb = self._by_cid.get(cid)
            if sb is not None:
                self._cover(sb)

    def _covered_event(self, sb: E.Sandbox) -> Out:
        """``kernel_covered``, keyed by the container: the exec gate of a manager in another
        process waits for it (sandguard/coverage.py). In bpf mode the maps are in force when
        it is built (prctl returned)."""
        details = {"mode": self.mode, "cause": self.cause, "prevention": self.health()["prevention"],
                   "blocked": len(sb.blocked), "enforce": sb.enforce}  # fmt: skip
        eid = stable_id("kernel_covered", self.host, sb.container_id, sb.ns)
        event = collector_audit("kernel_covered", host=self.host, event_id=eid, time_ms=now_ms(),
                                details=details, reason=self.reason or None)  # fmt: skip
        event = event.model_copy(update={"container_id": sb.container_id})
        return (topics.AUDIT, sb.container_id, encode(event))

    def _own_netns(self, pid: int) -> int:
        """The sandbox's network namespace, or 0 when it is the collector's (the host's: a
        sandbox on the host network would claim every TCP state change of the host)."""
        try:
            netns = os.stat(f"{self._proc}/{pid}/ns/net").st_ino
            own = os.stat(f"{self._proc}/self/ns/net").st_ino
        except OSError:
            return 0
        return 0 if netns == own else netns

    @staticmethod
    def _register(sb: E.Sandbox) -> None:
        for name in sorted(sb.blocked):
            control.block(sb.ns, name)
        if sb.netns:
            control.net(sb.netns, sb.ns)
        control.watch(sb.ns, enforce=sb.enforce, no_memfd=sb.no_memfd)

    def remove(self, cid: str) -> None:
        sb = self._by_cid.pop(cid, None)
        self._covered.pop(cid, None)
        self._pending.discard(cid)
        if sb is None:
            return
        self._by_ns.pop(sb.ns, None)
        if self.mode == "bpf":
            control.unwatch(sb.ns)
            if sb.netns:
                control.unnet(sb.netns)
            for name in sb.blocked:
                control.unblock(sb.ns, name)
        self.metrics.sandboxes.set(len(self._by_cid))

    async def wait_covered(self, cid: str, timeout_s: float) -> bool:
        """True once the kernel layer watches ``cid`` (False after ``timeout_s``)."""
        if self.mode == "off":
            return False
        event = self._covered.setdefault(cid, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            if not event.is_set():
                self._covered.pop(cid, None)
            return False
        return True

    @property
    def tracer_pid(self) -> int | None:
        return self._tracer.pid if self._tracer is not None else None

    def health(self) -> dict[str, Any]:
        unattributed = self._fallback.unattributed if self._fallback is not None else 0
        return {"mode": self.mode, "cause": self.cause, "reason": self.reason, "missing": self.caps.missing(),
                "sandboxes": len(self._by_cid), "lost": self.lost, "unattributed": unattributed,
                "attach_s": round(self.started_at, 3), "restarts": self.restarts,
                "prevention": self._prevention(), "lsm": self._lsm()}  # fmt: skip

    def _prevention(self) -> str:
        if self.mode == "proc_connector":
            return "late (user space)"
        return "in-kernel" if self.mode == "bpf" else "none"

    def _lsm(self) -> dict[str, Any]:
        """The BPF LSM hooks in force (refusals before the image exists), or why none:
        without them blocked execs are killed at sched_process_exec, still before their
        first instruction, and executable mappings at the mmap syscall."""
        hello = self._tracer.hello if self._tracer is not None else None
        if self.mode != "bpf" or hello is None:
            return {"hooks": [], "error": ""}
        err = f"errno {-hello.lsm_err} ({os.strerror(-hello.lsm_err)})" if hello.lsm_err else ""
        return {"hooks": hello.hooks(), "error": err}

    # --- the reader thread ---------------------------------------------------------

    def _read(self, tracer: Tracer) -> None:
        assert tracer.handle.stdout is not None
        fd, tail, ctx = tracer.handle.stdout.fileno(), b"", self._context()
        while True:
            t0 = time.monotonic()
            if not (chunk := os.read(fd, READ_CHUNK)):
                break
            busy = time.monotonic() - t0 < BUSY_READ_S
            try:
                records, tail = split(tail + chunk if tail else chunk)
            except RecordError as exc:  # a loader of another build: nothing after can be read
                log.exception("kernel_records_unreadable", error=str(exc))
                self.metrics.parse_errors.inc()
                tracer.handle.kill()
                break
            out = [o for rec in records for o in self._one(rec, ctx, tracer)]
            if out:
                self._hand_off(out)
            if busy and len(chunk) < READ_CHUNK:
                time.sleep(READ_COALESCE_S)
        tracer.ended.set()
        tracer.attached.set()  # wakes a start waiting for it
        loop = self._loop
        if not self._stopping and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_tracer_exit, tracer)

    # --- the tracer ended by itself: said, then restarted with every sandbox -------
    # (or, when it keeps ending, the proc connector in its place)

    def _on_tracer_exit(self, tracer: Tracer) -> None:
        if self._stopping or tracer is not self._live:
            return  # stopped on purpose, or one that never attached (start says why)
        self._live = None
        code = tracer.handle.poll()
        log.error("kernel_tracer_exited", returncode=code, sandboxes=len(self._by_cid), why=tracer.why())
        self.metrics.restarts.inc()
        why = "the tracer ended: events and in-kernel kills stop until it is back"
        self._emit([self._audit("kernel_tracer_exited", {"returncode": code, "mode": self.mode}, why)])
        now = time.monotonic()
        self._ends.append(now)
        while self._ends and now - self._ends[0] > TRACER_ENDS_WINDOW_S:
            self._ends.popleft()
        task = asyncio.get_running_loop().create_task(self._restart(tracer), name="kernel-restart")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, old: Tracer) -> None:
        t0 = time.monotonic()
        await self._end(old)
        self._tracer = None
        if len(self._ends) > TRACER_ENDS_MAX:
            reason = f"the tracer ended {len(self._ends)} times within {TRACER_ENDS_WINDOW_S:.0f} s"
            self._fall_back_live("tracer_unstable", reason)
            return
        try:
            await self._attach()
        except TracerAttachError as exc:
            self._fall_back_live("attach_failed", f"the kernel loader could not attach again: {exc}")
            return
        for sb in list(self._by_cid.values()):
            if sb.container_id not in self._pending:
                self._register(sb)
        self._cover_pending()
        self.restarts += 1
        gap = round(time.monotonic() - t0, 3)
        log.warning("kernel_tracer_restarted", gap_s=gap, sandboxes=len(self._by_cid))
        self._emit([self._audit("kernel_tracer_restarted", {"gap_s": gap, "sandboxes": len(self._by_cid)},
                                "the tracer is back; execs during the gap were not seen")])  # fmt: skip

    def _fall_back_live(self, cause: str, reason: str) -> None:
        """The fall-back of a running source: the new mode said in the logs, metrics and audit."""
        self._fall_back(cause, reason)
        self._say_mode()
        self._emit([self._audit("kernel_mode", self.health(), reason)])
        self._cover_pending()

    def _audit(self, action: str, details: dict[str, Any], reason: str) -> Out:
        eid = stable_id("kernel", action, self.host, time.time_ns())
        event = collector_audit(
            action, host=self.host, event_id=eid, time_ms=now_ms(), details=details, reason=reason
        )
        return (topics.AUDIT, None, encode(event))

    def _context(self) -> E.Context:
        try:
            with open(f"{self._proc}/sys/kernel/random/boot_id", encoding="ascii") as f:
                boot = f.read().strip()
        except OSError:
            boot = self.host
        return E.Context(self.host, boot, self._proc, time.time_ns() - time.monotonic_ns())

    def _hand_off(self, out: list[Out]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._emit, out)

    def _one(self, rec: Record, ctx: E.Context, tracer: Tracer) -> list[Out]:
        """One record's events; one that cannot be turned into an event is counted and
        skipped, never the end of the reader thread (every event after it would be lost)."""
        try:
            return self._dispatch(rec, ctx, tracer)
        except Exception as exc:  # one odd record must not end the reader thread
            self.metrics.parse_errors.inc()
            log.exception("kernel_record_failed", error=f"{type(exc).__name__}: {exc}", record=repr(rec)[:99])
        return []

    def _dispatch(self, rec: Record, ctx: E.Context, tracer: Tracer) -> list[Out]:
        if isinstance(rec, Exec):
            return self._exec_outs(rec, ctx)
        if isinstance(rec, Ack):
            self._ack(rec, tracer)
            return []
        if isinstance(rec, Lost):
            return self._lost(rec.events)
        if isinstance(rec, Hello):
            tracer.hello = rec  # attached; the pings (sync) then prove the programs run
            tracer.attached.set()
            if rec.lsm_err:
                log.warning("kernel_lsm_unavailable", error=os.strerror(-rec.lsm_err), hooks=rec.hooks())
            return []
        return self._record(rec, ctx)

    def _record(self, rec: Exit | Connect | State, ctx: E.Context) -> list[Out]:
        sb = self._by_ns.get(rec.ns)
        if sb is None:
            return []
        if isinstance(rec, Exit):
            self._exit_count.inc()
            return [(topics.KERNEL, sb.container_id, E.wire(E.exit_fields(ctx, sb, rec)))]
        if isinstance(rec, State):
            self.metrics.events.labels("tcp_state").inc()
            return [(topics.KERNEL, sb.container_id, encode(E.state_event(ctx, sb, rec)))]
        self.metrics.events.labels("connect").inc()
        return [(topics.KERNEL, sb.container_id, encode(E.connect_event(ctx, sb, rec)))]

    def _exec_outs(self, ex: Exec, ctx: E.Context) -> list[Out]:
        sb = self._by_ns.get(ex.ns)
        if sb is None:
            return []
        fields = E.exec_fields(ctx, sb, ex)
        self._exec_count.inc()
        out: list[Out] = [(topics.KERNEL, sb.container_id, E.wire(fields))]
        if ex.hit:
            ev = ExecEvent.model_validate(fields)
            outcome = ("refused" if ex.refused else "killed") if ev.blocked else "audit"
            self.metrics.blocked.labels(outcome).inc()
            if ev.blocked:
                self.metrics.exec_to_kill.observe(ex.exec_to_kill_ns / 1e9)
            out.append((topics.ACTIONS, sb.container_id, encode(E.block_action(ev, sb, ex))))
            log.warning("kernel_exec_blocked", container_id=sb.container_id[:12], program=ev.program,
                        parent=ev.parent_comm, killed=ev.blocked)  # fmt: skip
        return out

    def _ack(self, ack: Ack, tracer: Tracer) -> None:
        """A ping echoed: the programs are attached and run (HELLO alone says the loader
        attached them; the echo proves the prctl program sees this collector)."""
        if ack.op != program.OP_PING:
            return
        tracer.attached.set()
        done = self._acks.get(ack.a)
        if done is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(done.set)

    def _lost(self, n: int) -> list[Out]:
        self.lost += n
        self.metrics.lost.inc(n)
        log.warning("kernel_events_lost", events=n, total=self.lost)
        details = {"events": n, "total": self.lost, "mode": self.mode}
        why = "the kernel's ring buffer was full: these events were dropped before sandguard read them"
        return [self._audit("kernel_events_lost", details, why)]
