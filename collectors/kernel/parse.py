"""Pure parsing of the tracer's output (``bpftrace -f json``) into records; no I/O.

One exec arrives as two lines (E numbers, N strings) printed by two probes on the same
tracepoint; they are joined per pid by ``ExecAssembler``. Lines of
other kinds are complete on their own. Strings printed with ``%r`` come hex-escaped and
NUL-padded; ``unescape`` turns them back into bytes.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

import orjson

from schemas.kernel import StdioKind

# Kinds of fds as the program prints them (program.KINDS), 8 and above: unknown.
STDIO_KINDS = (
    StdioKind.NONE, StdioKind.INET, StdioKind.UNIX, StdioKind.SOCKET, StdioKind.PIPE,
    StdioKind.TTY, StdioKind.FILE, StdioKind.DEV,
)  # fmt: skip
_HEX = re.compile(rb"\\x([0-9a-fA-F]{2})")
NAME_BYTES = 16  # program.NAME_LEN
ARGV_CHUNK = 64  # program.ARGV_CHUNK, printed 3 times
# An N line after the pid: three %r names of 16 bytes (an escape is one byte), the filename.
_NAME = r"((?:\\x[0-9a-fA-F]{2}|.){16})"
_CHUNK = f"((?:\\\\x[0-9a-fA-F]{{2}}|.){{{ARGV_CHUNK}}})"
_N_LINE = re.compile(f"(\\d+) {_NAME} {_NAME} {_NAME} {_CHUNK} {_CHUNK} {_CHUNK} (.*)", re.S)
AF_INET = 2
SOCK_STREAM, SOCK_DGRAM = 1, 2


class ParseError(ValueError):
    """A line the tracer printed that does not have the expected shape (counted, skipped)."""


@dataclass(slots=True)
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
    parts: set[str] = field(default_factory=set)


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


@dataclass(frozen=True, slots=True)
class Ack:
    op: int
    a: int
    b: int


@dataclass(frozen=True, slots=True)
class Lost:
    events: int


def unescape(text: str) -> bytes:
    """``%r`` output back to bytes: ``\\xNN`` escapes decoded, the rest as printed."""
    raw = text.encode("utf-8", "surrogateescape")
    if b"\\" not in raw:
        return raw
    try:
        return codecs.escape_decode(raw)[0]
    except ValueError:  # a lone backslash the tracer printed as is
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


def _exec_numbers(f: list[str]) -> Exec:
    n = [int(x) for x in f[:8]]
    killed = n[7] == 1
    return Exec(ktime=n[0], pid=n[1], ppid=n[2], ns=n[3], uid=n[4], mode=n[5], hit=n[6], killed=killed,
                exec_to_kill_ns=int(f[14]) if killed else 0, stdio=stdio_of(f[8:11]),
                parent_stdio=stdio_of(f[11:14]))  # fmt: skip


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
    head = f[0].split(" ", 7)
    family, stype, ret = int(head[4]), int(head[5]), int(head[6])
    port, addr, comm = fixed_fields(head[7], (2, 16, 16))
    proto = "tcp" if stype == SOCK_STREAM else "udp" if stype == SOCK_DGRAM else "other"
    return Connect(
        ktime=int(head[0]), pid=int(head[1]), ns=int(head[2]), uid=int(head[3]),
        family="inet" if family == AF_INET else "inet6", protocol=proto, result=-ret if ret < 0 else ret,
        dport=int.from_bytes(port, "big"), daddr=_addr(addr, family), comm=_text(comm),
    )  # fmt: skip


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
    if tag == "N":  # pid, then %r buffers that may hold spaces
        return tag, rest.split(" ", 1)
    if tag == "C":
        return tag, [rest]
    return tag, rest.split(" ")


def record_of(tag: str, f: list[str]) -> Exit | Connect | Ack | None:
    """The record for a self-contained line; None for the parts of an exec."""
    try:
        if tag == "X":
            code, sig = decode_status(int(f[3]), int(f[4]))
            return Exit(ktime=int(f[0]), pid=int(f[1]), ns=int(f[2]), exit_code=code, signal=sig)
        if tag == "C":
            return _connect(f)
        if tag == "A":
            return Ack(int(f[0]), int(f[1]), int(f[2]))
    except (IndexError, ValueError) as exc:
        raise ParseError(f"{tag} line: {exc}") from exc
    return None


class ExecAssembler:
    """Joins the two lines of one exec by pid; an exec is complete with both."""

    PARTS = frozenset({"N"})

    def __init__(self) -> None:
        self._open: dict[int, Exec] = {}
        self._early: dict[int, list[tuple[str, list[str]]]] = {}
        self._gen = 0  # advanced by tick(): what is pending across a whole tick is late
        self._born: dict[int, int] = {}  # pid -> the generation its first line arrived in

    def feed(self, tag: str, f: list[str]) -> Exec | None:
        try:
            return self._feed(tag, f)
        except (IndexError, ValueError) as exc:
            raise ParseError(f"{tag} line: {exc}") from exc

    def _feed(self, tag: str, f: list[str]) -> Exec | None:
        if tag == "E":
            head = _exec_numbers(f)
            self._open[head.pid] = head
            self._born.setdefault(head.pid, self._gen)
            for early in self._early.pop(head.pid, []):
                self._part(head, *early)
            return self._done(head)
        pid = int(f[0])
        ex = self._open.get(pid)
        if ex is None:  # its E line is still in another CPU's buffer
            self._early.setdefault(pid, []).append((tag, f))
            self._born.setdefault(pid, self._gen)
            return None
        self._part(ex, tag, f)
        return self._done(ex)

    def _part(self, ex: Exec, tag: str, f: list[str]) -> None:
        m = _N_LINE.fullmatch(f[1]) if tag == "N" else None
        if m is None:
            raise ParseError(f"{tag} line: not an exec's argv length, names, argv and filename")
        ex.comm, ex.exe_name, ex.parent_comm = (_text(unescape(m.group(i))) for i in (2, 3, 4))
        raw = b"".join(unescape(m.group(i)) for i in (5, 6, 7))
        ex.argv, ex.argv_truncated = split_argv(raw, int(m.group(1)), len(raw))
        ex.filename = m.group(8)
        ex.parts.add(tag)

    def _done(self, ex: Exec) -> Exec | None:
        if ex.parts >= self.PARTS:
            del self._open[ex.pid]
            self._born.pop(ex.pid, None)
            return ex
        return None

    def pending(self) -> int:
        return len(self._open) + len(self._early)

    def tick(self) -> list[Exec]:
        """Execs whose first line came before the previous tick and that still miss a part
        (the kernel lost it): handed out as they are. Younger ones wait for their part."""
        late = [pid for pid, gen in self._born.items() if gen < self._gen]
        self._gen += 1
        out = []
        for pid in late:
            del self._born[pid]
            self._early.pop(pid, None)
            ex = self._open.pop(pid, None)
            if ex is not None:
                out.append(ex)
        return out

    def expire(self) -> list[Exec]:
        """Every exec still missing a part (at the tracer's end): handed out as they are."""
        out = list(self._open.values())
        self._open.clear()
        self._early.clear()
        self._born.clear()
        return out
