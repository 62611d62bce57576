"""Programs that run commands named in an option or written in their program text.

``tar --to-command``, ``sort --compress-program``, ``nc -e``; ``sed``'s ``e`` command and
``s///e`` flag; ``awk``'s ``system()`` and pipes. The command they would run is not a
word of the command line, so it cannot be judged by name: these uses are refused. A
program read from a file (``sed -f``, ``awk -f``) cannot be seen and is refused too.
Everything else those programs do is allowed: they run nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common.commandline.options import Option, getopt, has, parse_options, static, value_of
from common.commandline.shell_words import Refusal, Word
from common.commandline.steps import EXITS, Handler, Inner, Script, run_argv, with_options

# socat address types that run a command (case-insensitive, anywhere in an argument:
# dual addresses join two with '!!').
_SOCAT_RUNS = ("exec:", "system:")
# Long options (any unambiguous prefix of them works in GNU getopt) that run a command.
_TAR_RUNS = ("--to-command", "--checkpoint-action", "--use-compress-program", "--info-script",
             "--new-volume-script", "--rsh-command", "--rmt-command")  # fmt: skip
# Short tar options that run a program (-I PROG, -F SCRIPT) and those that take an argument.
_TAR_SHORT_RUNS = frozenset("IF")
_TAR_SHORT_ARG = frozenset("bCfgHKLNTVX")


def _long_prefix_of(value: str, names: Sequence[str]) -> str | None:
    name = value.split("=", 1)[0]
    minimum = 4  # '--to' is ambiguous in tar (--to-command, --totals, --touch)
    return next((n for n in names if len(name) > minimum and n.startswith(name)), None)


def _tar(prog: str, args: Sequence[Word]) -> list[Inner]:
    for i, word in enumerate(args):
        value = static(prog, word)
        if value.startswith("--"):
            found = _long_prefix_of(value, _TAR_RUNS)
            if found:
                raise Refusal(prog, f"tar {found} runs a command named in its argument")
        elif value.startswith("-") or i == 0:
            _tar_cluster(prog, value.lstrip("-"))
    return []


def _tar_cluster(prog: str, cluster: str) -> None:
    for letter in cluster:
        if letter in _TAR_SHORT_RUNS:
            raise Refusal(prog, f"tar -{letter} runs a program named in its argument")
        if letter in _TAR_SHORT_ARG:
            return


def _option_runs(names: tuple[str, ...], what: str, short: str = "") -> Handler:
    """A program that is harmless except for options that run a command."""

    def check(prog: str, args: Sequence[Word]) -> list[Inner]:
        for word in args:
            value = static(prog, word)
            if value.startswith("--"):
                found = _long_prefix_of(value, names)
            else:
                letters = set(value[1:]) & set(short) if value.startswith("-") else set()
                found = f"-{min(letters)}" if letters else None
            if found:
                raise Refusal(prog, f"{prog} {found} runs {what}")
        return []

    return check


def _nc(prog: str, args: Sequence[Word]) -> list[Inner]:
    """``nc ... -e PROG ARGS`` (busybox: -e must be last) runs PROG for the connection;
    ``-c 'cmd'`` (other netcats) runs cmd with sh -c. Judged like any wrapper's command."""
    for i, word in enumerate(args):
        value = static(prog, word)
        if not value.startswith("-") or value.startswith("--"):
            continue
        letters = value[1:]
        if letters.endswith("e"):
            return run_argv(args[i + 1 :]) or _missing(prog, "-e")
        if letters.endswith("c"):
            return [Script(static(prog, args[i + 1]))] if i + 1 < len(args) else _missing(prog, "-c")
        if set(letters) & set("ec"):
            raise Refusal(prog, f"{prog} {value}: -e/-c followed by other options is not analysed")
    return []


def _socat(prog: str, args: Sequence[Word]) -> list[Inner]:
    """socat's EXEC: and SYSTEM: addresses run a program or a shell command for the
    connection; their text (commas, '!!', escapes) is socat's own syntax, not analysed."""
    for word in args:
        value = static(prog, word).lower()
        for kind in _SOCAT_RUNS:
            if kind in value:
                raise Refusal(prog, f"socat {kind.upper()} addresses run commands, which are not analysed")
    return []


def _missing(prog: str, option: str) -> list[Inner]:
    raise Refusal(prog, f"{prog} {option} without a program")


# --- sed -----------------------------------------------------------------------

_SED = getopt("nErsuzbe:f:l:i::", "quiet silent regexp-extended separate unbuffered null-data posix sandbox "
    "debug follow-symlinks binary expression: file: line-length: in-place::")  # fmt: skip


@with_options(_SED)
def _sed(prog: str, args: Sequence[Word], options: list[Option], k: int) -> list[Inner]:
    if has(options, "-f", "--file"):
        raise Refusal(prog, "sed -f reads its script from a file, which cannot be checked")
    scripts = [value or "" for name, value in options if name in ("-e", "--expression")]
    if not scripts and k < len(args):
        scripts = [static(prog, args[k])]
    for script in [*scripts, "\n".join(scripts)]:  # GNU sed joins -e scripts with newlines
        check_sed_script(script)
    return []


_ADDRESS = re.compile(r"\s*(?:\d+(?:~\d+)?|\$|/(?:[^/\\\n]|\\.)*/[IM]*|\\(.)(?:(?!\1).|\\.)*\1[IM]*)")
_TO_EOL = frozenset("aicrRwW#")  # the rest of the line is text or a file name
# A label (':a', 'b a', 't', 'T'): POSIX reads it to the end of the line, GNU sed only to a
# ';' or a blank ('b a;e' and ':a;e' run 'e' there): read the GNU way, which runs more.
_LABEL = frozenset(":btT")
_LABEL_END = re.compile(r"[ \t]*[^ \t\n;}]*")


def check_sed_script(script: str) -> None:
    """Walks the commands of a sed script; refuses ``e`` and ``s///e`` (they run a shell)."""
    i = 0
    while i < len(script):
        i = _sed_address(script, i)
        if i >= len(script):
            return
        c = script[i]
        if c in " \t\n;{}!":
            i += 1
        elif c == "e":
            raise Refusal("sed", "the sed command 'e' runs a shell command")
        elif c in "sy":
            i = _sed_substitute(script, i)
        elif c in _TO_EOL:
            i = _end_of_text(script, i)
        elif c in _LABEL:
            label = _LABEL_END.match(script, i + 1)
            i = label.end() if label else i + 1
        elif c.isalpha() or c in "=":
            i += 1
        else:
            raise Refusal("sed", f"the sed script has {c!r} where a command should be")


def _end_of_text(script: str, i: int) -> int:
    """The end of a text, file name or label: the end of the line, where a line ending in
    a backslash goes on to the next one (``a\\`` then the text)."""
    while True:
        newline = script.find("\n", i)
        if newline < 0:
            return len(script)
        if not script[:newline].endswith("\\"):
            return newline
        i = newline + 1


def _sed_address(script: str, i: int) -> int:
    match = _ADDRESS.match(script, i)
    if match and match.group(0).strip():
        i = match.end()
        if script.startswith(",", i):
            second = _ADDRESS.match(script, i + 1) or re.compile(r"\s*[+~]\d+").match(script, i + 1)
            i = second.end() if second else i + 1
    return i


def _sed_substitute(script: str, i: int) -> int:
    command = script[i]
    if i + 1 >= len(script) or script[i + 1] in "\\\n":
        raise Refusal("sed", f"the sed command {command!r} has no delimiter")
    delimiter = script[i + 1]
    j = i + 2
    for _ in range(2):  # the pattern and the replacement
        while j < len(script) and script[j] != delimiter:
            j += 2 if script[j] == "\\" else 1
        j += 1
    flags = re.compile(r"[^;\n}]*").match(script, j)
    text = flags.group(0) if flags else ""
    if command == "s" and "e" in text.split("w", 1)[0]:
        raise Refusal("sed", "the sed flag 'e' of s/// runs the pattern space as a shell command")
    return j + len(text)


# --- awk -----------------------------------------------------------------------

_AWK = getopt("F:v:f:W:", "file: source: exec: include: load: field-separator: assign:")


def _awk(prog: str, args: Sequence[Word]) -> list[Inner]:
    options, k = parse_options(prog, args, _AWK)
    if has(options, "-f", "-W", "--file", "--exec", "--include", "--load"):
        raise Refusal(prog, f"{prog} reads its program from a file or loads code, which cannot be checked")
    program = value_of(options, "--source")
    if program is None and not has(options, *EXITS):
        if k >= len(args):
            return []
        program = static(prog, args[k])
    if program is not None:
        check_awk_program(prog, program)
    return []


# system(), a pipe, and gawk's '@' forms: @include and @load read code from files, and
# '@f(...)' calls the function named by f at run time (f = "system" runs a command).
_AWK_RUNS = re.compile(r"\bsystem\s*\(|(?<!\|)\|(?!\|)|@")
_REGEX_BEFORE = frozenset("(,~!{};&|=\n") | {""}


def check_awk_program(prog: str, program: str) -> None:
    """Refuses ``system()``, ``print | "cmd"`` and ``"cmd" | getline``, outside strings,
    regular expressions and comments (``/a|b/`` is a pattern, not a pipe)."""
    code = _awk_code(program)
    if _AWK_RUNS.search(code):
        raise Refusal(
            prog,
            f"the {prog} program runs a shell command (system() or a pipe), includes code from a "
            "file or calls a function named at run time (@include, @load, @name)",
        )


def _awk_code(program: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(program):
        c = program[i]
        if c == "#":
            newline = program.find("\n", i)
            i = len(program) if newline < 0 else newline
        elif c == '"' or (c == "/" and _previous(out) in _REGEX_BEFORE):
            i = _skip_literal(program, i, c)
            out.append(" 0 ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _previous(out: list[str]) -> str:
    text = "".join(out).rstrip(" \t")
    return text[-1:] if text else ""


def _skip_literal(program: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(program) and program[j] != quote:
        j += 2 if program[j] == "\\" else 1
    return j + 1


_DIFF_PROGRAM = _option_runs(("--diff-program",), "the program named in its argument")

PROGRAMS: dict[str, Handler] = {
    "tar": _tar,
    "sed": _sed,
    "awk": _awk,
    "mawk": _awk,
    "nawk": _awk,
    "gawk": _awk,
    "sort": _option_runs(("--compress-program",), "a compressor program named in its argument"),
    "split": _option_runs(("--filter",), "a shell command for every part"),
    **dict.fromkeys(("sdiff", "diff3"), _DIFF_PROGRAM),
    "install": _option_runs(("--strip-program",), "the program named in its argument"),
    "dpkg": _option_runs(("--pre-invoke", "--post-invoke", "--status-logger"), "a shell command"),
    **dict.fromkeys(
        ("apt", "apt-get", "apt-cache", "apt-cdrom", "apt-config", "apt-mark"),
        _option_runs(("--option", "--config-file"), "hooks from the configuration it sets", short="oc"),
    ),
    "nc": _nc,
    "netcat": _nc,
    "socat": _socat,
}
