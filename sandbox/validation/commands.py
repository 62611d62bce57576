"""Command validation: the policy applied to the programs a command would run.

Which programs a command line (or an exec-form argv) runs is the shared analyser's job
(``common.commandline``, the same one the processors use to judge what ran): it reads
the line the way the shell will, behind quoting, substitutions, paths and wrappers. Here
each resolved word is checked against ``blocked_commands`` and, when it is not empty,
the ``allowed_commands`` allowlist. What the analyser cannot resolve before it runs
(``$X`` as a command, ``eval``, ``source``, functions, a shell reading stdin) is denied:
the validator fails closed. The analysis is cached; the policy is applied to the cached
words on every call.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from common.commandline import MAX_COMMAND_BYTES, MAX_COMMAND_WORDS, MAX_NESTING, analyse
from sandbox.validation.errors import CommandDeniedError
from schemas import SecurityPolicy

__all__ = [
    "MAX_COMMAND_BYTES",
    "MAX_COMMAND_WORDS",
    "MAX_NESTING",
    "CommandDecision",
    "check_command",
    "validate_command",
]


# With noexec workspaces, the only program that runs from /work or /tmp is one a link
# there leads to: named by the sandbox, not by the image. (With allow_workspace_exec a
# copied program runs under any name anyway: that is the kernel layer's to judge.)
_LINKED_PROGRAM = (
    "{path!r} may be a link the sandbox made, in a writable place or relative to a working "
    "directory, to any program under any name; name programs by their name or by their path "
    "in the image's system directories"
)


@dataclass(frozen=True, slots=True)
class CommandDecision:
    """``words``: every command word resolved, in order. When a word cannot be resolved
    (``$X``, ``eval``), the analysis stops there and ``words`` ends before it.
    ``denied_word``: the first word the policy denies, or the unresolvable word's text,
    or None when the command could not be parsed at all."""

    allowed: bool
    words: tuple[str, ...]
    denied_word: str | None
    reason: str | None


def check_command(command: str | Sequence[str], policy: SecurityPolicy) -> CommandDecision:
    """Decides whether ``command`` may run under ``policy``; never raises for bad input.

    A ``str`` is a shell command line; a sequence of strings is an argv run without a
    shell (exec form): its first word and the wrappers in it are checked.
    """
    analysis = analyse(command)
    for word in analysis.words:
        if word in policy.blocked_commands:
            return CommandDecision(False, analysis.words, word, f"{word!r} is a blocked command")
        if policy.allowed_commands and word not in policy.allowed_commands:
            return CommandDecision(False, analysis.words, word, f"{word!r} is not in allowed_commands")
    if analysis.paths and not policy.allow_workspace_exec:
        path = analysis.paths[0]
        return CommandDecision(False, analysis.words, path, _LINKED_PROGRAM.format(path=path))
    if analysis.unresolved is not None:
        unresolved = analysis.unresolved
        return CommandDecision(False, analysis.words, unresolved.word, unresolved.reason)
    return CommandDecision(True, analysis.words, None, None)


def validate_command(command: str | Sequence[str], policy: SecurityPolicy) -> CommandDecision:
    """Like ``check_command``, but a denial raises CommandDeniedError (which word, why)."""
    decision = check_command(command, policy)
    if not decision.allowed:
        shown = command if isinstance(command, str) else shlex.join(command)
        raise CommandDeniedError(shown, decision.denied_word, decision.reason or "denied")
    return decision
