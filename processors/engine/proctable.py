"""The processes of a sandbox as the kernel events told them: who runs what, under whom,
joined to whom by a pipe, and who connected where.

Reverse-shell evidence spans several events (a connect, then an exec under it; a shell
and a client in one pipeline, in either order), so each live process keeps a small entry
until its exit. Bounded: the oldest entry goes first when the table is full.
"""

from __future__ import annotations

from processors.engine.programs import Identity, reads_stdin
from processors.engine.state import MAX_KPROCS, ContainerState, KProc
from schemas import ExecEvent, StdioKind

# Kinds of a process, as bits.
SHELL, INTERP, AWK, NETCLIENT, READS_STDIN, INET_STDIO, PIPE_IN, PIPE_OUT = 1, 2, 4, 8, 16, 32, 64, 128


def flags_of(ident: Identity, ev: ExecEvent) -> int:
    f = SHELL if ident.shell else 0
    f |= INTERP if ident.interpreter else 0
    f |= AWK if ident.awk else 0
    f |= NETCLIENT if ident.net_client else 0
    f |= READS_STDIN if ident.shell and reads_stdin(ev.argv) else 0
    f |= INET_STDIO if inet_stdio(ev.stdio) else 0
    f |= PIPE_IN if ev.stdio[0] is StdioKind.PIPE else 0
    f |= PIPE_OUT if ev.stdio[1] is StdioKind.PIPE else 0
    return f


def inet_stdio(stdio: tuple[StdioKind, ...]) -> bool:
    """stdin or stdout an inet socket: the program talks to the network through its stdio."""
    return StdioKind.INET in stdio[:2]


def add(state: ContainerState, ev: ExecEvent, ident: Identity) -> KProc:
    ids = ev.stdio_ids or ("", "", "")
    p = KProc(ev.pid, ev.ppid, ev.pgid or 0, ev.time, ident.label, flags_of(ident, ev), ids[0], ids[1])
    table = state.procs
    table.pop(ev.pid, None)  # an exec replaces the image: the entry is re-made, at the end
    table[ev.pid] = p
    if len(table) > MAX_KPROCS:
        del table[next(iter(table))]
    return p


def connected(state: ContainerState, pid: int, name: str, t: int, dest: str) -> KProc:
    """Marks ``pid`` as connected (an entry is made for a process older than the tracer)."""
    p = state.procs.get(pid)
    if p is None:
        p = KProc(pid, 0, 0, t, name, 0)
        state.procs[pid] = p
        if len(state.procs) > MAX_KPROCS:
            del state.procs[next(iter(state.procs))]
    p.connected = t
    p.dest = dest
    return p


def not_connected(state: ContainerState, pid: int, dest: str) -> None:
    """``pid``'s connect to ``dest`` failed (a non-blocking one, told by its socket later)."""
    p = state.procs.get(pid)
    if p is not None and p.dest == dest:
        p.connected, p.dest = 0, ""


def piped(a: KProc, b: KProc) -> bool:
    """One's stdout feeds the other's stdin (a pipe between them), either way.

    Without pipe identities from the collector, ``same_pipeline`` stands in (a weaker
    signal; callers ask for more evidence then)."""
    if a.stdout and a.stdout == b.stdin and a.stdout.startswith("pipe:"):
        return True
    return bool(b.stdout and b.stdout == a.stdin and b.stdout.startswith("pipe:"))


def same_pipeline(shell: KProc, client: KProc) -> bool:
    """Without pipe identities: the members of a pipeline share a process group and are
    children of the shell that built it; the shell reads a pipe, the client has one."""
    if shell.stdin or client.stdin:
        return False  # identities known: ``piped`` decided
    group = shell.pgid != 0 and shell.pgid == client.pgid
    siblings = shell.ppid != 0 and shell.ppid == client.ppid
    pipes = shell.has(PIPE_IN) and bool(client.flags & (PIPE_IN | PIPE_OUT))
    return (group or siblings) and pipes
