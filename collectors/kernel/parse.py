"""Pure parsing of the tracer's output (``bpftrace -f json``) into records; no I/O.

One line per record: N an exec (the judgement and the ids, packed by the judging probe,
and the strings), X an exit, C a connect, S a TCP state change, A an acknowledged map
update. Strings printed with
``%r`` come hex-escaped and NUL-padded; ``unescape`` turns them back into bytes.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import orjson

from schemas.kernel import StdioKind

# Kinds of fds as the program prints them (program.KINDS), 8 and above: unknown.
STDIO_KINDS = (
    StdioKind.NONE, StdioKind.INET, StdioKind.UNIX, StdioKind.SOCKET, StdioKind.PIPE,
    StdioKind.TTY, StdioKind.FILE, StdioKind.DEV,
)  # fmt: skip
_HEX = re.compile(rb"\\x([0-9a-fA-F]{2})")
NAME_BYTES = 16  # program.NAME_LEN
ARGV_CHUNK = 64  # program.ARGV_CHUNK, printed 3 times, each only as long as argv fills it
ARGV_CHUNKS = 3
# An N line: nine numbers (the last is argv's length), three %r names of 16 bytes (an
# escape is one byte), argv's %r chunks (their sizes follow from its length), the filename.
_NAME = r"((?:\\x[0-9a-fA-F]{2}|.){16})"
_N_HEAD = re.compile(r"((?:\d+ ){8}(\d+)) ")
AF_INET = 2
SOCK_STREAM, SOCK_DGRAM = 1, 2
ID_BITS = 21  # program.ID_BITS: ns pid, pgid, sid packed in one number, 0 unknown
TCP_STATES = (
    "", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
    "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
)  # fmt: skip


class ParseError(ValueError):
    """A line the tracer printed that does not have the expected shape (counted, skipped)."""


@dataclass(frozen=True, slots=True)
class Exec:
    ktime: int
    pid: int
    ppid: int
    ns: int
    uid: int
    mode: int
    hit: int
    killed: bool
    exec_to_kill_ns: int
    stdio: tuple[StdioKind, StdioKind, StdioKind]
    parent_stdio: tuple[StdioKind, StdioKind, StdioKind]
    comm: str = ""
    exe_name: str = ""
    invoked: str = ""
    parent_comm: str = ""
    filename: str = ""
    argv: tuple[str, ...] = ()
    argv_truncated: bool = False
    ns_pid: int | None = None
    pgid: int | None = None
    sid: int | None = None


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


def unescape(text: str) -> bytes:
    """``%r`` output back to bytes: ``\\xNN`` escapes decoded, the rest as printed.

    bpftrace prints a backslash byte bare (``expr 6 \\*``, port 4444 = 0x115c), so only
    ``\\xNN`` is an escape; a general unescape (codecs.escape_decode) would misread or
    reject those bytes."""
    raw = text.encode("utf-8", "surrogateescape")
    if b"\\" not in raw:
        return raw
    # NUL padding is most of the escapes (names and argv chunks): replaced in one pass
    # first, it leaves the same bytes as the general rule, which then rarely runs.
    raw = raw.replace(b"\\x00", b"\0")
    if b"\\x" not in raw:
        return raw
    return _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def cstr(text: str) -> str:
    """A NUL-padded ``%r`` string up to its first NUL, as text (invalid UTF-8 escaped)."""
    return unescape(text).split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def split_argv(raw: bytes, length: int, shown: int) -> tuple[tuple[str, ...], bool]:
    """argv from the buffer; truncated when the kernel's args were longer than printed."""
    body = raw[: min(length, len(raw))]
    parts = body.split(b"\0")
    if body.endswith(b"\0"):
        parts = parts[:-1]
    argv = tuple(p.decode("utf-8", "backslashreplace") for p in parts)
    return argv, length > shown


def stdio_of(codes: list[str]) -> tuple[StdioKind, StdioKind, StdioKind]:
    kinds = [STDIO_KINDS[int(c)] if int(c) < len(STDIO_KINDS) else StdioKind.UNKNOWN for c in codes]
    return kinds[0], kinds[1], kinds[2]


def decode_status(code: int, group_code: int) -> tuple[int | None, int | None]:
    """(exit code, signal) from the kernel's wait status (the group's when it is set)."""
    status = group_code or code
    if status & 0x7F:
        return None, status & 0x7F
    return (status >> 8) & 0xFF, None


def _addr(raw: bytes, family: int) -> str:
    if family == AF_INET:
        return ".".join(str(b) for b in raw[:4])
    words = [f"{int.from_bytes(raw[i : i + 2], 'big'):x}" for i in range(0, 16, 2)]
    return ":".join(words)


def _kinds(packed: int, shift: int) -> tuple[StdioKind, StdioKind, StdioKind]:
    return stdio_of([str((packed >> (shift + 4 * i)) & 0xF) for i in range(3)])


def chunk_sizes(arglen: int) -> tuple[int, ...]:
    """The bytes of argv each chunk holds (the program prints no padding past argv's end)."""
    return tuple(max(0, min(ARGV_CHUNK, arglen - i * ARGV_CHUNK)) for i in range(ARGV_CHUNKS))


@functools.lru_cache(maxsize=256)
def _n_tail(sizes: tuple[int, ...]) -> re.Pattern[str]:
    chunks = " ".join(f"((?:\\\\x[0-9a-fA-F]{{2}}|.){{{n}}})" for n in sizes)
    return re.compile(f"{_NAME} {_NAME} {_NAME} {chunks} (.*)", re.S)


def _exec(text: str) -> Exec:
    head = _N_HEAD.match(text)
    m = _n_tail(chunk_sizes(int(head.group(2)))).fullmatch(text, head.end()) if head else None
    if head is None or m is None:
        raise ParseError("N line: not an exec's numbers, names, argv and filename")
    ktime, pid, ppid, ns, uid, ids, packed, lat, arglen = (int(x) for x in head.group(1).split(" "))
    killed = bool(packed & 4)
    raw = b"".join(unescape(m.group(i)) for i in (4, 5, 6))
    argv, truncated = split_argv(raw, arglen, len(raw))
    comm, exe, parent = (_text(unescape(m.group(i))) for i in (1, 2, 3))
    return Exec(
        ktime=ktime, pid=pid, ppid=ppid, ns=ns, uid=uid, mode=packed & 3, hit=(packed >> 3) & 31,
        killed=killed, exec_to_kill_ns=lat if killed else 0, stdio=_kinds(packed, 8),
        parent_stdio=_kinds(packed, 20), comm=comm, exe_name=exe, parent_comm=parent,
        filename=m.group(7), argv=argv, argv_truncated=truncated, ns_pid=_id(ids, 0), pgid=_id(ids, 1),
        sid=_id(ids, 2),
    )  # fmt: skip


def _id(packed: int, i: int) -> int | None:
    return (packed >> (i * ID_BITS)) & ((1 << ID_BITS) - 1) or None


def fixed_fields(text: str, sizes: tuple[int, ...]) -> list[bytes]:
    """``%r`` buffers of known sizes separated by single spaces; a space inside a buffer (a
    file name with a space) is printed as is, so they are cut by position, not by spaces."""
    raw = unescape(text)
    out, at = [], 0
    for size in sizes:
        out.append(raw[at : at + size])
        at += size + 1
    return out


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def _connect(f: list[str]) -> Connect:
    head = f[0].split(" ", 9)
    family, stype, ret = int(head[4]), int(head[5]), int(head[6])
    port, addr, comm = fixed_fields(head[9], (2, 16, 16))
    proto = "tcp" if stype == SOCK_STREAM else "udp" if stype == SOCK_DGRAM else "other"
    return Connect(
        ktime=int(head[0]), pid=int(head[1]), ns=int(head[2]), uid=int(head[3]),
        family="inet" if family == AF_INET else "inet6", protocol=proto, result=-ret if ret < 0 else ret,
        dport=int.from_bytes(port, "big"), daddr=_addr(addr, family), comm=_text(comm),
        sport=int(head[7]) or None, ns_pid=int(head[8]) or None,
    )  # fmt: skip


def _state(f: list[str]) -> State:
    head = f[0].split(" ", 8)
    family = int(head[5])
    saddr, daddr, saddr6, daddr6 = fixed_fields(head[8], (4, 4, 16, 16))
    src, dst = (saddr, daddr) if family == AF_INET else (saddr6, daddr6)
    return State(
        ktime=int(head[0]), pid=int(head[1]), ns=int(head[2]), old=_tcp_state(int(head[3])),
        new=_tcp_state(int(head[4])), family="inet" if family == AF_INET else "inet6",
        saddr=_addr(src, family), sport=int(head[6]), daddr=_addr(dst, family), dport=int(head[7]),
    )  # fmt: skip


def _tcp_state(n: int) -> str:
    return TCP_STATES[n] if 0 < n < len(TCP_STATES) else str(n)


Line = tuple[str, list[str]] | Lost | None


def parse_json_line(raw: bytes) -> Line:
    """One line of ``bpftrace -f json``: (kind, fields) of a printf, Lost, or None (noise)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {raw[:80]!r}") from exc
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind == "lost_events":
        return Lost(int(obj["data"]["events"]))
    if kind != "printf":
        return None
    data = str(obj["data"]).removesuffix("\n")
    tag, _, rest = data.partition(" ")
    if tag in ("N", "C", "S"):  # %r buffers that may hold spaces: cut by position
        return tag, [rest]
    return tag, rest.split(" ")


Record = Exec | Exit | Connect | State | Ack


def record_of(tag: str, f: list[str]) -> Record | None:
    """The record of one line; None for a line of no kind the program prints."""
    try:
        if tag == "N":
            return _exec(f[0])
        if tag == "X":
            code, sig = decode_status(int(f[3]), int(f[4]))
            return Exit(ktime=int(f[0]), pid=int(f[1]), ns=int(f[2]), exit_code=code, signal=sig)
        if tag == "C":
            return _connect(f)
        if tag == "S":
            return _state(f)
        if tag == "A":
            return Ack(int(f[0]), int(f[1]), int(f[2]))
    except (IndexError, ValueError) as exc:
        raise ParseError(f"{tag} line: {exc}") from exc
    return None
