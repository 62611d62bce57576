"""More programs that run another program: the ones found in the sandbox images.

Listed from /bin, /usr/bin, /sbin and /usr/sbin of sandguard/busybox and
sandguard/python (util-linux, coreutils, busybox applets, debianutils): each takes a
command and runs it, after options whose arguments must be skipped exactly. Those
that run what cannot be seen here (every file of a directory, an interactive shell,
commands from a configuration or from standard input) are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.commandline.options import OptionSpec, has, parse_options, static, value_of
from common.commandline.shell_words import Refusal, Word
from common.commandline.steps import EXITS, GenericWrapper, Handler, Inner, Named, Run, Script, run_argv

_CHRT = GenericWrapper(
    OptionSpec(
        flags="abdfiorRmpvhV",
        with_arg="TPD",
        long_flags="all-tasks batch deadline fifo idle other rr reset-on-fork max pid verbose",
        long_with_arg="sched-runtime sched-period sched-deadline",
    ),
    operands=1,  # the priority
    no_command=("-p", "--pid", "-m", "--max", "-h", "-V"),
)
_PERSONALITY = OptionSpec(
    flags="BFILRSTXZ3vhV",
    long_flags="32bit fdpic-funcptrs short-inode addr-compat-layout addr-no-randomize whole-seconds"
    " sticky-timeouts read-implies-exec mmap-page-zero 3gb 4gb uname-2.6 verbose list",
)
# linux32, linux64, i386 and x86_64 are setarch with the architecture as the name.
_LINUX32 = GenericWrapper(_PERSONALITY, no_command=("--list", "-h", "-V"), shell_when_empty=True)
_SETARCH = GenericWrapper(_PERSONALITY, operands=1, no_command=("--list", "-h", "-V"), shell_when_empty=True)
_PRLIMIT = GenericWrapper(
    OptionSpec(
        flags="hV",
        with_arg="po",
        optional_arg="cdefilmnqrstuvxy",
        long_flags="noheadings raw verbose",
        long_with_arg="pid output",
        long_optional="core data nice fsize sigpending memlock rss nofile msgqueue rtprio stack cpu"
        " nproc as locks rttime",
    ),
    no_command=("-p", "--pid", "-h", "-V"),
)
_SETPRIV = GenericWrapper(
    OptionSpec(
        flags="dhV",
        long_flags="dump nnp no-new-privs clear-groups keep-groups init-groups reset-env",
        long_with_arg="inh-caps ambient-caps bounding-set ruid euid rgid egid reuid regid groups"
        " securebits pdeathsig selinux-label apparmor-profile landlock-access landlock-rule",
    ),
    no_command=("-d", "--dump", "-h", "-V"),
)
_UNSHARE = GenericWrapper(
    OptionSpec(
        flags="muinpUCTfrchV",
        with_arg="RwSGl",
        long_flags="fork map-root-user map-current-user map-auto keep-caps",
        long_with_arg="map-user map-group map-users map-groups propagation setgroups root wd setuid"
        " setgid monotonic boottime load-interp",
        long_optional="mount uts ipc net pid user cgroup time kill-child mount-proc",
    ),
    no_command=("-h", "-V"),
    shell_when_empty=True,
)
_NSENTER = GenericWrapper(
    OptionSpec(
        flags="aeFZchV",
        with_arg="tSGW",
        optional_arg="muinpUCTrw",
        long_flags="all preserve-credentials env no-fork follow-context join-cgroup",
        long_with_arg="target setuid setgid wdns",
        long_optional="mount uts ipc net pid user cgroup time root wd",
    ),
    no_command=("-h", "-V"),
    shell_when_empty=True,
)
_CHOOM = GenericWrapper(
    OptionSpec(flags="hV", with_arg="np", long_with_arg="adjust pid"),
    no_command=("-p", "--pid", "-h", "-V"),
)
_UCLAMPSET = GenericWrapper(
    OptionSpec(
        flags="asRvhV",
        with_arg="mMp",
        long_flags="all-tasks system reset-on-fork verbose",
        long_with_arg="pid",
    ),
    no_command=("-p", "--pid", "-s", "--system", "-h", "-V"),
)
_LOGSAVE = GenericWrapper(OptionSpec(flags="asv"), operands=1)  # logsave [-asv] logfile cmd
_CTTYHACK = GenericWrapper(OptionSpec(), shell_when_empty=True)
_OPENVT = GenericWrapper(OptionSpec(flags="swlfuveh", with_arg="c"), shell_when_empty=True)
_RUNCON = OptionSpec(flags="c", with_arg="urtl", long_flags="compute", long_with_arg="user role type range")


def _runcon(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``runcon CONTEXT cmd`` or ``runcon [-u U] [-r R] [-t T] [-l L] cmd``."""
    options, k = parse_options(prog, args, _RUNCON)
    if has(options, *EXITS):
        return []
    rest = list(args[k:])
    if not has(options, "-u", "-r", "-t", "-l", "--user", "--role", "--type", "--range") and rest:
        static(prog, rest.pop(0))  # the context
    return run_argv(rest)


def _sg(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``sg [-] group [-c] 'command'``: the command goes to /bin/sh -c; none is a shell."""
    rest = [w for w in args if w.value != "-"]
    if len(rest) < 2:
        raise Refusal(prog, f"{prog} without a command starts an interactive shell")
    script = rest[2:] if static(prog, rest[1]) == "-c" else rest[1:]
    if not script:
        raise Refusal(prog, f"{prog} -c without a command")
    return [Script(" ".join(static(prog, w) for w in script))]


_SCRIPT = OptionSpec(
    flags="aefqhV",
    with_arg="cEBIOTmo",
    optional_arg="t",
    long_flags="append return flush quiet",
    long_with_arg="command echo log-io log-in log-out log-timing logging-format output-limit",
    long_optional="timing",
)


def _script(prog: str, args: Sequence[Word]) -> list[Inner]:
    options, _ = parse_options(prog, args, _SCRIPT)
    if has(options, *EXITS, "-h", "-V"):
        return []
    command = value_of(options, "-c", "--command")
    if command is None:
        raise Refusal(prog, f"{prog} without -c starts an interactive shell")
    return [Script(command)]


_SSD = OptionSpec(
    flags="SKTHVtoqvbCm",
    with_arg="OxnupacgsrdNPIkR",
    long_flags="start stop status help version test oknodo quiet verbose background no-close"
    " make-pidfile remove-pidfile notify-await",
    long_with_arg="output exec name user pidfile startas chuid group signal chroot chdir nicelevel"
    " procsched iosched umask retry ppid notify-timeout",
)


def _start_stop_daemon(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``start-stop-daemon -S -x PROG -- ARGS`` (or ``-a PROG``) runs PROG with ARGS."""
    options, k = parse_options(prog, args, _SSD)
    if not has(options, "-S", "--start"):
        return []
    program = value_of(options, "-a", "--startas") or value_of(options, "-x", "--exec")
    if program is None:
        raise Refusal(prog, f"{prog} --start without --exec or --startas")
    return [Run((Word.literal(program), *args[k:]))]


_LD_SO = OptionSpec(
    long_flags="list verify inhibit-cache list-tunables list-diagnostics",
    long_with_arg="library-path inhibit-rpath audit preload argv0 glibc-hwcaps-prepend glibc-hwcaps-mask",
)


def _ld_so(prog: str, args: Sequence[Word]) -> list[Inner]:
    """The dynamic loader runs the program it is given; --preload and --audit load code."""
    options, k = parse_options(prog, args, _LD_SO)
    if has(options, *EXITS):
        return []
    if has(options, "--preload", "--audit", "--library-path"):
        raise Refusal(prog, f"{prog} --preload, --audit or --library-path loads code into the program")
    name = value_of(options, "--argv0")
    found = run_argv(args[k:])
    return [Named(name), *found] if name is not None and found else found


def _refused(reason: str) -> Handler:
    def refuse(prog: str, args: Sequence[Word]) -> list[Inner]:
        if args and args[0].value in EXITS:
            return []
        raise Refusal(prog, f"{prog!r} {reason}")

    return refuse


def _run_parts(prog: str, args: Sequence[Word]) -> list[Inner]:
    if any(w.value in ("--test", "-t", "--list", *EXITS) for w in args):
        return []  # only lists what would run
    raise Refusal(prog, f"{prog!r} runs every program in a directory, which cannot be checked")


_UNSEEN = {
    "crond": "runs commands from crontab files",
    "httpd": "runs CGI programs from the directory it serves",
    "telnetd": "runs a login program for each connection",
    "getty": "runs a login program",
    "login": "starts a login shell, which runs profile files the sandbox can write",
    "sulogin": "starts a login shell",
    "init": "runs the programs of an inittab",
    "linuxrc": "runs the programs of an inittab",
    "udhcpc": "runs a script on every lease",
    "udhcpd": "runs a script on every lease",
    "ifup": "runs interface scripts",
    "ifdown": "runs interface scripts",
    "acpid": "runs handlers for events",
    "mdev": "runs commands from mdev.conf",
    "switch_root": "runs a new init",
    "run-init": "runs a new init",
    "ed": "reads editing commands from standard input, and '!' runs them in a shell",
    "vi": "runs shell commands with '!'",
    "scriptlive": "runs the commands recorded in a log",
    "newgrp": "starts an interactive shell",
}

RUNNERS: dict[str, Handler] = {
    "chrt": _CHRT,
    "linux32": _LINUX32,
    "linux64": _LINUX32,
    "i386": _LINUX32,
    "x86_64": _LINUX32,
    "setarch": _SETARCH,
    "prlimit": _PRLIMIT,
    "setpriv": _SETPRIV,
    "unshare": _UNSHARE,
    "nsenter": _NSENTER,
    "choom": _CHOOM,
    "uclampset": _UCLAMPSET,
    "logsave": _LOGSAVE,
    "cttyhack": _CTTYHACK,
    "openvt": _OPENVT,
    "runcon": _runcon,
    "sg": _sg,
    "script": _script,
    "start-stop-daemon": _start_stop_daemon,
    "ld.so": _ld_so,
    "ld-linux-x86-64.so.2": _ld_so,
    "run-parts": _run_parts,
    **{name: _refused(reason) for name, reason in _UNSEEN.items()},
}
