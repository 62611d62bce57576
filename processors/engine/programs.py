"""What a kernel exec event ran: the names to judge it by, and what kind of program it is.

Judged by the file executed, never by argv text (DESIGN.md principle 3):

* ``program``: the basename of the path handed to execve. The image's own symlinks name
  programs (``/usr/bin/awk -> mawk``, ``/bin/sh -> busybox``), so this name is trusted only
  when that path is on the image; a symlink written in the workspace (``/work/python3 ->
  /bin/rm``) names nothing.
* ``exe``: the basename of the file the kernel loaded, resolved inside the sandbox.
* the busybox applet, only when the file loaded is busybox: busybox runs the applet named
  by ``argv[0]`` (``argv[1]`` after a literal ``busybox``), whatever the path executed.
  That is argv, but it is what busybox actually runs, so it is judged too
  (``os.execv("/bin/sh", ["rm", ...])`` runs rm in the busybox image). Any other program's
  argv[0] names nothing: ``os.execv("/bin/sleep", ["rm", ...])`` is sleep (as in the kernel).
* the program the dynamic loader runs, only when the file loaded is the loader
  (``/lib64/ld-linux-x86-64.so.2 /usr/bin/rm -f x``): ld.so maps and runs its first
  operand without an exec of it, so no exec event ever names that program. Like busybox's
  applet this is argv, but it is what the loader actually runs.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from processors.engine.matching import basename
from schemas import ExecEvent
from schemas.kernel import BUSYBOX, busybox_applet, is_loader, loader_program, loader_run

# Mounts a sandbox can write (the image's root is read-only): a file there was written by
# the sandbox, and so was a symlink there.
WRITABLE_ROOTS = ("/work/", "/tmp/", "/dev/shm/", "/var/tmp/", "/run/")  # noqa: S108 - names, not files
SHELLS = frozenset({
    "sh", "ash", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "rbash", "csh", "tcsh",
    "fish", "yash", "posh", "hush", "busybox-sh", "rc", "es",
})  # fmt: skip
AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk", "original-awk"})
# Programs that run code they read (besides shells): a socket on their stdio is a shell too.
INTERPRETERS = AWKS | frozenset({
    "python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "irb", "php", "node",
    "nodejs", "deno", "bun", "lua", "luajit", "tclsh", "wish", "expect", "guile", "racket",
    "jshell", "pwsh", "osascript", "rlwrap", "scheme", "ghci", "julia", "R", "Rscript",
})  # fmt: skip
# Clients that connect and relay stdio: a shell spawned by one, or piped to one, is remote.
NET_CLIENTS = frozenset({
    "nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat", "telnet", "openssl",
    "cryptcat", "pwncat", "sbd", "ssh", "curl", "wget", "busybox-nc",
})  # fmt: skip
# A version suffix that Debian puts on interpreters (python3.11, perl5.36.0).
_VERSION = re.compile(r"[\d.]+$")
# Shell options that still read commands from stdin (no -c, no script operand).
_STDIN_FLAGS = frozenset({"-i", "-s", "-l", "-p", "-", "--login", "-il", "-li", "-is", "-si", "+m", "-m"})


def unversioned(name: str) -> str:
    """``python3.11`` -> ``python``, ``perl5.36.0`` -> ``perl``; a name of digits stays."""
    stripped = _VERSION.sub("", name)
    return stripped or name


def is_writable_path(path: str, cwd: str) -> bool:
    full = posixpath.normpath(posixpath.join(cwd or "/", path)) if path else ""
    return any((full + "/").startswith(root) for root in WRITABLE_ROOTS)


@dataclass(frozen=True, slots=True)
class Identity:
    """The names of one exec and what kind of program it is."""

    program: str  # basename of the path executed ('' when that path is in the workspace)
    exe: str  # basename of the file loaded
    applet: str  # busybox applet run ('' when not busybox)
    loaded: str  # the program the dynamic loader runs ('' when not the loader)
    shell: bool
    interpreter: bool
    awk: bool
    net_client: bool

    @property
    def names(self) -> tuple[str, ...]:
        """Every name, most telling first: a blocked or suspicious list matching any counts."""
        out = [n for n in (self.loaded, self.applet, self.program, self.exe) if n]
        return tuple(dict.fromkeys(out))

    @property
    def label(self) -> str:
        return self.loaded or self.applet or self.program or self.exe or "?"


def identify(ev: ExecEvent) -> Identity:
    exe = basename(ev.exe) if ev.exe else ""
    raw_program = ev.program or basename(ev.filename)
    trusted = not is_writable_path(ev.filename, ev.cwd) if ev.filename else True
    program = raw_program if trusted else ""
    applet = _applet(ev, exe or raw_program)
    loaded = loader_program(ev.argv) if is_loader(exe) or is_loader(program) else ""
    names = [n for n in (loaded, applet, program, exe) if n]
    kinds = {unversioned(n) for n in names} | set(names)
    return Identity(
        program=program,
        exe=exe,
        applet=applet,
        loaded=loaded,
        shell=bool(kinds & SHELLS),
        interpreter=bool(kinds & INTERPRETERS),
        awk=bool(kinds & AWKS),
        net_client=bool(kinds & NET_CLIENTS),
    )


def _applet(ev: ExecEvent, exe: str) -> str:
    """What busybox runs; '' for any other program, whose argv[0] names nothing."""
    if exe != BUSYBOX:
        return ""
    return busybox_applet(ev.argv) if ev.argv else ev.program or BUSYBOX


def loader_operand(argv: tuple[str, ...]) -> str:
    """The path of the program ld.so runs ('' for none)."""
    return loader_run(argv)[0]


def allowed_by(ident: Identity, allowed: frozenset[str]) -> bool:
    """An allowlist passes the program actually loaded: the busybox applet, else the exe
    (versions aside: python3.11 passes for python3) or the image's name for it."""
    if ident.loaded:
        return ident.loaded in allowed
    if ident.applet:
        return ident.applet in allowed
    if ident.program in allowed or ident.exe in allowed:
        return True
    exe = unversioned(ident.exe)
    return bool(exe) and any(unversioned(a) == exe for a in allowed)


def reads_stdin(argv: tuple[str, ...]) -> bool:
    """Whether a shell started with this argv reads its commands from stdin."""
    return all(a in _STDIN_FLAGS for a in argv[1:])
