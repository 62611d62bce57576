"""What a wrapper runs next, and the common shape of wrappers.

A handler gets a wrapper's arguments and returns what runs next: an argv (``Run``), a
shell script to parse (``Script``), a script file a shell runs (``ScriptFile``), or a
name the program will run under (``Named``, for ``exec -a``: busybox picks its applet
from that name). An empty list means nothing else runs (``--help``, ``ionice -p PID``).
Handlers raise Refusal for what they cannot pin down: a dynamic argument, an unknown
option, a shell that reads its commands from standard input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common.commandline.options import Option, OptionSpec, has, parse_options, static
from common.commandline.shell_words import Refusal, Word

EXITS = ("--help", "--version")


@dataclass(frozen=True, slots=True)
class Run:
    """An argv run next; ``cleared``: without PATH in its environment (``env -i``,
    ``env -u PATH``, ``exec -c``), where bash searches the working directory last."""

    argv: tuple[Word, ...]
    cleared: bool = False


@dataclass(frozen=True, slots=True)
class Script:
    text: str


@dataclass(frozen=True, slots=True)
class Named:
    name: str


@dataclass(frozen=True, slots=True)
class ScriptFile:
    """A script file a shell runs (``sh FILE args``): judged by its content when the
    caller read it, refused otherwise."""

    shell: str
    path: str


Inner = Run | Script | Named | ScriptFile
Handler = Callable[[str, Sequence[Word]], list[Inner]]
# A handler's body once its options are parsed: (prog, args, options, index of the first operand).
OptionBody = Callable[[str, Sequence[Word], list[Option], int], list[Inner]]


def run_argv(args: Sequence[Word]) -> list[Inner]:
    return [Run(tuple(args))] if args else []


def parse_or_exit(
    prog: str, args: Sequence[Word], spec: OptionSpec, exits: Sequence[str] = ()
) -> tuple[list[Option], int] | None:
    """The options and the first operand's index; None when an option only prints and
    the program runs nothing (--help, --version, or one of ``exits``)."""
    options, k = parse_options(prog, args, spec)
    return None if has(options, *EXITS, *exits) else (options, k)


def with_options(spec: OptionSpec, *exits: str) -> Callable[[OptionBody], Handler]:
    """A handler whose options are parsed first (see ``parse_or_exit``)."""

    def wrap(body: OptionBody) -> Handler:
        @functools.wraps(body)
        def handler(prog: str, args: Sequence[Word]) -> list[Inner]:
            parsed = parse_or_exit(prog, args, spec, exits)
            return [] if parsed is None else body(prog, args, *parsed)

        return handler

    return wrap


@dataclass(frozen=True, slots=True)
class GenericWrapper:
    """A wrapper of the shape ``prog [options] [operands...] command [args...]``."""

    spec: OptionSpec
    operands: int = 0
    no_command: tuple[str, ...] = ()
    shell_when_empty: bool = False

    def __call__(self, prog: str, args: Sequence[Word]) -> list[Inner]:
        parsed = parse_or_exit(prog, args, self.spec, self.no_command)
        if parsed is None:
            return []
        rest = list(args[parsed[1] :])
        for _ in range(self.operands):
            if not rest:
                return []
            static(prog, rest.pop(0))
        if not rest and self.shell_when_empty:
            raise Refusal(prog, f"{prog!r} without a command starts an interactive shell")
        return run_argv(rest)


class RefusedButRuns(Refusal):
    """Validation refuses the program (``bash -l``, ``sudo -i``), but what it runs is
    known: the lenient reading of what already ran follows ``runs``."""

    def __init__(self, word: str | None, reason: str, runs: Sequence[Inner]) -> None:
        super().__init__(word, reason)
        self.runs = tuple(runs)
