"""Option parsing of wrapper programs, the way GNU getopt_long with a leading '+' does it.

A wrapper's command is its first argument that is not an option or an option's
argument, so finding it means parsing options exactly: an option whose argument we
missed would shift the command by one word. Unknown options and dynamic words are
refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.commandline.shell_words import Refusal, Word

# What a parsed option looks like: its canonical name ('-n', '--signal') and its argument.
Option = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """Short options as strings of letters; long options as space-separated names
    without dashes. ``--help`` and ``--version`` are always known (GNU tools and bash
    builtins all take them)."""

    flags: str = ""
    with_arg: str = ""
    optional_arg: str = ""
    long_flags: str = ""
    long_with_arg: str = ""
    long_optional: str = ""
    _long: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kinds = dict.fromkeys((*self.long_flags.split(), "help", "version"), "flag")
        kinds.update(dict.fromkeys(self.long_with_arg.split(), "arg"))
        kinds.update(dict.fromkeys(self.long_optional.split(), "optional"))
        object.__setattr__(self, "_long", kinds)

    def long_kind(self, prog: str, name: str) -> tuple[str, str]:
        """(full name, 'flag' | 'arg' | 'optional'); getopt_long accepts any unambiguous
        prefix (``--unse`` is ``--unset``)."""
        if name in self._long:
            return name, self._long[name]
        candidates = [n for n in self._long if n.startswith(name)]
        if len(candidates) == 1 and name:
            return candidates[0], self._long[candidates[0]]
        raise Refusal(prog, f"unknown or ambiguous option --{name} of {prog!r}")


def getopt(short: str = "", long: str = "") -> OptionSpec:
    """An OptionSpec in getopt(1)'s notation: ``short`` as its ``-o`` string (a letter
    followed by ``:`` takes an argument, by ``::`` an optional one), ``long`` as its
    ``-l`` names, blank-separated, with the same suffixes."""
    kinds: dict[str, list[str]] = {"": [], ":": [], "::": []}
    for letter, colons in re.findall(r"([^:])(:{0,2})", short):
        kinds[colons].append(letter)
    names: dict[str, list[str]] = {"": [], ":": [], "::": []}
    for name in long.split():
        bare = name.rstrip(":")
        names[name[len(bare) :]].append(bare)
    return OptionSpec(
        flags="".join(kinds[""]),
        with_arg="".join(kinds[":"]),
        optional_arg="".join(kinds["::"]),
        long_flags=" ".join(names[""]),
        long_with_arg=" ".join(names[":"]),
        long_optional=" ".join(names["::"]),
    )


def parse_options(prog: str, args: Sequence[Word], spec: OptionSpec) -> tuple[list[Option], int]:
    """Returns the options and the index of the first operand (the command, usually)."""
    options: list[Option] = []
    i = 0
    while i < len(args):
        if _operand(args[i]):
            return options, i
        value = static(prog, args[i])
        if value == "--":
            return options, i + 1
        if value.startswith("--"):
            i = _long(prog, args, i, spec, options)
        elif value.startswith("-") and value != "-":
            i = _short(prog, args, i, spec, options)
        else:
            return options, i
    return options, i


def _operand(word: Word) -> bool:
    """A run-time word whose static start is not '-' cannot be an option (``FOO=$x``)."""
    return word.value is None and word.prefix != "" and not word.prefix.startswith("-")


def static(prog: str, word: Word) -> str:
    """The word's value; a dynamic word in a wrapper's arguments could be any option or
    command (an unquoted ``$x`` may even split into several words), so it is refused."""
    if word.value is None:
        raise Refusal(
            word.text, f"a run-time value in the arguments of {prog!r} could be an option or a command"
        )
    return word.value


def _long(prog: str, args: Sequence[Word], i: int, spec: OptionSpec, out: list[Option]) -> int:
    name, eq, attached = static(prog, args[i])[2:].partition("=")
    full, kind = spec.long_kind(prog, name)
    if kind == "arg":
        if eq:
            out.append((f"--{full}", attached))
            return i + 1
        out.append((f"--{full}", _argument(prog, args, i + 1, f"--{full}")))
        return i + 2
    if kind == "optional":
        out.append((f"--{full}", attached if eq else None))
        return i + 1
    if eq:
        raise Refusal(prog, f"option --{full} of {prog!r} takes no argument")
    out.append((f"--{full}", None))
    return i + 1


def _short(prog: str, args: Sequence[Word], i: int, spec: OptionSpec, out: list[Option]) -> int:
    cluster = static(prog, args[i])
    for j in range(1, len(cluster)):
        letter = cluster[j]
        rest = cluster[j + 1 :]
        if letter in spec.with_arg:
            if rest:
                out.append((f"-{letter}", rest))
                return i + 1
            out.append((f"-{letter}", _argument(prog, args, i + 1, f"-{letter}")))
            return i + 2
        if letter in spec.optional_arg:
            out.append((f"-{letter}", rest or None))
            return i + 1
        if letter not in spec.flags:
            raise Refusal(prog, f"unknown option -{letter} of {prog!r}")
        out.append((f"-{letter}", None))
    return i + 1


def _argument(prog: str, args: Sequence[Word], i: int, option: str) -> str:
    if i >= len(args):
        raise Refusal(prog, f"option {option} of {prog!r} is missing its argument")
    return static(prog, args[i])


def has(options: Sequence[Option], *names: str) -> bool:
    return any(name in names for name, _ in options)


def value_of(options: Sequence[Option], *names: str) -> str | None:
    """The argument of the last of these options (later options win, as in getopt users)."""
    found = None
    for name, value in options:
        if name in names:
            found = value
    return found
