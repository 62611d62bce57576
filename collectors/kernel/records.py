"""The loader's binary records (bpf/records.h) -> record objects; pure, no I/O.

Every record starts with ``{u32 kind, u32 size}``; the formats below are the C structs'
layouts (little endian, the compiler's padding written out). The first record is HELLO
with the layout version: a loader of another version, or a record whose size is not its
kind's, is a RecordError (the stream cannot be read on: the source ends the loader and
says why). Strings are NUL-terminated in fixed buffers; paths are their components leaf
first (``rm\\0bin\\0usr\\0``), joined here.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from schemas.kernel import StdioKind

RECORDS_VERSION = 2
HELLO, EXEC, EXIT, CONNECT, STATE, ACK, LOST = range(1, 8)
HEAD = struct.Struct("<II")
FORMATS = {
    HELLO: struct.Struct("<IIIIiI"),
    EXEC: struct.Struct("<IIQQ11I4I4H16s16s16s256s512s512s512s512s4x"),
    EXIT: struct.Struct("<IIQIIii"),
    CONNECT: struct.Struct("<IIQIIIIiHHHH16s16s4x"),
    STATE: struct.Struct("<IIQIIiiHHHH16s16s"),
    ACK: struct.Struct("<IIQQQ"),
    LOST: struct.Struct("<IIQ"),
}
_EXEC, _STATE = FORMATS[EXEC], FORMATS[STATE]
# exec flags (records.h F_*)
MODE_MASK, KILLED, REFUSED, MMAP = 3, 4, 8, 16
EXE_CUT, CWD_CUT, PEXE_CUT, ARGV_CUT = 32, 64, 128, 256
# LSM hooks attached (HELLO.lsm)
LSM_HOOKS = {1: "bprm_check_security", 2: "mmap_file", 4: "file_mprotect"}
NAME_BYTES = 16  # comm: 15 characters and a NUL
# Kinds of fds as the program packs them (program.KINDS), 8 and above: unknown.
STDIO_KINDS = (
    StdioKind.NONE, StdioKind.INET, StdioKind.UNIX, StdioKind.SOCKET, StdioKind.PIPE,
    StdioKind.TTY, StdioKind.FILE, StdioKind.DEV,
)  # fmt: skip
AF_INET = 2
SOCK_STREAM, SOCK_DGRAM = 1, 2
TCP_STATES = (
    "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
    "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
)  # fmt: skip


class RecordError(ValueError):
    """The loader's stream does not have the layout this reader knows."""


@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    lsm: int  # LSM_HOOKS bits attached
    lsm_err: int  # the first attach/load error of an LSM hook (negative errno), 0

    def hooks(self) -> list[str]:
        return [name for bit, name in LSM_HOOKS.items() if self.lsm & bit]


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~7 us for these 25 fields
class Exec:
    ktime: int
    pid: int
    ppid: int
    ns: int
    uid: int
    mode: int
    hit: int
    killed: bool  # SIGKILL before the first instruction, or refused (LSM): it never ran
    exec_to_kill_ns: int
    stdio: tuple[StdioKind, StdioKind, StdioKind]
    parent_stdio: tuple[StdioKind, StdioKind, StdioKind]
    comm: str = ""
    exe_name: str = ""
    parent_comm: str = ""
    filename: str = ""
    argv: tuple[str, ...] = ()
    argv_truncated: bool = False
    ns_pid: int | None = None
    pgid: int | None = None
    sid: int | None = None
    exe: str = ""  # resolved in the kernel inside the sandbox's root; "" when cut
    cwd: str = ""
    parent_exe: str = ""
    refused: bool = False  # by an LSM hook: the new image never existed
    mapping: bool = False  # not an exec: an executable mapping of a blocked program's file
    ancestors: tuple[int, ...] = ()  # host pids of the parent's parent and up, nearest first


@dataclass(frozen=True, slots=True)
class Exit:
    ktime: int
    pid: int
    ns: int
    exit_code: int | None
    signal: int | None


@dataclass(frozen=True, slots=True)
class Connect:
    ktime: int
    pid: int
    ns: int
    uid: int
    family: str
    protocol: str
    result: int
    dport: int
    daddr: str
    comm: str
    sport: int | None = None
    ns_pid: int | None = None


@dataclass(frozen=True, slots=True)
class State:
    """A TCP state change; ``pid`` 0 when it ran outside the sandbox's processes (softirq)."""

    ktime: int
    pid: int
    ns: int
    old: str
    new: str
    family: str
    saddr: str
    sport: int
    daddr: str
    dport: int


@dataclass(frozen=True, slots=True)
class Ack:
    op: int
    a: int
    b: int


@dataclass(frozen=True, slots=True)
class Lost:
    events: int


Record = Hello | Exec | Exit | Connect | State | Ack | Lost


def decode_status(exit_code: int, group_exit_code: int) -> tuple[int | None, int | None]:
    """(exit code, signal) from the task's exit_code (the group's when it is set)."""
    status = group_exit_code or exit_code
    if status & 0x7F:
        return None, status & 0x7F
    return (status >> 8) & 0xFF, None


def _text(raw: bytes) -> str:
    end = raw.find(0)
    return (raw if end < 0 else raw[:end]).decode("utf-8", "backslashreplace")


def _path(raw: bytes, length: int, cut: bool) -> str:
    """Components leaf first -> an absolute path; "" when the walk was cut (unknown)."""
    if cut:
        return ""
    parts = raw[:length].split(b"\0")[:-1]
    return "/" + "/".join(p.decode("utf-8", "backslashreplace") for p in reversed(parts))


def _kinds(packed: int, shift: int) -> tuple[StdioKind, StdioKind, StdioKind]:
    k = STDIO_KINDS
    a, b, c = ((packed >> (shift + 4 * i)) & 0xF for i in range(3))
    u = StdioKind.UNKNOWN
    return (k[a] if a < 8 else u, k[b] if b < 8 else u, k[c] if c < 8 else u)


def split_argv(raw: bytes, total: int) -> tuple[tuple[str, ...], bool]:
    """argv words from the copied bytes (NUL-separated); truncated when the process's
    argument area was longer than what the kernel copied."""
    cut = total > len(raw)
    words = raw.split(b"\0")
    if not cut and words and words[-1] == b"":
        words.pop()
    return tuple(w.decode("utf-8", "backslashreplace") for w in words), cut


def _exec(buf: bytes, at: int) -> Exec:
    # fmt: off
    (_, _, ktime, lat, pid, ppid, ns_pid, pgid, sid, uid, ns, flags, hit, stdio, argv_len, a0, a1, a2, a3,
     copied, exe_len, cwd_len, pexe_len, comm, exe_name, pcomm, filename, argv, exe, cwd, pexe,
     ) = _EXEC.unpack_from(buf, at)
    # fmt: on
    words, truncated = split_argv(argv[:copied], argv_len)
    stopped = bool(flags & (KILLED | REFUSED))
    return Exec(
        ktime=ktime, pid=pid, ppid=ppid, ns=ns, uid=uid, mode=flags & MODE_MASK, hit=hit, killed=stopped,
        exec_to_kill_ns=lat if stopped else 0, stdio=_kinds(stdio, 0), parent_stdio=_kinds(stdio, 12),
        comm=_text(comm), exe_name=_text(exe_name), parent_comm=_text(pcomm), filename=_text(filename),
        argv=words, argv_truncated=truncated, ns_pid=ns_pid or None, pgid=pgid or None, sid=sid or None,
        exe=_path(exe, exe_len, bool(flags & EXE_CUT)), cwd=_path(cwd, cwd_len, bool(flags & CWD_CUT)),
        parent_exe=_path(pexe, pexe_len, bool(flags & PEXE_CUT)), refused=bool(flags & REFUSED),
        mapping=bool(flags & MMAP), ancestors=tuple(a for a in (a0, a1, a2, a3) if a),
    )  # fmt: skip


def _addr(raw: bytes, family: int) -> str:
    """The address in its canonical text (``::ffff:192.0.2.2``, ``2001:db8::1``), so the
    history, the SIEM and the rules name one destination one way."""
    if family == AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw[:16])


def _net16(n: int) -> int:
    """A port as the sockaddr holds it (network order), read as a little-endian u16."""
    return int.from_bytes(n.to_bytes(2, "little"), "big")


def _connect(buf: bytes, at: int) -> Connect:
    _, _, ktime, pid, ns, uid, ns_pid, ret, family, stype, sport, dport, addr, comm = FORMATS[
        CONNECT
    ].unpack_from(buf, at)
    proto = "tcp" if stype == SOCK_STREAM else "udp" if stype == SOCK_DGRAM else "other"
    return Connect(
        ktime=ktime, pid=pid, ns=ns, uid=uid, family="inet" if family == AF_INET else "inet6",
        protocol=proto, result=-ret if ret < 0 else ret, dport=_net16(dport),
        daddr=_addr(addr, family), comm=_text(comm), sport=sport or None, ns_pid=ns_pid or None,
    )  # fmt: skip


def _tcp_state(n: int) -> str:
    return TCP_STATES[n] if 0 < n < len(TCP_STATES) else str(n)


def _state(buf: bytes, at: int) -> State:
    _, _, ktime, pid, ns, old, new, family, sport, dport, _, saddr, daddr = _STATE.unpack_from(buf, at)
    return State(
        ktime=ktime, pid=pid, ns=ns, old=_tcp_state(old), new=_tcp_state(new),
        family="inet" if family == AF_INET else "inet6", saddr=_addr(saddr, family), sport=sport,
        daddr=_addr(daddr, family), dport=dport,
    )  # fmt: skip


def _exit(buf: bytes, at: int) -> Exit:
    _, _, ktime, pid, ns, code, group = FORMATS[EXIT].unpack_from(buf, at)
    exit_code, sig = decode_status(code, group)
    return Exit(ktime=ktime, pid=pid, ns=ns, exit_code=exit_code, signal=sig)


def _hello(buf: bytes, at: int) -> Hello:
    _, _, version, lsm, err, _ = FORMATS[HELLO].unpack_from(buf, at)
    if version != RECORDS_VERSION:
        raise RecordError(f"loader records version {version}, this reader knows {RECORDS_VERSION}: "
                          "rebuild the loader (deploy/local/kernel.sh) or update the collector")  # fmt: skip
    return Hello(version, lsm, err)


def _ack(buf: bytes, at: int) -> Ack:
    _, _, op, a, b = FORMATS[ACK].unpack_from(buf, at)
    return Ack(op, a, b)


def _lost(buf: bytes, at: int) -> Lost:
    return Lost(FORMATS[LOST].unpack_from(buf, at)[2])


_DECODERS: dict[int, Callable[[bytes, int], Record]] = {
    HELLO: _hello, EXEC: _exec, EXIT: _exit, CONNECT: _connect, STATE: _state, ACK: _ack, LOST: _lost,
}  # fmt: skip


def split(buf: bytes) -> tuple[list[Record], bytes]:
    """The whole records in ``buf`` and the bytes of an incomplete last one (read on)."""
    out: list[Record] = []
    at, end = 0, len(buf)
    while end - at >= HEAD.size:
        kind, size = HEAD.unpack_from(buf, at)
        fmt = FORMATS.get(kind)
        if fmt is None or size != fmt.size:
            want = "an unknown kind" if fmt is None else f"{fmt.size} bytes"
            raise RecordError(
                f"record kind {kind} of {size} bytes at offset {at}: expected {want} "
                f"(records.h version {RECORDS_VERSION}); loader and collector differ"
            )
        if end - at < size:
            break
        out.append(_DECODERS[kind](buf, at))
        at += size
    return out, buf[at:]
