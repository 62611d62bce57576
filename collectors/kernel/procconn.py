"""The fallback without eBPF: the netlink proc connector (CONFIG_PROC_EVENTS).

The kernel sends a pid for every exec and exit, nothing more; the rest is read from
/proc right after, best effort: a process that already exited cannot be attributed to
its sandbox (its mount namespace is gone with it) and is counted as unattributed, never
dropped silently. There is no in-kernel prevention in this mode: a blocked program is
killed from user space as soon as its exec is read (after it started; ``blocked`` stays
False and the action says "killed after exec").
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_EXIT = 0x80000000
_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_CNMSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
_EXEC = struct.Struct("=ii")  # pid, tgid
_EXIT = struct.Struct("=iiII")  # pid, tgid, exit_code, exit_signal
NLMSG_DONE = 3
RECV_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class ProcEvent:
    kind: str  # exec or exit
    pid: int
    ktime: int
    exit_status: int = 0


def listen_message() -> bytes:
    """The netlink message that subscribes to process events."""
    op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
    cn = _CNMSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
    return _NLMSG.pack(_NLMSG.size + len(cn), NLMSG_DONE, 0, 0, os.getpid()) + cn


def parse(data: bytes) -> list[ProcEvent]:
    """Process events in one datagram (several netlink messages may share it)."""
    out: list[ProcEvent] = []
    at = 0
    while at + _NLMSG.size <= len(data):
        length = _NLMSG.unpack_from(data, at)[0]
        if length < _NLMSG.size:
            break
        ev = _event(data[at + _NLMSG.size + _CNMSG.size : at + length])
        if ev is not None:
            out.append(ev)
        at += (length + 3) & ~3
    return out


def _event(body: bytes) -> ProcEvent | None:
    if len(body) < _EVENT.size:
        return None
    what, _cpu, ktime = _EVENT.unpack_from(body)
    rest = body[_EVENT.size :]
    if what == PROC_EVENT_EXEC and len(rest) >= _EXEC.size:
        _pid, tgid = _EXEC.unpack_from(rest)
        return ProcEvent("exec", tgid, ktime)
    if what == PROC_EVENT_EXIT and len(rest) >= _EXIT.size:
        pid, tgid, code, _sig = _EXIT.unpack_from(rest)
        return ProcEvent("exit", tgid, ktime, code) if pid == tgid else None
    return None


def open_socket() -> socket.socket:
    """A subscribed proc connector socket (root: CAP_NET_ADMIN)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    sock.bind((os.getpid(), CN_IDX_PROC))
    sock.send(listen_message())
    return sock


def run(sock: socket.socket, handle: Callable[[list[ProcEvent]], None], stopped: Callable[[], bool]) -> None:
    """Reads until the socket is closed or ``stopped()``; every datagram to ``handle``."""
    sock.settimeout(0.5)
    while not stopped():
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            continue
        except OSError:
            return
        if not data:
            return
        handle(parse(data))
