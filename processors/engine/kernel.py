"""Rules over kernel events (topic ``sandguard.kernel``): every exec, exit and connect.

An exec is judged by the file executed (``programs.identify``), never by its argv text:
blocked, outside the allowlist, suspicious, written inside the sandbox; then the
reverse-shell evidence (``revshell``). An exec the kernel already stopped (``blocked``)
is reported as prevented. Connects go to ``egress``. The process snapshots keep judging
what no exec event told (a host without kernel events, a process older than the tracer),
never a pid judged here.
"""

from __future__ import annotations

import posixpath

from processors.engine import egress, kernel_evidence, proctable, revshell
from processors.engine.findings import StepRun
from processors.engine.matching import first_in
from processors.engine.programs import Identity, allowed_by, identify, is_writable_path, loader_operand
from processors.engine.record import record
from processors.engine.state import MAX_KJUDGED, ContainerState
from schemas import ConnectEvent, ExecEvent, ExitEvent

KernelEngineEvent = ExecEvent | ExitEvent | ConnectEvent
MEMFD_FS = "memfd"  # exe_fs of a program run from memory (collectors.kernel.events.MEMFD)
PREVENTED = "prevented (killed in the kernel at exec, before it ran)"


def on_kernel(run: StepRun, ev: KernelEngineEvent) -> None:
    run.state.kernel = True
    if isinstance(ev, ExecEvent):
        on_exec(run, ev)
    elif isinstance(ev, ConnectEvent):
        egress.on_connect(run, ev)
    else:
        on_exit(run.state, ev)


def on_exit(state: ContainerState, ev: ExitEvent) -> None:
    state.procs.pop(ev.pid, None)
    egress.forget_pid(state, ev.pid)


def on_exec(run: StepRun, ev: ExecEvent) -> None:
    ident = identify(ev)
    _mark_judged(run.state, ev.pid, ev.time)
    if ev.blocked:
        _prevented(run, ev, ident)
        return
    _judge_names(run, ev, ident)
    written = _written(ev, ident)
    if written:
        what = f"program written inside the sandbox executed: {written}"
        _record(run, "process.written_exec", written, ev, what, label=ident.label)
    p = proctable.add(run.state, ev, ident)
    revshell.on_exec(run, ev, p)


def _written(ev: ExecEvent, ident: Identity) -> str:
    """The file the sandbox wrote ('' for none): the program the loader runs, the script
    run by an interpreter from the image, or the program itself (``exe`` when resolved: a
    process gone before the collector read it leaves only a bare name there; a relative
    ``filename`` is joined to the cwd)."""
    if ident.loaded:
        path = loader_operand(ev.argv)
        if is_writable_path(path, ev.cwd):
            return posixpath.normpath(posixpath.join(ev.cwd or "/", path))
    if not ev.exe_writable or _image_program_by_link(ev):
        return ""
    if ev.script:
        return ev.script
    if ev.exe.startswith("/") and is_writable_path(ev.exe, "/"):
        return ev.exe
    return posixpath.normpath(posixpath.join(ev.cwd or "/", ev.filename)) if ev.filename else ev.exe


def _image_program_by_link(ev: ExecEvent) -> bool:
    """A link the sandbox wrote to a program of the image (``python3 -m venv`` makes
    ``/tmp/venv/bin/python -> /usr/bin/python3``): what runs is the image's program (a
    noexec mount does not stop it either); the name is judged, the file was not written."""
    resolved = ev.exe.startswith("/") and ev.exe_fs != MEMFD_FS
    script = ev.script or ev.filename in ev.argv[1:3]  # the kernel hands a script to its interpreter
    return resolved and not script and not is_writable_path(ev.exe, "/")


def _mark_judged(state: ContainerState, pid: int, t: int) -> None:
    judged = state.kjudged
    judged.pop(pid, None)
    judged[pid] = t
    if len(judged) > MAX_KJUDGED:
        del judged[next(iter(judged))]


def _judge_names(run: StepRun, ev: ExecEvent, ident: Identity) -> None:
    pol = run.ctx.policy
    names = ident.names
    blocked = first_in(names, pol.blocked)
    if blocked is not None:
        _record(run, "process.blocked", blocked, ev, f"blocked program {blocked} ran", label=ident.label)
    if pol.allowed and not allowed_by(ident, pol.allowed):
        what = f"{ident.label} is outside the allowlist"
        _record(run, "process.not_allowed", ident.label, ev, what, label=ident.label)
    tool = first_in(names, pol.suspicious)
    if tool is not None:
        _record(run, "process.suspicious", tool, ev, f"suspicious tool {tool} ran", label=ident.label)


def _prevented(run: StepRun, ev: ExecEvent, ident: Identity) -> None:
    """The kernel killed it at exec, before its first instruction: reported, not run."""
    pol = run.ctx.policy
    blocked = first_in(ident.names, pol.blocked)
    if blocked is None and pol.allowed and not allowed_by(ident, pol.allowed):
        what = f"{ident.label} is outside the allowlist: {PREVENTED}"
        _record(run, "process.not_allowed", ident.label, ev, what, label=ident.label)
        return
    name = blocked or ident.label
    _record(run, "process.blocked", name, ev, f"blocked program {name}: {PREVENTED}", label=ident.label)


def _record(run: StepRun, rule_id: str, subject: str, ev: ExecEvent, what: str, *, label: str) -> None:
    message = f"{what}: {kernel_evidence.describe(ev, label)}"
    record(run, rule_id, subject, ev.time, message=message, evidence=kernel_evidence.of_exec(ev))
