"""The processes of one exec, found and killed from the host when its timeout strikes.

Every exec carries a token in its environment (``SANDGUARD_EXEC=<token>``), which its
children inherit, double-forked daemons included; the kill set is every process in the
sandbox's pid namespace with that token, plus the exec's descendants. Each is opened
as a pidfd and checked again before the signal, so a pid reused by another process
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


def parse_stat_ppid(stat: str) -> int:
    """The ppid field of /proc/<pid>/stat (the command name may hold spaces and parens)."""
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def token_entry(token: str) -> bytes:
    return f"{TOKEN_VAR}={token}".encode()


def has_token(environ: bytes, token: str) -> bool:
    return token_entry(token) in environ.split(b"\0")


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
                ppid = parse_stat_ppid(f.read())
            return ProcInfo(pid, ppid, os.readlink(f"{self.proc}/{pid}/ns/pid"))
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


def exec_processes(table: ProcTable, *, pid_ns: str, root_pid: int | None, token: str) -> list[int]:
    """Pids of one exec: in ``pid_ns``, carrying ``token`` or descending from ``root_pid``."""
    # The namespace link first (one readlink): the host's other processes cost no stat read.
    mine = [p for p in table.pids() if table.pid_ns(p) == pid_ns]
    infos = [i for i in map(table.info, mine) if i is not None and i.pid_ns == pid_ns]
    children: dict[int, list[int]] = {}
    for i in infos:
        children.setdefault(i.ppid, []).append(i.pid)
    # Descendants of every process found, so a child that cleared its environment goes too.
    stack = [i.pid for i in infos if has_token(table.environ(i.pid), token)]
    if root_pid is not None and any(i.pid == root_pid for i in infos):
        stack.append(root_pid)
    found: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return sorted(found)


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
    """Kills every process of the exec; ``ns_pid`` is any pid in the sandbox's pid namespace
    (its init). Returns how many were signalled."""
    pid_ns = table.pid_ns(ns_pid)
    if pid_ns is None:
        return 0
    total = 0
    for _ in range(KILL_ROUNDS):
        pids = exec_processes(table, pid_ns=pid_ns, root_pid=root_pid, token=token)
        if not pids:
            break
        total += kill_pids(table, pids, pid_ns)
        root_pid = None  # dead now; its orphans still carry the token
    return total
