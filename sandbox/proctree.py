"""The processes of one exec, found and killed from the host when its timeout strikes.

A token in the environment (``SANDGUARD_EXEC=<token>``) or descent from the exec cannot
bound what a command started: ``env -i`` clears the token and a double fork leaves the
tree (issue 17). So the kill set is every process in the sandbox's pid namespace except
the init, the lifetime timer (the init's oldest child: nothing in the sandbox can be
older) and the trees of the other execs still running (an exec's root is the only
process whose parent is outside the namespace: nothing inside can forge one). What a
command hid is killed with it, and so is what an earlier, finished command left
running in the background. Each process is opened as
a pidfd and checked again before the signal, so a pid reused by another process
between the scan and the kill is never signalled. Needs the host's /proc (the manager
runs on the engine's host, like the collector).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

TOKEN_VAR = "SANDGUARD_EXEC"  # noqa: S105 - a variable name, not a secret
# Rounds of scan-and-kill: a process forking while its siblings die is caught by the
# next round; SIGKILLed parents fork no more, so two rounds suffice in practice.
KILL_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class ProcInfo:
    pid: int
    ppid: int
    pid_ns: str
    start: int = 0  # clock ticks after boot


def _stat_fields(stat: str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and
    parens): [0] is the state, [1] the ppid, [19] the start time."""
    return stat[stat.rindex(")") + 2 :].split()


def parse_stat_ppid(stat: str) -> int:
    """The ppid field of /proc/<pid>/stat."""
    return int(_stat_fields(stat)[1])


def parse_stat_start(stat: str) -> int:
    return int(_stat_fields(stat)[19])


class ProcTable:
    """Reads of one /proc tree (a directory argument, so tests use recorded trees)."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc

    def pids(self) -> list[int]:
        return [int(name) for name in os.listdir(self.proc) if name.isdigit()]

    def info(self, pid: int) -> ProcInfo | None:
        """None when the process is gone (a normal race) or not ours to read (the host's init)."""
        try:
            with open(f"{self.proc}/{pid}/stat", encoding="utf-8", errors="replace") as f:
                text = f.read()
            ns = os.readlink(f"{self.proc}/{pid}/ns/pid")
            return ProcInfo(pid, parse_stat_ppid(text), ns, parse_stat_start(text))
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError, IndexError):
            return None

    def environ(self, pid: int) -> bytes:
        try:
            with open(f"{self.proc}/{pid}/environ", "rb") as f:
                return f.read()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return b""

    def pid_ns(self, pid: int) -> str | None:
        try:
            return os.readlink(f"{self.proc}/{pid}/ns/pid")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None


def _namespace(table: ProcTable, pid_ns: str) -> list[ProcInfo]:
    # The namespace link first (one readlink): the host's other processes cost no stat read.
    mine = [p for p in table.pids() if table.pid_ns(p) == pid_ns]
    return [i for i in map(table.info, mine) if i is not None and i.pid_ns == pid_ns]


def _with_descendants(infos: list[ProcInfo], roots: list[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for i in infos:
        children.setdefault(i.ppid, []).append(i.pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


def sweep_processes(
    table: ProcTable, *, init_pid: int, pid_ns: str, victim_root: int | None, victim_token: str
) -> list[int]:
    """Every pid in the sandbox's namespace but the init, its oldest child (the lifetime
    timer) and the trees of the other execs still running. An exec's root is the one
    kind of process whose parent is outside the namespace (the engine's shim started it);
    nothing inside can make one, so nothing inside can pass for another exec. The timed
    out exec's own root is known by its pid (and its token)."""
    infos = _namespace(table, pid_ns)
    inside = {i.pid for i in infos}
    timer = min((i for i in infos if i.ppid == init_pid), key=lambda i: (i.start, i.pid), default=None)
    roots = [
        i.pid
        for i in infos
        if i.ppid not in inside
        and i.pid not in (init_pid, victim_root)
        and not holds_token(table.environ(i.pid), frozenset({victim_token}))
    ]
    spared = {init_pid} | ({timer.pid} if timer is not None else set()) | _with_descendants(infos, roots)
    return sorted(i.pid for i in infos if i.pid not in spared)


def holds_token(environ: bytes, tokens: frozenset[str]) -> bool:
    """Whether one of the variables is exactly ``SANDGUARD_EXEC=<one of tokens>``."""
    prefix = f"{TOKEN_VAR}=".encode()
    return any(
        e.startswith(prefix) and e[len(prefix) :].decode(errors="replace") in tokens
        for e in environ.split(b"\0")
    )


def _still_ours(table: ProcTable, pid: int, pid_ns: str) -> bool:
    return table.pid_ns(pid) == pid_ns


def kill_pids(table: ProcTable, pids: Iterable[int], pid_ns: str) -> int:
    """SIGKILLs each pid still in ``pid_ns``, through a pidfd so a reused pid is never hit."""
    killed = 0
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # exited since the scan: nothing to kill
        try:
            if _still_ours(table, pid, pid_ns):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                killed += 1
        except ProcessLookupError:
            pass  # exited between the check and the signal
        finally:
            os.close(fd)
    return killed


def kill_exec(table: ProcTable, *, ns_pid: int, root_pid: int | None, token: str) -> int:
    """Kills every process of the sandbox whose init is ``ns_pid`` (a host pid) except the
    init, the lifetime timer and the other running execs' trees. ``root_pid`` and
    ``token`` name the exec that timed out. Returns how many were signalled."""
    pid_ns = table.pid_ns(ns_pid)
    if pid_ns is None:
        return 0
    total = 0
    for _ in range(KILL_ROUNDS):
        pids = sweep_processes(
            table, init_pid=ns_pid, pid_ns=pid_ns, victim_root=root_pid, victim_token=token
        )
        if not pids:
            break
        total += kill_pids(table, pids, pid_ns)
    return total
