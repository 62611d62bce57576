"""The proc-connector mode of the kernel source: exec and exit pids from the kernel, the
rest from /proc, a blocked program killed from user space right after its exec (late:
it has started). Used where eBPF is not available; the mode is said once and in health."""

from __future__ import annotations

import os
import posixpath
import signal
import socket
import threading
from collections.abc import Callable

import structlog

from collectors.buffer import Out
from collectors.kernel import events as E
from collectors.kernel import procconn
from collectors.kernel.kmetrics import KernelMetrics
from schemas import ActionOutcome, ActionResult, EnforcementAction, ExecEvent, encode, stable_id, topics

log = structlog.get_logger(__name__)
# Pids of sandbox processes seen at exec, to attribute their exits (their /proc is gone by
# then); bounded: 200 sandboxes x ~50 live processes, with room.
MAX_TRACKED = 65_536


class ProcConnectorReader:
    def __init__(self, *, ctx: E.Context, by_ns: dict[int, E.Sandbox], metrics: KernelMetrics,
                 hand_off: Callable[[list[Out]], None]) -> None:  # fmt: skip
        self._ctx, self._by_ns, self.metrics, self._hand_off = ctx, by_ns, metrics, hand_off
        self._pids: dict[int, E.Sandbox] = {}
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.unattributed = 0

    def start(self) -> None:
        self._sock = procconn.open_socket()
        self._thread = threading.Thread(target=self._run, name="kernel-procconn", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._sock is not None
        procconn.run(self._sock, self._handle, self._stop.is_set)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()

    def _handle(self, events: list[procconn.ProcEvent]) -> None:
        out: list[Out] = []
        for ev in events:
            out.extend(self._exec(ev) if ev.kind == "exec" else self._exit(ev))
        if out:
            self._hand_off(out)

    def _exec(self, ev: procconn.ProcEvent) -> list[Out]:
        try:
            ns = os.stat(f"{self._ctx.proc}/{ev.pid}/ns/mnt").st_ino
        except OSError:  # gone already: its sandbox cannot be known any more
            self.unattributed += 1
            self.metrics.unattributed.inc()
            return []
        sb = self._by_ns.get(ns)
        if sb is None:
            return []
        event = E.proc_exec_event(self._ctx, sb, ev.pid, ev.ktime)
        if len(self._pids) < MAX_TRACKED:
            self._pids[ev.pid] = sb
        self.metrics.events.labels("exec").inc()
        out: list[Out] = [(topics.KERNEL, sb.container_id, encode(event))]
        if {event.program, event.comm, posixpath.basename(event.exe)} & sb.blocked:
            out.append((topics.ACTIONS, sb.container_id, encode(self._late_block(event, sb))))
        return out

    def _late_block(self, event: ExecEvent, sb: E.Sandbox) -> ActionResult:
        killed = False
        if sb.enforce:
            try:
                os.kill(event.pid, signal.SIGKILL)
                killed = True
            except ProcessLookupError:
                killed = False
        self.metrics.blocked.labels("killed_late" if killed else "audit").inc()
        verb = "killed after exec (proc connector: no in-kernel prevention)" if killed else "not killed"
        return ActionResult(
            event_id=stable_id("block_exec", event.event_id), time=event.time, container_id=sb.container_id,
            host=event.host, command_id=stable_id("block_exec", "command", event.event_id),
            action=EnforcementAction.BLOCK_EXEC, command_time=event.time,
            result=ActionOutcome.APPLIED if killed else ActionOutcome.AUDIT_ONLY,
            reason=f"blocked program {event.program!r} {verb}, parent pid {event.ppid}",
            details={"program": event.program, "exe": event.exe, "pid": event.pid, "parent_pid": event.ppid,
                     "argv": list(event.argv), "late": True},
        )  # fmt: skip

    def _exit(self, ev: procconn.ProcEvent) -> list[Out]:
        sb = self._pids.pop(ev.pid, None)
        if sb is None:
            return []
        self.metrics.events.labels("exit").inc()
        event = E.proc_exit_event(self._ctx, sb, ev.pid, ev.ktime, ev.exit_status)
        return [(topics.KERNEL, sb.container_id, encode(event))]
