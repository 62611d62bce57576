"""More programs that run another program: the ones found in the sandbox images.

Listed from /bin, /usr/bin, /sbin and /usr/sbin of sandguard/busybox and
sandguard/python (util-linux, coreutils, busybox applets, debianutils): each takes a
command and runs it, after options whose arguments must be skipped exactly. Those
that run what cannot be seen here (every file of a directory, an interactive shell,
commands from a configuration or from standard input) are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.commandline.options import Option, getopt, has, parse_options, static, value_of
from common.commandline.shell_words import Refusal, Word
from common.commandline.steps import (
    EXITS,
    GenericWrapper,
    Handler,
    Inner,
    Named,
    Run,
    Script,
    run_argv,
    with_options,
)

_CHRT = GenericWrapper(
    getopt(
        "abdfiorRmpvhVT:P:D:",
        "all-tasks batch deadline fifo idle other rr reset-on-fork max pid verbose sched-runtime: "
        "sched-period: sched-deadline:",
    ),
    operands=1,  # the priority
    no_command=("-p", "--pid", "-m", "--max", "-h", "-V"),
)
_PERSONALITY = getopt("BFILRSTXZ3vhV", "32bit fdpic-funcptrs short-inode addr-compat-layout "
    "addr-no-randomize whole-seconds sticky-timeouts read-implies-exec mmap-page-zero 3gb 4gb uname-2.6 "
    "verbose list")  # fmt: skip
# linux32, linux64, i386 and x86_64 are setarch with the architecture as the name.
_LINUX32 = GenericWrapper(_PERSONALITY, no_command=("--list", "-h", "-V"), shell_when_empty=True)
_SETARCH = GenericWrapper(_PERSONALITY, operands=1, no_command=("--list", "-h", "-V"), shell_when_empty=True)
_PRLIMIT = GenericWrapper(
    getopt(
        "hVp:o:c::d::e::f::i::l::m::n::q::r::s::t::u::v::x::y::",
        "noheadings raw verbose pid: output: core:: data:: nice:: fsize:: sigpending:: memlock:: rss:: "
        "nofile:: msgqueue:: rtprio:: stack:: cpu:: nproc:: as:: locks:: rttime::",
    ),
    no_command=("-p", "--pid", "-h", "-V"),
)
_SETPRIV = GenericWrapper(
    getopt(
        "dhV",
        "dump nnp no-new-privs clear-groups keep-groups init-groups reset-env inh-caps: ambient-caps: "
        "bounding-set: ruid: euid: rgid: egid: reuid: regid: groups: securebits: pdeathsig: "
        "selinux-label: apparmor-profile: landlock-access: landlock-rule:",
    ),
    no_command=("-d", "--dump", "-h", "-V"),
)
_UNSHARE = GenericWrapper(
    getopt(
        "muinpUCTfrchVR:w:S:G:l:",
        "fork map-root-user map-current-user map-auto keep-caps map-user: map-group: map-users: "
        "map-groups: propagation: setgroups: root: wd: setuid: setgid: monotonic: boottime: load-interp: "
        "mount:: uts:: ipc:: net:: pid:: user:: cgroup:: time:: kill-child:: mount-proc::",
    ),
    no_command=("-h", "-V"),
    shell_when_empty=True,
)
_NSENTER = GenericWrapper(
    getopt(
        "aeFZchVt:S:G:W:m::u::i::n::p::U::C::T::r::w::",
        "all preserve-credentials env no-fork follow-context join-cgroup target: setuid: setgid: wdns: "
        "mount:: uts:: ipc:: net:: pid:: user:: cgroup:: time:: root:: wd::",
    ),
    no_command=("-h", "-V"),
    shell_when_empty=True,
)
_CHOOM = GenericWrapper(
    getopt("hVn:p:", "adjust: pid:"),
    no_command=("-p", "--pid", "-h", "-V"),
)
_UCLAMPSET = GenericWrapper(
    getopt("asRvhVm:M:p:", "all-tasks system reset-on-fork verbose pid:"),
    no_command=("-p", "--pid", "-s", "--system", "-h", "-V"),
)
_LOGSAVE = GenericWrapper(getopt("asv"), operands=1)  # logsave [-asv] logfile cmd
_CTTYHACK = GenericWrapper(getopt(), shell_when_empty=True)
_OPENVT = GenericWrapper(getopt("swlfuvehc:"), shell_when_empty=True)
_RUNCON = getopt("cu:r:t:l:", "compute user: role: type: range:")


@with_options(_RUNCON)
def _runcon(prog: str, args: Sequence[Word], options: list[Option], k: int) -> list[Inner]:
    """``runcon CONTEXT cmd`` or ``runcon [-u U] [-r R] [-t T] [-l L] cmd``."""
    rest = list(args[k:])
    if not has(options, "-u", "-r", "-t", "-l", "--user", "--role", "--type", "--range") and rest:
        static(prog, rest.pop(0))  # the context
    return run_argv(rest)


def _service(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``service NAME ACTION`` and ``invoke-rc.d NAME ACTION`` run /etc/init.d/NAME with
    the arguments: a NAME with a '/' (``../../usr/bin/rm``) runs any program with any
    arguments. The image's own init scripts are the image's."""
    for word in args:
        value = static(prog, word)
        if value.startswith("-"):
            continue
        if "/" in value:
            raise Refusal(prog, f"{prog} {value!r} runs a program outside /etc/init.d")
        return []
    return []


# debconf [options] command [args]: runs the command with a debconf frontend.
_DEBCONF = GenericWrapper(getopt("o:f:p:", "owner: frontend: priority: terse"))
_DEBCONF_APT_PROGRESS = GenericWrapper(
    getopt("", "config start from: to: stop logfile: logstderr no-progress dlwaypoint:")
)


def _sg(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``sg [-] group [-c] 'command'``: the command goes to /bin/sh -c; none is a shell."""
    rest = [w for w in args if w.value != "-"]
    if len(rest) < 2:
        raise Refusal(prog, f"{prog} without a command starts an interactive shell")
    script = rest[2:] if static(prog, rest[1]) == "-c" else rest[1:]
    if not script:
        raise Refusal(prog, f"{prog} -c without a command")
    return [Script(" ".join(static(prog, w) for w in script))]


_SCRIPT = getopt("aefqhVc:E:B:I:O:T:m:o:t::", "append return flush quiet command: echo: log-io: log-in: "
    "log-out: log-timing: logging-format: output-limit: timing::")  # fmt: skip


@with_options(_SCRIPT, "-h", "-V")
def _script(prog: str, args: Sequence[Word], options: list[Option], _: int) -> list[Inner]:
    command = value_of(options, "-c", "--command")
    if command is None:
        raise Refusal(prog, f"{prog} without -c starts an interactive shell")
    return [Script(command)]


_SSD = getopt("SKTHVtoqvbCmO:x:n:u:p:a:c:g:s:r:d:N:P:I:k:R:", "start stop status help version test oknodo "
    "quiet verbose background no-close make-pidfile remove-pidfile notify-await output: exec: name: user: "
    "pidfile: startas: chuid: group: signal: chroot: chdir: nicelevel: procsched: iosched: umask: retry: "
    "ppid: notify-timeout:")  # fmt: skip


def _start_stop_daemon(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``start-stop-daemon -S -x PROG -- ARGS`` (or ``-a PROG``) runs PROG with ARGS."""
    options, k = parse_options(prog, args, _SSD)
    if not has(options, "-S", "--start"):
        return []
    program = value_of(options, "-a", "--startas") or value_of(options, "-x", "--exec")
    if program is None:
        raise Refusal(prog, f"{prog} --start without --exec or --startas")
    return [Run((Word.literal(program), *args[k:]))]


_LD_SO = getopt("", "list verify inhibit-cache list-tunables list-diagnostics library-path: inhibit-rpath: "
    "audit: preload: argv0: glibc-hwcaps-prepend: glibc-hwcaps-mask:")  # fmt: skip


@with_options(_LD_SO)
def _ld_so(prog: str, args: Sequence[Word], options: list[Option], k: int) -> list[Inner]:
    """The dynamic loader runs the program it is given; --preload and --audit load code."""
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
    "mim": "runs the shell commands of a makefile, which cannot be checked",
    "agetty": "runs a login program",
    "vipw": "runs the editor named by $VISUAL or $EDITOR",
    "vigr": "runs the editor named by $VISUAL or $EDITOR",
    "make": "runs the shell commands of a makefile, which cannot be checked",
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
    "service": _service,
    "invoke-rc.d": _service,
    "debconf": _DEBCONF,
    "debconf-apt-progress": _DEBCONF_APT_PROGRESS,
    **{name: _refused(reason) for name, reason in _UNSEEN.items()},
}
