"""Sockets in the container's network namespace, from its init process's view of /proc/net.

net/sockstat and net/sockstat6 are per-namespace counters (~2 µs a read on a kept
descriptor). Per-state TCP counts need net/tcp and net/tcp6, which make the kernel walk
the whole host's socket hash (~1.7 ms each on this machine), so they are read only when
asked for, every N samples, and only while the namespace has TCP sockets.
"""

from __future__ import annotations

from typing import NamedTuple

from collectors.families.base import KeptFiles
from collectors.files import FdBudget, read_once
from collectors.parsers import parse_sockstat, parse_sockstat6, parse_tcp_states

# net/tcp lines are 150 bytes; 64 KiB per read keeps the syscalls few for big tables.
TCP_READ_SIZE = 65536


class SocketUsage(NamedTuple):
    tcp: int
    tcp_orphan: int
    tcp_time_wait: int
    udp: int
    raw: int  # v4 and v6
    tcp6: int
    udp6: int


class SocketsFamily(KeptFiles):
    name = "sockets"

    def __init__(self, proc_root: str, pid: int, budget: FdBudget) -> None:
        super().__init__(budget)
        self._net = f"{proc_root}/{pid}/net"
        self._v4 = self._file(self._net, "sockstat", 1024)
        self._v6 = self._file(self._net, "sockstat6", 1024)

    def read(self) -> SocketUsage:
        v4 = parse_sockstat(self._v4.read())
        tcp6, udp6, raw6 = parse_sockstat6(self._v6.read())
        return SocketUsage(v4.tcp, v4.tcp_orphan, v4.tcp_time_wait, v4.udp, v4.raw + raw6, tcp6, udp6)

    def tcp_states(self) -> dict[str, int]:
        """Sockets by TCP state, v4 and v6 together (costly: see the module docstring)."""
        states = parse_tcp_states(read_once(f"{self._net}/tcp", TCP_READ_SIZE))
        return parse_tcp_states(read_once(f"{self._net}/tcp6", TCP_READ_SIZE), states)
