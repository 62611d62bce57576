"""Kernel events of sandboxes (topic ``sandguard.kernel``): every exec, exit and connect.

Published by the kernel collector (collectors/kernel), keyed by container id; only
processes in a sandguard sandbox's mount namespace are published (never the host's,
never another container's).

Field semantics (for rule writers):

- ``pid``/``ppid`` are host pids (``ancestors``: the parent's parent and up, at most 4,
  nearest first, host pids too: a process that forked without an exec is in the chain);
  ``ns_pid`` is the pid inside the sandbox (None when unknown); ``pgid``/``sid`` (exec)
  are the process group and session, host numbers like ``pid``. A TCP state change
  (connect, phase ``state``) may run where no process of the sandbox does (softirq): its
  ``pid`` is 0 then. ``uid`` is the real uid as seen from the host (no user namespaces
  here, so the same number as inside).
- ``ExecEvent.filename`` is the path handed to execve (``/bin/sh``, ``./x``, ``sh`` via
  PATH lookup as resolved by the caller's libc). ``exe`` is the file actually executed,
  resolved inside the sandbox (absolute, symlinks followed): for a ``#!`` script it is the
  interpreter and ``script`` keeps the script's path. ``program`` is the name to judge a
  program by: the basename of ``filename``, which for a busybox applet is the applet name
  (``/bin/sh -> busybox``: program ``sh``, exe ``/bin/busybox``). Judge a blocked program by
  ``program`` AND by the basename of ``exe`` (a renamed copy keeps its exe only when the copy
  is the same file; a copy elsewhere is caught by ``exe_writable``).
- ``argv`` is what the process received (attacker-controlled text; never judge by it alone),
  ``argv_truncated`` when the kernel buffer cut it.
- ``stdio``/``parent_stdio`` are the kinds of fds 0, 1, 2 of the new program / its parent,
  each one of ``StdioKind`` (``inet`` = a TCP/UDP socket: a reverse-shell signal; ``unknown``
  = not readable, e.g. the process already exited; best effort, read from /proc).
- ``exe_writable`` is True when the executed file (or the script) lives on a filesystem the
  sandbox can write (the workspace, /tmp, /dev/shm): it was written inside the sandbox, the
  image's root being read-only. ``exe_fs`` names that mount point (or "" for the image).
- ``blocked`` is True when the kernel layer killed the program at exec, before its first
  instruction (policy mode enforce); ``mode`` is the policy mode it was judged under.
- ``ktime_ns`` is CLOCK_MONOTONIC at the event (``bpf_ktime_get_ns``); ``time`` is epoch ms.
- ``source``: ``bpf`` (every event from the tracepoint) or ``proc_connector`` (pids from the
  netlink connector, the rest read from /proc afterwards: best effort, a short-lived
  process may be gone, then fields stay empty and ``best_effort`` is True).
- ``event_id`` is stable: uuid5 of (host boot id, pid, ktime_ns, kind), so two tracer
  instances overlapping, or a replay, yield the same ids and the sink stores each once.
- ``ConnectEvent``: ``result`` is the errno of connect (0 success, 115 EINPROGRESS for a
  non-blocking connect, negative never); ``phase`` is ``connect`` (the syscall) or
  ``state`` (a TCP state change from sock:inet_sock_set_state, then ``old_state``/
  ``new_state`` are set). Addresses are text (``127.0.0.1``, ``::1``).
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Annotated, Literal, TypeAlias

from pydantic import Field

from schemas.events import SANDGUARD_NAMESPACE, Event

_NS = SANDGUARD_NAMESPACE.bytes


class StdioKind(StrEnum):
    INET = "inet"
    UNIX = "unix"
    SOCKET = "socket"  # another family (netlink, packet...)
    PIPE = "pipe"
    TTY = "tty"
    FILE = "file"
    DEV = "dev"
    NONE = "none"  # closed
    UNKNOWN = "unknown"  # not readable


class EventSource(StrEnum):
    BPF = "bpf"
    PROC_CONNECTOR = "proc_connector"


BUSYBOX = "busybox"


def busybox_applet(argv: tuple[str, ...]) -> str:
    """The applet busybox runs for this argv, as busybox picks it: argv[0] without one
    leading '-' (a login shell's mark), then its basename; after a literal ``busybox``,
    the basename of the next word (again and again: ``busybox busybox rm`` is rm). Only for
    an exec whose file is busybox: any other program's argv[0] is the caller's text and
    names nothing (the kernel layer judges the same way)."""
    if not argv:
        return BUSYBOX
    name = argv[0].removeprefix("-").rsplit("/", 1)[-1]
    for word in argv[1:]:
        if name != BUSYBOX:
            break
        name = word.rsplit("/", 1)[-1]
    return name


# The dynamic loader run as a program: its file names (glibc's, Debian's /usr/bin/ld.so,
# musl's), matched by their start: the kernel's name of the file is cut at 15 characters
# ("ld-linux-x86-64."), and a run as short as the loader's is often gone before the
# collector could read its full path.
_LOADER = re.compile(r"^(ld-linux|ld64\.so|ld-musl-|ld\.so$)")
# The loader's options that take the next word as their value (ld.so --help, glibc 2.36);
# the rest are flags.
LOADER_VALUE_OPTIONS = frozenset({"--library-path", "--preload", "--audit", "--argv0", "--inhibit-rpath",
                                  "--glibc-hwcaps-prepend", "--glibc-hwcaps-mask"})  # fmt: skip


def is_loader(exe_name: str) -> bool:
    """The dynamic loader (``ld-linux-x86-64.so.2``, ``ld.so``): it runs the program its
    argv names without an exec of it."""
    return bool(_LOADER.match(exe_name))


def loader_run(argv: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The program ld.so runs (its first operand past its own options and an optional
    ``--``; '' for none, as with ``--help``) and the argv it hands it (``--argv0``'s value,
    else the path, first): busybox loaded this way runs the applet that argv names."""
    args, argv0, i = argv[1:], "", 0
    while i < len(args) and args[i].startswith("--"):
        if args[i] == "--":
            i += 1
            break
        if args[i] in LOADER_VALUE_OPTIONS:
            argv0 = args[i + 1] if args[i] == "--argv0" and i + 1 < len(args) else argv0
            i += 1
        i += 1
    if i >= len(args):
        return "", ()
    return args[i], (argv0 or args[i], *args[i + 1 :])


def loader_program(argv: tuple[str, ...]) -> str:
    """The program ld.so runs for this argv, by name: the basename of its operand (the
    applet when that is busybox); "" when there is none. The kernel layer judges the same
    way."""
    path, run = loader_run(argv)
    name = path.rsplit("/", 1)[-1]
    return busybox_applet(run) if name == BUSYBOX else name


def kernel_event_id(boot_id: str, pid: int, ktime_ns: int, kind: str) -> str:
    """Stable id of one kernel event: overlapping tracers and replays derive the same id.
    ``stable_id("kernel", boot_id, pid, ktime_ns, kind)`` (uuid5), computed without the
    UUID object (~1 us instead of ~6, twice per exec on the collector's hot path)."""
    name = f"kernel\x1f{boot_id}\x1f{pid}\x1f{ktime_ns}\x1f{kind}".encode()
    digest = bytearray(hashlib.sha1(_NS + name).digest()[:16])  # noqa: S324 - uuid5 is SHA-1 by definition
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


class KernelEvent(Event):
    """Fields every kernel event shares."""

    pid: int = Field(description="host pid")
    ns_pid: int | None = Field(None, description="pid inside the sandbox")
    comm: str = ""
    mnt_ns: int = Field(0, description="mount namespace inum the event was attributed by")
    ktime_ns: int = Field(0, description="CLOCK_MONOTONIC ns at the event")
    source: EventSource = EventSource.BPF
    best_effort: bool = Field(False, description="fields read from /proc after the fact")


class ExecEvent(KernelEvent):
    kind: Literal["exec"] = "exec"
    ppid: int = 0
    ancestors: tuple[int, ...] = Field(
        (), description="host pids of the parent's parent and up (at most 4), nearest first: who forked whom"
    )
    uid: int = 0
    pgid: int | None = None
    sid: int | None = None
    filename: str = Field("", description="the path given to execve")
    exe: str = Field("", description="the file executed, resolved inside the sandbox")
    script: str | None = Field(None, description="the #! script when exe is its interpreter")
    program: str = Field("", description="name to judge by: basename of filename (busybox applet)")
    argv: tuple[str, ...] = ()
    argv_truncated: bool = False
    cwd: str = ""
    parent_exe: str = ""
    parent_comm: str = ""
    stdio: tuple[StdioKind, StdioKind, StdioKind] = (StdioKind.UNKNOWN,) * 3
    parent_stdio: tuple[StdioKind, StdioKind, StdioKind] = (StdioKind.UNKNOWN,) * 3
    stdio_ids: tuple[str, str, str] | None = Field(
        None, description="targets of fds 0, 1, 2 as read for stdio ('pipe:[12]'): who is piped to whom"
    )
    exe_writable: bool = Field(False, description="exe or script on a sandbox-writable mount")
    exe_fs: str = Field("", description="the writable mount point holding it, '' for the image")
    blocked: bool = Field(False, description="killed in the kernel before its first instruction")
    mode: str = Field("", description="policy mode it was judged under (enforce/audit), '' none")


class ExitEvent(KernelEvent):
    kind: Literal["exit"] = "exit"
    exit_code: int | None = Field(None, description="exit status when it exited normally")
    signal: int | None = Field(None, description="the signal that ended it")


class ConnectEvent(KernelEvent):
    kind: Literal["connect"] = "connect"
    phase: Literal["connect", "state"] = "connect"
    exe: str = ""
    uid: int = 0
    family: Literal["inet", "inet6"] = "inet"
    protocol: Literal["tcp", "udp", "other"] = "tcp"
    daddr: str = ""
    dport: int = 0
    saddr: str | None = None
    sport: int | None = None
    result: int | None = Field(None, description="errno of connect: 0 ok, 115 in progress")
    old_state: str | None = None
    new_state: str | None = None


KernelEventUnion: TypeAlias = Annotated[ExecEvent | ExitEvent | ConnectEvent, Field(discriminator="kind")]

__all__ = [
    "BUSYBOX",
    "ConnectEvent",
    "EventSource",
    "ExecEvent",
    "ExitEvent",
    "KernelEvent",
    "KernelEventUnion",
    "StdioKind",
    "busybox_applet",
    "is_loader",
    "kernel_event_id",
    "loader_program",
    "loader_run",
]
