"""Programs that start a shell: POSIX shells, other shells, and privilege wrappers.

``sh -c 'script'`` is parsed like any command line; a shell that reads its commands from
standard input (``sh``, ``sh -s``, ``echo rm | sh``, ``sh <<EOF``) runs what cannot be
seen here, so it is refused; one that runs a file (``bash script.sh args``) is judged by
the file's content when the caller read it (``analysis``), refused otherwise. sudo, su, doas
and pkexec are blocked by the default policy; when a policy allows them, what they run
is analysed like any other wrapper's command.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.commandline.builtins import HISTORY_EXPANSION, check_assignment, check_shell_option
from common.commandline.options import Option, getopt, has, parse_options, static, value_of
from common.commandline.shell_words import Refusal, Word
from common.commandline.steps import (
    EXITS,
    GenericWrapper,
    Handler,
    Inner,
    RefusedButRuns,
    Script,
    ScriptFile,
    run_argv,
    with_options,
)

POSIX_SHELLS = frozenset(
    ("sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "lksh", "pdksh", "rbash", "posh")
)
# Shells whose grammar is not the POSIX one this package parses.
OTHER_SHELLS = frozenset(("csh", "tcsh", "fish", "rc", "es", "xonsh", "nu", "elvish", "pwsh"))
_SHELL_FLAGS = frozenset("abefhmnprtuvxBCDEPT")
_SHELL_LONG_FLAGS = frozenset(
    (
        "norc",
        "noprofile",
        "posix",
        "restricted",
        "verbose",
        "noediting",
        "debugger",
        "dump-strings",
        "dump-po-strings",
        "pretty-print",
    )
)
_SHELL_LONG_ARG = frozenset(("rcfile", "init-file"))
_EXIT_NAMES = frozenset(("help", "version"))
# A login shell first runs /etc/profile and ~/.profile (HOME is the writable /work).
_LOGIN = "{prog} {option} starts a login shell, which runs profile files the sandbox can write"


def _shell(prog: str, args: Sequence[Word]) -> list[Inner]:
    """Options, then the command string of -c; anything else reads hidden commands."""
    command_string = False
    profile: str | None = None  # the refusal of a login or interactive shell, if any
    i = 0
    while i < len(args):
        value = static(prog, args[i])
        if value in ("-", "--"):
            i += 1
            break
        if value.startswith("--"):
            if value[2:] in _EXIT_NAMES:
                return []
            i, found = _shell_long(prog, value, i)
        elif value[:1] in "-+" and len(value) > 1:
            command_string |= value[0] == "-" and "c" in value
            i, found = _shell_cluster(prog, args, i, value)
        else:
            break
        profile = profile or found
    runs = _command_string(prog, args, i, command_string)
    if profile is not None:
        raise RefusedButRuns(prog, profile, runs)
    return runs


def _command_string(prog: str, args: Sequence[Word], i: int, command_string: bool) -> list[Inner]:
    if not command_string:
        if i < len(args):
            return [ScriptFile(prog, static(prog, args[i]))]
        raise Refusal(prog, f"{prog} reads commands from standard input, which cannot be checked")
    if i >= len(args):
        raise Refusal(prog, f"{prog} -c without a command string")
    return [Script(static(prog, args[i]))]


def _shell_long(prog: str, value: str, i: int) -> tuple[int, str | None]:
    name = value[2:]
    if name == "login":
        return i + 1, _LOGIN.format(prog=prog, option=value)
    if name in _SHELL_LONG_ARG:
        return i + 2, None
    if name not in _SHELL_LONG_FLAGS:
        raise Refusal(prog, f"unknown option {value} of {prog!r}")
    return i + 1, None


def _shell_cluster(prog: str, args: Sequence[Word], i: int, cluster: str) -> tuple[int, str | None]:
    consumed = 0
    profile = None
    for letter in cluster[1:]:
        if letter == "s":
            raise Refusal(prog, f"{prog} -s reads commands from standard input, which cannot be checked")
        if letter == "i":
            profile = profile or f"{prog} -i reads commands from standard input, which cannot be checked"
        elif letter == "l":
            profile = profile or _LOGIN.format(prog=prog, option="-l")
        elif letter == "k":
            raise Refusal(prog, f"{prog} -k turns arguments into environment assignments")
        elif letter == "H":
            if cluster[0] == "-":
                raise Refusal(prog, f"{prog} -H: {HISTORY_EXPANSION}")
        elif letter in "oO":
            consumed += 1
            if i + consumed < len(args):
                check_shell_option(prog, static(prog, args[i + consumed]))
        elif letter != "c" and letter not in _SHELL_FLAGS:
            raise Refusal(prog, f"unknown option -{letter} of {prog!r}")
    return i + 1 + consumed, profile


def _other_shell(prog: str, args: Sequence[Word]) -> list[Inner]:
    raise Refusal(prog, f"{prog!r} is not a POSIX shell; its commands cannot be analysed")


_SUDO = getopt("AbBEeHiKklnNPSsVvC:D:g:h:p:r:R:t:T:U:u:", "askpass background bell preserve-env edit "
    "set-home login remove-timestamp reset-timestamp list non-interactive no-update preserve-groups stdin "
    "shell validate close-from: chdir: group: host: prompt: chroot: role: type: command-timeout: "
    "other-user: user:")  # fmt: skip


@with_options(_SUDO, "-V", "-l", "--list", "-e", "--edit", "-v", "--validate")
def _sudo(prog: str, args: Sequence[Word], options: list[Option], k: int) -> list[Inner]:
    rest = list(args[k:])
    while rest and "=" in static(prog, rest[0]):
        check_assignment(rest.pop(0), prog)
    login = has(options, "-i", "--login")
    if login or has(options, "-s", "--shell"):
        if not rest:
            raise Refusal(prog, f"{prog} -s/-i without a command starts an interactive shell")
        script: list[Inner] = [Script(" ".join(static(prog, w) for w in rest))]
        if login:
            raise RefusedButRuns(prog, _LOGIN.format(prog=prog, option="-i"), script)
        return script
    return run_argv(rest)


_SU = getopt("lmpfPc:s:g:G:w:", "login preserve-environment pty command: session-command: shell: group: "
    "supp-group: whitelist-environment:")  # fmt: skip


def _su(prog: str, args: Sequence[Word]) -> list[Inner]:
    """su/runuser: only the '-c command' form is analysed; arguments after the user go
    to the user's shell, and no command means an interactive shell."""
    rest = [w for w in args if w.value != "-"]
    dash = len(rest) < len(args)
    options, k = parse_options(prog, rest, _SU)
    if has(options, *EXITS) and not dash:
        return []
    script = value_of(options, "-c", "--command", "--session-command")
    runs: list[Inner] = [Script(script)] if script is not None else []
    if dash or has(options, "-l", "--login"):
        raise RefusedButRuns(prog, _LOGIN.format(prog=prog, option="-" if dash else "-l"), runs)
    if script is None or len(rest) - k > 1:
        raise Refusal(prog, f"{prog} runs a shell whose commands are not given with -c")
    return runs


def _doas(prog: str, args: Sequence[Word]) -> list[Inner]:
    options, k = parse_options(prog, args, getopt("nsu:C:"))
    if has(options, "-C"):
        return []
    if has(options, "-s") or k >= len(args):
        raise Refusal(prog, "doas -s or without a command starts an interactive shell")
    return run_argv(args[k:])


_PKEXEC = GenericWrapper(
    getopt("", "disable-internal-agent keep-cwd user:"),
    shell_when_empty=True,
)


SHELL_HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(POSIX_SHELLS, _shell),
    **dict.fromkeys(OTHER_SHELLS, _other_shell),
    "sudo": _sudo,
    "doas": _doas,
    "su": _su,
    "runuser": _su,
    "pkexec": _PKEXEC,
}
