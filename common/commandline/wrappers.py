"""Programs that run another command, and how to find the command they run.

The table ``WRAPPERS`` maps a program name to its handler (see ``steps``). Shells and
privilege wrappers live in ``shells``, the other runners of the images in ``runners``,
programs that run commands named in options or program text in ``programs``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common.commandline.builtins import check_assignment
from common.commandline.options import Option, getopt, has, parse_options, static, value_of
from common.commandline.programs import PROGRAMS
from common.commandline.runners import RUNNERS
from common.commandline.shell_words import Refusal, Word
from common.commandline.shells import SHELL_HANDLERS
from common.commandline.steps import (
    EXITS,
    GenericWrapper,
    Handler,
    Inner,
    Named,
    RefusedButRuns,
    Run,
    Script,
    run_argv,
    with_options,
)

_LEGACY_NICE = re.compile(r"-[+-]?[0-9]+")
_SPLIT_STRING_SPECIALS = frozenset("\\'\"$#")


def _nice(prog: str, args: Sequence[Word]) -> list[Inner]:
    if args and _LEGACY_NICE.fullmatch(args[0].value or ""):
        args = args[1:]  # 'nice -5 cmd', the obsolete form GNU and busybox still accept
    return _NICE(prog, args)


_NICE = GenericWrapper(getopt("n:", "adjustment:"))

_ENV = getopt("i0vu:C:S:", "ignore-environment null debug list-signal-handling unset: chdir: split-string: "
    "block-signal:: default-signal:: ignore-signal::")  # fmt: skip


def _env(prog: str, args: Sequence[Word]) -> list[Inner]:
    dash = bool(args) and args[0].value == "-"
    if dash:
        args = [Word.literal("-i"), *args[1:]]  # 'env -' is 'env -i'
    options, k = parse_options(prog, args, _ENV)
    if has(options, *EXITS, "--list-signal-handling"):
        return []
    split = value_of(options, "-S", "--split-string")
    if split is not None:
        # -S splits its string into arguments that are parsed again as env's own.
        return _env(prog, [*(Word.literal(w) for w in _split_string(split)), *args[k:]])
    rest = list(args[k:])
    while rest and "=" in static(prog, rest[0]):
        check_assignment(rest.pop(0), prog)
    cleared = has(options, "-i", "--ignore-environment") or ("-u", "PATH") in options
    return [Run(tuple(rest), cleared=cleared or ("--unset", "PATH") in options)] if rest else []


def _split_string(text: str) -> list[str]:
    if _SPLIT_STRING_SPECIALS & set(text):
        raise Refusal(text, "env -S with quotes, escapes, variables or comments is not analysed")
    return text.split()


_TIMEOUT = GenericWrapper(
    getopt("fpvk:s:", "foreground preserve-status verbose kill-after: signal:"),
    operands=1,
)

_XARGS = getopt("0oprtxa:d:E:I:L:n:P:s:e::i::l::", "null open-tty interactive no-run-if-empty verbose exit "
    "show-limits arg-file: delimiter: max-args: max-procs: max-chars: process-slot-var: eof:: replace:: "
    "max-lines::")  # fmt: skip


@with_options(_XARGS)
def _xargs(prog: str, args: Sequence[Word], options: list[Option], k: int) -> list[Inner]:
    """The command gets words read from input: with -I they replace a string in any
    argument (even the command word), without it they are appended."""
    replace = None
    for name, value in options:
        if name == "-I":
            replace = value
        elif name in ("-i", "--replace"):
            replace = value or "{}"
    rest = list(args[k:]) or [Word.literal("echo")]
    if replace:
        return [Run(tuple(_replaced(w, replace) for w in rest))]
    return [Run((*rest, Word.dynamic("<input words>")))]


def _replaced(word: Word, marker: str) -> Word:
    return Word.dynamic(word.text) if word.value is None or marker in word.value else word


def _command(prog: str, args: Sequence[Word]) -> list[Inner]:
    options, k = parse_options(prog, args, getopt("pvV"))
    if has(options, "-v", "-V"):
        return []  # only describes the command
    return run_argv(args[k:])


def _exec(prog: str, args: Sequence[Word]) -> list[Inner]:
    options, k = parse_options(prog, args, getopt("cla:"))
    name = value_of(options, "-a")
    found: list[Inner] = [Run(tuple(args[k:]), cleared=has(options, "-c"))] if args[k:] else []
    if has(options, "-l") or (name or "").startswith("-"):
        reason = "exec -l or a name starting with '-' starts a login shell, which runs profile files"
        raise RefusedButRuns(prog, reason, found)
    return [Named(name), *found] if name is not None and found else found


def _jobs(prog: str, args: Sequence[Word]) -> list[Inner]:
    """bash's ``jobs -x command args`` runs the command, each jobspec (``%1``) in it
    replaced by a process group id."""
    options, k = parse_options(prog, args, getopt("lnprsx"))
    if not has(options, "-x"):
        return []
    return run_argv([Word.dynamic(w.text) if (w.value or "%").startswith("%") else w for w in args[k:]])


def _builtin(prog: str, args: Sequence[Word]) -> list[Inner]:
    return run_argv(args)


def _eval(prog: str, args: Sequence[Word]) -> list[Inner]:
    """Validation refuses eval whatever it runs (``builtins``); what already ran is read
    as the script its joined arguments make."""
    script = " ".join(static(prog, w) for w in args)
    runs: list[Inner] = [Script(script)] if script.strip() else []
    raise RefusedButRuns(prog, f"{prog!r} runs its arguments as shell code", runs)


def _busybox(prog: str, args: Sequence[Word]) -> list[Inner]:
    if not args:
        return []
    first = static(prog, args[0])
    if first in ("--list", "--list-full", "--help"):
        return []
    if first.startswith("-"):
        raise Refusal(prog, f"busybox option {first!r} is not analysed")
    return run_argv(args)


_FIND_EXEC = frozenset(("-exec", "-execdir", "-ok", "-okdir"))


def _find(prog: str, args: Sequence[Word]) -> list[Inner]:
    """Every argument must be static: a run-time word could become '-exec'. '{}' is a
    file name found at run time, so a word holding it is dynamic."""
    values = [static(prog, w) for w in args]
    found: list[Inner] = []
    i = 0
    while i < len(values):
        if values[i] in _FIND_EXEC:
            end = _find_terminator(values, i + 1)
            if end == i + 1:
                raise Refusal(prog, f"find {values[i]} without a command")
            found.append(Run(tuple(_replaced(w, "{}") for w in args[i + 1 : end])))
            i = end
        i += 1
    return found


def _find_terminator(values: list[str], start: int) -> int:
    for j in range(start, len(values)):
        if values[j] == ";" or (values[j] == "+" and values[j - 1] == "{}"):
            return j
    raise Refusal("find", "find -exec without its ';' or '{} +' terminator")


_WATCH = getopt("bcCegprtwxn:q:d::", "beep color no-color errexit chgexit precise no-rerun no-title no-wrap "
    "exec no-linewrap interval: equexit: differences::")  # fmt: skip


@with_options(_WATCH)
def _watch(prog: str, args: Sequence[Word], options: list[Option], k: int) -> list[Inner]:
    """Without -x, watch joins its arguments with spaces and runs them with 'sh -c'."""
    rest = args[k:]
    if has(options, "-x", "--exec"):
        return run_argv(rest)
    return [Script(" ".join(static(prog, w) for w in rest))] if rest else []


_FLOCK = getopt("sexnuoFhVw:E:c:", "shared exclusive unlock nonblock nb close no-fork verbose wait: "
    "timeout: conflict-exit-code: command:")  # fmt: skip


@with_options(_FLOCK, "-h", "-V")
def _flock(prog: str, args: Sequence[Word], options: list[Option], k: int) -> list[Inner]:
    """flock [opts] file command... | flock [opts] file -c 'script' | flock [opts] fd."""
    script = value_of(options, "-c", "--command")
    if script is not None:
        return [Script(script)]
    rest = list(args[k + 1 :])  # the lock file or fd
    if rest and static(prog, rest[0]) in ("-c", "--command"):
        if len(rest) < 2:
            raise Refusal(prog, "flock -c without a command")
        return [Script(static(prog, rest[1]))]
    return run_argv(rest)


def _trap(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``trap 'commands' SIGNAL...`` runs the commands later; parse them now."""
    options, k = parse_options(prog, args, getopt("lp"))
    operands = args[k:]
    if options or len(operands) < 2:
        return []
    handler = static(prog, operands[0])
    return [Script(handler)] if handler not in ("", "-") else []


_SETSID = GenericWrapper(getopt("cfwhV", "ctty fork wait"), no_command=("-h", "-V"))
_STDBUF = GenericWrapper(getopt("i:o:e:", "input: output: error:"))
_IONICE = GenericWrapper(
    getopt("thVc:n:p:P:u:", "ignore class: classdata: pid: pgid: uid:"),
    no_command=("-p", "-P", "-u", "--pid", "--pgid", "--uid", "-h", "-V"),
)
_TASKSET = GenericWrapper(
    getopt("apchV", "all-tasks pid cpu-list"),
    operands=1,
    no_command=("-p", "--pid", "-h", "-V"),
)
_CHROOT = GenericWrapper(
    getopt("", "skip-chdir userspec: groups:"),
    operands=1,
    shell_when_empty=True,
)
_TIME = GenericWrapper(
    getopt("apqvVo:f:", "append portability quiet verbose output: format:"),
    no_command=("-V",),
)
_NOHUP = GenericWrapper(getopt())
# zsh precommand modifiers (noglob, nocorrect, '-') and small prefix tools.
_PREFIX = GenericWrapper(getopt())
_UNBUFFER = GenericWrapper(getopt("p"))

WRAPPERS: dict[str, Handler] = {
    "env": _env,
    "nice": _nice,
    "nohup": _NOHUP,
    "timeout": _TIMEOUT,
    "xargs": _xargs,
    "command": _command,
    "builtin": _builtin,
    "jobs": _jobs,
    "eval": _eval,
    "exec": _exec,
    "busybox": _busybox,
    "find": _find,
    "stdbuf": _STDBUF,
    "setsid": _SETSID,
    "chroot": _CHROOT,
    "flock": _flock,
    "ionice": _IONICE,
    "taskset": _TASKSET,
    "time": _TIME,
    "watch": _watch,
    "trap": _trap,
    "unbuffer": _UNBUFFER,
    **dict.fromkeys(("noglob", "nocorrect", "-", "catchsegv"), _PREFIX),
    **SHELL_HANDLERS,
    **RUNNERS,
    **PROGRAMS,
}
