"""Process rules over snapshots and audited execs: blocked, outside the allowlist, suspicious,
and a reverse-shell hint from argv.

The fallback for what kernel events do not tell (``processors.engine.kernel``): a host
without them, a process older than the tracer. A pid judged from its exec event is not
judged again here, and once a container has kernel events, audited command lines are not
judged either (the kernel saw what they really ran). The argv regex is a LOW hint that
never acts (``schemas.rules.HINT_RULES``), and only where no kernel events come.

Each process (pid and start time) is judged once, when first seen, so the full snapshot
that lists it again every few seconds is not a new violation; exits and full snapshots
prune what is remembered.
"""

from __future__ import annotations

from typing import Any

from common.commandline import command_programs
from processors.engine import baseline
from processors.engine.findings import StepRun
from processors.engine.matching import basename, first_in, is_reverse_shell, process_names
from processors.engine.record import record
from processors.engine.state import MAX_JUDGED
from schemas import AuditEvent, ProcessInfo, ProcessSnapshot
from schemas.kernel import BUSYBOX, busybox_applet


def on_snapshot(run: StepRun, snap: ProcessSnapshot) -> None:
    judged = run.state.judged
    if snap.full:
        alive = {p.pid for p in snap.processes}
        for k in [k for k, pid in judged.items() if pid not in alive]:
            del judged[k]
    elif snap.exited:
        gone = set(snap.exited)
        for k in [k for k, pid in judged.items() if pid in gone]:
            del judged[k]
    kjudged = run.state.kjudged
    for p in snap.processes:
        key = f"{p.pid}:{p.start_time}"
        if key in judged or p.pid in kjudged:
            continue
        judged[key] = p.pid
        if len(judged) > MAX_JUDGED:
            del judged[next(iter(judged))]
        _judge_process(run, p, snap.time)


def _judge_process(run: StepRun, p: ProcessInfo, t: int) -> None:
    names = process_names(p.exe, p.comm, _argv0_name(p))
    if not names:
        return
    cmdline = " ".join(p.argv) if p.argv else p.comm
    evidence = {"process": p.model_dump(mode="json")}
    label = f"{names[0]} (pid {p.ns_pid if p.ns_pid is not None else p.pid}): {cmdline[:200]}"
    # What its argv runs next (sh -c 'rm x', sudo rm x): judged as the shared analyser reads it,
    # with argv[0] replaced by the program it is (argv[0] names nothing but a busybox applet).
    argv = (_argv0_name(p) or names[0], *p.argv[1:]) if p.argv else ()
    runs = tuple(n for n in command_programs(argv) if n not in names) if argv else ()
    _judge(run, names, cmdline, t, label=label, ev=evidence, aliases=True, runs=runs)


def _argv0_name(p: ProcessInfo) -> str | None:
    """argv[0] names a program only when busybox runs it (busybox picks its applet by it);
    any other program's argv[0] is the caller's text, as the kernel layer judges it."""
    if not p.argv or p.exe is None or basename(p.exe) != BUSYBOX:
        return None
    return busybox_applet(p.argv)


def on_exec(run: StepRun, ev: AuditEvent, command: str) -> None:
    """An exec that ran (audited by the sandbox API, or a docker exec seen by the collector)."""
    if run.state.kernel:
        return
    programs = command_programs(command)
    if not programs:
        return
    _judge(run, programs, command, ev.time, label=command[:200], ev={"command": command}, aliases=False)


def _judge(
    run: StepRun,
    names: tuple[str, ...],
    cmdline: str,
    t: int,
    *,
    label: str,
    ev: dict[str, Any],
    aliases: bool,
    runs: tuple[str, ...] = (),
) -> None:
    """``aliases``: the names are one process's (any allowed name passes); otherwise they
    are the programs of a command line (each must be allowed). ``runs``: the programs a
    process's argv runs next, each judged like a command line's (not by the baseline,
    which is learned from processes' own names)."""
    pol = run.ctx.policy
    if not run.state.kernel and is_reverse_shell(cmdline):
        message = f"command line looks like a reverse shell (argv only, no evidence): {label}"
        record(run, "process.reverse_shell_hint", names[0], t, message=message, evidence=ev)
    blocked = first_in(names, pol.blocked) or first_in(runs, pol.blocked)
    _found(run, "process.blocked", blocked, t, f"blocked command {blocked} running: {label}", ev=ev)
    outside = _outside_allowlist(names, pol.allowed, aliases) or _outside_allowlist(runs, pol.allowed, False)
    _found(run, "process.not_allowed", outside, t, f"{outside} is outside the allowlist: {label}", ev=ev)
    if pol.baseline:
        baseline.judge(run, _outside_allowlist(names, pol.baseline, aliases), t, label=label, ev=ev)
    tool = first_in(names + runs, pol.suspicious)
    _found(run, "process.suspicious", tool, t, f"suspicious tool {tool} running: {label}", ev=ev)


def _found(
    run: StepRun, rule_id: str, subject: str | None, t: int, message: str, *, ev: dict[str, Any]
) -> None:
    """Records ``subject`` under ``rule_id`` when a rule found one (None: nothing found)."""
    if subject is not None:
        record(run, rule_id, subject, t, message=message, evidence=ev)


def _outside_allowlist(names: tuple[str, ...], allowed: frozenset[str], aliases: bool) -> str | None:
    if not allowed:
        return None
    if aliases:
        return None if first_in(names, allowed) is not None else names[0]
    return next((n for n in names if n not in allowed), None)
