"""Shell builtins and variables that make a command line mean something other than it says.

A name-based check only holds if the name that runs is the name written. These
builtins break that (``eval``, ``source``, ``alias``, ``hash -p``), evaluate data as
code (``let``, ``declare -i``, ``mapfile -C``), or set variables that change what runs
(``PATH``, ``BASH_ENV``, ``LD_PRELOAD``, exported functions). They are refused whatever
the policy says, because no policy can be checked through them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from common.commandline.options import OptionSpec, getopt, has, parse_options, static
from common.commandline.shell_words import Refusal, Word
from common.commandline.variables import UNSAFE_PREFIXES, UNSAFE_VARIABLES, unsafe_variable_reason

__all__ = [
    "UNSAFE_PREFIXES",
    "UNSAFE_VARIABLES",
    "check_assignment",
    "check_builtin",
    "unsafe_variable_reason",
]

ALWAYS_DENIED: dict[str, str] = {
    "eval": "runs its arguments as shell code, which cannot be checked before it runs",
    "source": "runs commands from a file that cannot be checked before it runs",
    ".": "runs commands from a file that cannot be checked before it runs",
    "alias": "an alias can make any word run any command",
    "let": "evaluates arithmetic, and bash arithmetic runs command substitutions hidden in variables",
    "enable": "can load builtins from a shared library or hide builtins behind files",
    "fc": "re-runs commands from the shell history",
    "coproc": "coprocesses are not analysed",
    # bash's programmable completion: compgen -C runs a command, -F a function, and the
    # -W word list is expanded like shell code ($(...) in it runs); complete stores the same
    # for later. bind -x binds keys to shell commands. None of it is needed without a terminal.
    "compgen": "runs commands (-C), functions (-F) and expands word lists (-W) as shell code",
    "complete": "stores commands (-C), functions (-F) and word lists (-W) that completion runs",
    "bind": "binds keys to shell commands (-x) and reads key bindings from files",
}

_DECLARE = getopt("aAfFgilnrtuxpI")
# The builtins that parse a quoted or expanded '(...)' value as a compound array
# assignment (bash 5: export and readonly keep it as a string).
_COMPOUND_BUILTINS = frozenset(("declare", "typeset", "local"))
# History expansion ('!:1', '!!', '^a^b') rewrites a line after it was read, from the
# lines before it: what runs is not what is written. bash turns it on with -H or
# -o histexpand, also in a non-interactive shell.
HISTORY_EXPANSION = "history expansion rewrites later lines from earlier ones ('!:1' can become 'rm')"
_READ = getopt("ersa:d:i:n:N:p:t:u:")
_MAPFILE = getopt("td:n:O:s:u:C:c:")
_UNSET = getopt("fvn")
_EXPORT = getopt("fnp")
_HASH = getopt("lrdtp:")


def check_assignment(word: Word, owner: str) -> None:
    """``NAME=value`` (a prefix assignment, an ``env`` or ``export`` argument): the name
    must be static and safe; the value may be anything."""
    head = word.value if word.value is not None else word.prefix
    name, eq, _ = head.partition("=")
    if not eq:
        raise Refusal(word.text, f"the variable set by {owner!r} is only known at run time")
    check_variable_name(name.removesuffix("+"), word.text)


def check_variable_name(name: str, shown: str) -> None:
    reason = unsafe_variable_reason(name)
    if reason is not None:
        raise Refusal(shown, reason)


def _variable_operands(prog: str, args: Sequence[Word], spec: OptionSpec) -> tuple[list[str], list[Word]]:
    options, k = parse_options(prog, args, spec)
    return [name for name, _ in options], list(args[k:])


def _declare(prog: str, args: Sequence[Word]) -> None:
    # declare/typeset/local/export/readonly: -i makes later assignments arithmetic,
    # -n makes a name an alias of another variable (a way to set PATH by another name).
    args = [w for w in args if not (w.value or "").startswith("+")]
    letters, operands = _variable_operands(prog, args, _DECLARE)
    if "-i" in letters or "-n" in letters:
        raise Refusal(prog, f"{prog} -i and -n make later assignments evaluate code or alias variables")
    if prog in _COMPOUND_BUILTINS:
        for word in operands:
            _check_compound_value(prog, word)
    _assignments(prog, operands)


def _check_compound_value(prog: str, word: Word) -> None:
    """``declare -a x="$v"`` (or a declare of any array) reads a value starting with '('
    as an array assignment, whose subscripts are arithmetic: ``([0$(cmd)]=1)`` runs cmd.
    So the value must be known not to start with '(' before the shell runs."""
    head = word.value if word.value is not None else word.prefix
    name, eq, value = head.partition("=")
    if eq and (value.startswith("(") or (word.value is None and not value)):
        raise Refusal(
            word.text,
            f"{prog} {name}=VALUE reads a value starting with '(' as an array assignment, whose "
            "subscripts are evaluated as arithmetic (which can run commands): the value must not "
            "start with '(' nor with text only known at run time",
        )


def _assignments(prog: str, operands: Sequence[Word]) -> None:
    for word in operands:
        if "=" in (word.value if word.value is not None else word.prefix):
            check_assignment(word, prog)
        else:
            check_variable_name(static(prog, word), word.text)


def _names_only(spec: OptionSpec, name_options: tuple[str, ...]) -> Callable[[str, Sequence[Word]], None]:
    def check(prog: str, args: Sequence[Word]) -> None:
        options, k = parse_options(prog, args, spec)
        if has(options, "-C"):
            raise Refusal(prog, f"{prog} -C runs a callback given as shell code")
        for name, value in options:
            if name in name_options and value is not None:
                check_variable_name(value, value)
        for word in args[k:]:
            check_variable_name(static(prog, word), word.text)

    return check


def _printf(prog: str, args: Sequence[Word]) -> None:
    first = args[0].value if args else None
    if first is not None and first.startswith("-v"):
        name = first[2:] or (static(prog, args[1]) if len(args) > 1 else "")
        check_variable_name(name, args[0].text)


def _unset(prog: str, args: Sequence[Word]) -> None:
    # A subscript is arithmetic; and without PATH, bash and dash look for a command in the
    # working directory (a link there runs any program under any name).
    options, k = parse_options(prog, args, _UNSET)
    for word in args[k:]:
        name = static(prog, word)
        if "[" in name:
            raise Refusal(word.text, "the subscript is evaluated as arithmetic, which can run commands")
        if not has(options, "-f"):
            check_variable_name(name, word.text)


def _wait(prog: str, args: Sequence[Word]) -> None:
    # 'wait -p NAME' assigns the pid of the job that ended: 'wait -n -p PATH' sets PATH
    # to a number, a directory relative to the working directory.
    for i, word in enumerate(args):
        value = word.value
        if value is None or not value.startswith("-") or value == "--":
            break
        if "p" in value[1:]:
            attached = value[value.index("p", 1) + 1 :]
            given = attached or (static(prog, args[i + 1]) if i + 1 < len(args) else "")
            check_variable_name(given, word.text)


def _export(prog: str, args: Sequence[Word]) -> None:
    _, k = parse_options(prog, args, _EXPORT)
    _assignments(prog, args[k:])


def _getopts(prog: str, args: Sequence[Word]) -> None:
    if len(args) > 1:
        check_variable_name(static(prog, args[1]), args[1].text)


def _hash(prog: str, args: Sequence[Word]) -> None:
    options, _ = parse_options(prog, args, _HASH)
    if has(options, "-p"):
        raise Refusal(prog, "hash -p makes a command name run another file")


def _set(prog: str, args: Sequence[Word]) -> None:
    # -k turns 'cmd NAME=value' anywhere on a line into an environment assignment.
    for i, word in enumerate(args):
        value = word.value or ""
        if re.fullmatch(r"-[A-Za-z]*k[A-Za-z]*", value):
            raise Refusal(prog, "set -k turns later arguments into environment assignments")
        if re.fullmatch(r"-[A-Za-z]*H[A-Za-z]*", value):
            raise Refusal(prog, f"set -H: {HISTORY_EXPANSION}")
        if value == "-o" and i + 1 < len(args):
            check_shell_option(prog, args[i + 1].value)


def check_shell_option(prog: str, option: str | None) -> None:
    """``-o NAME`` of set, shopt and the shells: the options that change what later words run."""
    if option is None:
        raise Refusal(prog, f"{prog} -o with an option only known at run time")
    if option == "keyword":
        raise Refusal(prog, f"{prog} -o keyword turns later arguments into environment assignments")
    if option == "histexpand":
        raise Refusal(prog, f"{prog} -o histexpand: {HISTORY_EXPANSION}")


def _shopt(prog: str, args: Sequence[Word]) -> None:
    # 'shopt -s -o histexpand' sets the 'set -o' options by name.
    for word in args:
        value = word.value
        if value is None or not value.startswith("-"):
            check_shell_option(prog, value)


def _test(prog: str, args: Sequence[Word]) -> None:
    # test -v 'a[$(cmd)]' evaluates the subscript as arithmetic.
    for i, word in enumerate(args[:-1]):
        if word.value in ("-v", "-R"):
            operand = args[i + 1]
            if operand.value is None or "[" in operand.value:
                raise Refusal(operand.text, f"{prog} {word.value} evaluates an array subscript as arithmetic")


BUILTIN_CHECKS: dict[str, Callable[[str, Sequence[Word]], None]] = {
    **dict.fromkeys(("declare", "typeset", "local", "readonly"), _declare),
    "export": _export,
    "read": _names_only(_READ, ("-a",)),
    "mapfile": _names_only(_MAPFILE, ()),
    "readarray": _names_only(_MAPFILE, ()),
    "unset": _unset,
    "wait": _wait,
    "printf": _printf,
    "getopts": _getopts,
    "hash": _hash,
    "set": _set,
    "shopt": _shopt,
    "test": _test,
    "[": _test,
}


def check_builtin(name: str, args: Sequence[Word]) -> None:
    """Refuses the uses of a builtin that can run code or change what later words mean."""
    reason = ALWAYS_DENIED.get(name)
    if reason is not None:
        raise Refusal(name, f"{name!r} {reason}")
    check = BUILTIN_CHECKS.get(name)
    if check is not None:
        check(name, args)
