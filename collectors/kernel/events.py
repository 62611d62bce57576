"""The loader's records -> schema events.

The kernel gives everything the rules judge by (names, stdio kinds, the kill) and the
paths (exe, cwd, the parent's exe, resolved inside the sandbox's root). /proc is read
only for a path the kernel's bounded walk could not finish (deeper than 24 components
or longer than the record holds), best effort: a gone process leaves it empty and
``best_effort`` says so. An exec event goes to the wire from its fields (exec_json);
the model is built only when a block needs it.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any

import orjson

from collectors.kernel.records import NAME_BYTES, Connect, Exec, Exit, State
from schemas.events import ActionOutcome, ActionResult, EnforcementAction, stable_id
from schemas.kernel import (
    BUSYBOX,
    ConnectEvent,
    EventSource,
    ExecEvent,
    ExitEvent,
    busybox_applet,
    is_loader,
    kernel_event_id,
    loader_program,
)

# Mount points a sandbox can write (policy.py: the workspace and /tmp; Docker's /dev/shm).
WRITABLE_MOUNTS = ("/work", "/tmp", "/dev/shm")  # noqa: S108 - paths inside the sandbox
MEMFD = "memfd"


@dataclass(frozen=True, slots=True)
class Sandbox:
    """What the source knows of one watched sandbox."""

    container_id: str
    ns: int
    enforce: bool
    blocked: frozenset[str]
    no_memfd: bool = True  # a program run from memory counts as blocked
    netns: int = 0  # its network namespace (TCP state changes), 0 when not its own


@dataclass(frozen=True, slots=True)
class Context:
    host: str
    boot_id: str
    proc: str
    mono_to_epoch_ns: int  # epoch ns - monotonic ns, read at start


def program_name(filename: str, exe_name: str, argv: tuple[str, ...]) -> str:
    """The name to judge a program by: a busybox applet by the name it was invoked as, the
    program the dynamic loader runs by its operand."""
    if exe_name == BUSYBOX and argv:
        return busybox_applet(argv)
    if is_loader(exe_name) and (loaded := loader_program(argv)):
        return loaded
    return posixpath.basename(filename)


def script_of(filename: str, argv: tuple[str, ...]) -> str | None:
    """The ``#!`` script an exec ran: the kernel then hands the interpreter argv
    ``(interpreter, [one option,] script, ...)`` while the exec'd path is the script."""
    if len(argv) < 2 or posixpath.basename(argv[0]) == posixpath.basename(filename):
        return None
    return filename if filename in argv[1:3] else None


def _readlink(path: str) -> str:
    try:
        return os.readlink(path).removesuffix(" (deleted)")
    except OSError:
        return ""


def writable_mount(path: str) -> str:
    """The sandbox-writable mount holding ``path``; "" for the read-only image, "memfd"
    for a program run from memory (written by the sandbox just the same)."""
    if path.startswith(("memfd:", "/memfd:")):
        return MEMFD
    for mount in WRITABLE_MOUNTS:
        if path == mount or path.startswith(mount + "/"):
            return mount
    return ""


def _time_ms(ctx: Context, ktime: int) -> int:
    """The host's clock pair: ktime (CLOCK_MONOTONIC ns) -> epoch ms for the event time."""
    return (ktime + ctx.mono_to_epoch_ns) // 1_000_000


def exe_of_this_exec(link: str, kernel_name: str) -> str:
    """/proc is read after the event: the pid may already have exec'd again (``stdbuf sh``
    reads as dash). The link is this exec's only when its name is the one the kernel saw
    (a prefix: the kernel's name may be cut)."""
    if not link or not kernel_name:
        return link
    name = posixpath.basename(link)
    cut = len(kernel_name.encode()) >= NAME_BYTES - 1
    return link if name == kernel_name or (cut and name.startswith(kernel_name)) else ""


def _or_proc(kernel: str, link: str) -> str:
    """The kernel's path, or /proc's when the kernel could not finish its walk."""
    return kernel or _readlink(link)


# Every field of an exec (exit) event with its default, in the model's order, as JSON values.
_EXEC_TEMPLATE = ExecEvent.model_construct(event_id="", container_id="", pid=0).model_dump(mode="json")


def exec_fields(ctx: Context, sb: Sandbox, ex: Exec) -> dict[str, Any]:
    """The exec event's fields as JSON values (every one: the model's defaults filled in)."""
    exe = ex.exe or exe_of_this_exec(_readlink(f"{ctx.proc}/{ex.pid}/exe"), ex.exe_name)
    filename = (ex.exe or ex.filename) if ex.mapping else ex.filename
    fs = writable_mount(exe) or writable_mount(filename) or writable_mount(ex.exe_name)
    fields = _EXEC_TEMPLATE.copy()
    fields.update(
        event_id=kernel_event_id(ctx.boot_id, ex.pid, ex.ktime, "exec"),
        time=_time_ms(ctx, ex.ktime), container_id=sb.container_id, host=ctx.host,
        pid=ex.pid, ns_pid=ex.ns_pid, pgid=ex.pgid, sid=ex.sid, comm=ex.comm, mnt_ns=ex.ns, ktime_ns=ex.ktime,
        best_effort=not exe, ppid=ex.ppid, ancestors=list(ex.ancestors), uid=ex.uid, filename=filename,
        exe=exe or ex.exe_name,
        program=ex.exe_name if ex.mapping else program_name(filename, ex.exe_name, ex.argv),
        argv=list(ex.argv), script=script_of(filename, ex.argv), argv_truncated=ex.argv_truncated,
        cwd=_or_proc(ex.cwd, f"{ctx.proc}/{ex.pid}/cwd"), parent_comm=ex.parent_comm,
        parent_exe=_or_proc(ex.parent_exe, f"{ctx.proc}/{ex.ppid}/exe"),
        stdio=[k.value for k in ex.stdio], parent_stdio=[k.value for k in ex.parent_stdio],
        exe_writable=bool(fs), exe_fs=fs, blocked=ex.killed, mode="enforce" if sb.enforce else "audit",
    )  # fmt: skip
    return fields


def wire(fields: dict[str, Any]) -> bytes:
    """The wire form of an exec or exit event from its fields: what ``encode`` gives for the
    model (tested), without building it: every value comes typed from the kernel record, and
    the model's construction and serialisation cost ~15 us per exec, the hottest path here."""
    return orjson.dumps(fields)


def exec_event(ctx: Context, sb: Sandbox, ex: Exec) -> ExecEvent:
    """The exec event as a model (validated): for the rare exec that needs one (a block)."""
    return ExecEvent.model_validate(exec_fields(ctx, sb, ex))


def _verb(ex: Exec) -> str:
    if not ex.killed:
        return "would be killed at exec (audit mode)"
    if ex.mapping:
        return "refused (mmap_file)" if ex.refused else "killed at mmap"
    return "refused at exec (bprm_check_security)" if ex.refused else "killed at exec"


def block_action(ev: ExecEvent, sb: Sandbox, ex: Exec) -> ActionResult:
    """The action record of an exec (or an executable mapping by another program) the
    kernel layer judged blocked: refused or killed, or audit only."""
    outcome = ActionOutcome.APPLIED if ev.blocked else ActionOutcome.AUDIT_ONLY
    verb, exec_to_kill_ns = _verb(ex), ex.exec_to_kill_ns
    what = "program run from memory (memfd)" if ev.exe_fs == MEMFD else "blocked program"
    if ex.mapping:
        what = f"executable mapping by {ev.comm!r} of blocked program"
    return ActionResult(
        event_id=stable_id("block_exec", ev.event_id), time=ev.time, container_id=ev.container_id,
        host=ev.host, command_id=stable_id("block_exec", "command", ev.event_id),
        action=EnforcementAction.BLOCK_EXEC, result=outcome, command_time=ev.time, latency_ms=0,
        reason=f"{what} {ev.program!r} {verb}, parent {ev.parent_comm!r}",
        details={"program": ev.program, "exe": ev.exe, "filename": ev.filename, "pid": ev.pid,
                 "parent": ev.parent_comm, "parent_pid": ev.ppid, "argv": list(ev.argv),
                 "exec_to_kill_us": exec_to_kill_ns / 1000, "how": verb,
                 "blocked_names": sorted(sb.blocked & {ev.program, ev.comm, posixpath.basename(ev.exe)})},
    )  # fmt: skip


_EXIT_TEMPLATE = ExitEvent.model_construct(event_id="", container_id="", pid=0).model_dump(mode="json")


def exit_fields(ctx: Context, sb: Sandbox, ex: Exit) -> dict[str, Any]:
    """The exit event's fields as JSON values (one per exec: the hot path too)."""
    fields = _EXIT_TEMPLATE.copy()
    fields.update(
        event_id=kernel_event_id(ctx.boot_id, ex.pid, ex.ktime, "exit"),
        time=_time_ms(ctx, ex.ktime), container_id=sb.container_id, host=ctx.host, pid=ex.pid,
        mnt_ns=ex.ns, ktime_ns=ex.ktime, exit_code=ex.exit_code, signal=ex.signal,
    )  # fmt: skip
    return fields


def connect_event(ctx: Context, sb: Sandbox, c: Connect) -> ConnectEvent:
    return ConnectEvent(
        event_id=kernel_event_id(ctx.boot_id, c.pid, c.ktime, "connect"),
        time=_time_ms(ctx, c.ktime), container_id=sb.container_id, host=ctx.host, pid=c.pid,
        comm=c.comm, mnt_ns=c.ns, ktime_ns=c.ktime, exe=_readlink(f"{ctx.proc}/{c.pid}/exe"), uid=c.uid,
        family="inet" if c.family == "inet" else "inet6",
        protocol="tcp" if c.protocol == "tcp" else "udp" if c.protocol == "udp" else "other",
        daddr=c.daddr, dport=c.dport, result=c.result, sport=c.sport, ns_pid=c.ns_pid,
    )  # fmt: skip


def state_event(ctx: Context, sb: Sandbox, s: State) -> ConnectEvent:
    """A TCP state change, as a connect event of phase ``state``: the same connection,
    told by the socket (addresses of both ends) rather than by the syscall."""
    kind = f"state:{s.sport}>{s.dport}:{s.new}"
    return ConnectEvent(
        event_id=kernel_event_id(ctx.boot_id, s.pid, s.ktime, kind), time=_time_ms(ctx, s.ktime),
        container_id=sb.container_id, host=ctx.host, pid=s.pid, mnt_ns=s.ns, ktime_ns=s.ktime, phase="state",
        family="inet" if s.family == "inet" else "inet6", protocol="tcp", daddr=s.daddr, dport=s.dport,
        saddr=s.saddr, sport=s.sport, old_state=s.old, new_state=s.new,
    )  # fmt: skip


def _read(path: str, limit: int = 4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return b""


def _status_ids(status: bytes) -> tuple[int, int]:
    """(PPid, real Uid) from /proc/<pid>/status; zeros when unreadable."""
    ppid = uid = 0
    for line in status.splitlines():
        if line.startswith(b"PPid:"):
            ppid = int(line.split()[1])
        elif line.startswith(b"Uid:"):
            uid = int(line.split()[1])
    return ppid, uid


def proc_exec_event(ctx: Context, sb: Sandbox, pid: int, ktime: int) -> ExecEvent:
    """An exec seen by the proc connector, completed from /proc (best effort)."""
    base = f"{ctx.proc}/{pid}"
    exe, argv = (
        _readlink(f"{base}/exe"),
        tuple(a.decode("utf-8", "backslashreplace") for a in _read(f"{base}/cmdline").split(b"\0") if a),
    )
    ppid, uid = _status_ids(_read(f"{base}/status"))
    comm = _read(f"{base}/comm").decode("utf-8", "backslashreplace").strip()
    fs = writable_mount(exe)
    return ExecEvent(
        event_id=kernel_event_id(ctx.boot_id, pid, ktime, "exec"), time=_time_ms(ctx, ktime),
        container_id=sb.container_id, host=ctx.host, pid=pid, comm=comm, mnt_ns=sb.ns, ktime_ns=ktime,
        source=EventSource.PROC_CONNECTOR, best_effort=True, ppid=ppid, uid=uid, filename=exe, exe=exe,
        program=program_name(exe, posixpath.basename(exe), argv), argv=argv, cwd=_readlink(f"{base}/cwd"),
        parent_exe=_readlink(f"{ctx.proc}/{ppid}/exe"), exe_writable=bool(fs), exe_fs=fs,
        mode="enforce" if sb.enforce else "audit",
    )  # fmt: skip


def proc_exit_event(ctx: Context, sb: Sandbox, pid: int, ktime: int, status: int) -> ExitEvent:
    code, sig = (None, status & 0x7F) if status & 0x7F else ((status >> 8) & 0xFF, None)
    return ExitEvent(
        event_id=kernel_event_id(ctx.boot_id, pid, ktime, "exit"), time=_time_ms(ctx, ktime),
        container_id=sb.container_id, host=ctx.host, pid=pid, mnt_ns=sb.ns, ktime_ns=ktime,
        source=EventSource.PROC_CONNECTOR, best_effort=True, exit_code=code, signal=sig,
    )  # fmt: skip
