"""Audit events: operations the sandbox API refused, and execs that ran.

A refused command or file operation is a violation of its own (``command.denied``,
``file.denied``): the attempt says something about the code even though nothing ran.
An exec that ran is judged like a process (blocked, allowlist, suspicious, reverse
shell), whether it came through the sandbox API or was a ``docker exec`` that the
collector saw (``exec_start``).
"""

from __future__ import annotations

import posixpath

from common.commandline import command_programs
from processors.engine.findings import StepRun
from processors.engine.processes import on_exec
from processors.engine.record import record
from schemas import AuditCategory, AuditEvent

EXEC_ACTIONS = frozenset({"exec", "exec_start", "exec_create"})
# Lifecycle actions after which the container is gone and its state can go.
GONE_ACTIONS = frozenset({"destroy", "remove", "expire"})


def is_gone(ev: AuditEvent) -> bool:
    return ev.category is AuditCategory.LIFECYCLE and ev.action in GONE_ACTIONS


def on_audit(run: StepRun, ev: AuditEvent) -> None:
    command = ev.subject or str(ev.details.get("command", "") or "")
    lifecycle_exec = ev.category is AuditCategory.LIFECYCLE and ev.action in EXEC_ACTIONS
    if ev.category is AuditCategory.EXEC or lifecycle_exec:
        if ev.allowed is False:
            _denied_command(run, ev, command)
        elif command:
            on_exec(run, ev, command)
    elif ev.category is AuditCategory.FILE and ev.allowed is False:
        _denied_file(run, ev)


def _denied_command(run: StepRun, ev: AuditEvent, command: str) -> None:
    programs = command_programs(command)
    subject = programs[0] if programs else (command[:64] or "?")
    why = f" ({ev.reason})" if ev.reason else ""
    evidence = {"command": command}
    record(
        run,
        "command.denied",
        subject,
        ev.time,
        message=f"command denied: {command[:200]}{why}",
        evidence=evidence,
    )


def _denied_file(run: StepRun, ev: AuditEvent) -> None:
    path = ev.subject or "?"
    # One finding per directory: an agent probing /etc/* is one finding with a count.
    subject = f"{ev.action}:{posixpath.dirname(path) or path}"
    why = f" ({ev.reason})" if ev.reason else ""
    record(
        run,
        "file.denied",
        subject,
        ev.time,
        message=f"file {ev.action} denied: {path}{why}",
        evidence={"path": path},
    )
