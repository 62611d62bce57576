"""Command validation: the policy applied to the programs a command would run.

Which programs a command line (or an exec-form argv) runs is the shared analyser's job
(``common.commandline``, the same one the processors use to judge what ran): it reads
the line the way the shell will, behind quoting, substitutions, paths and wrappers. Here
each resolved word is checked against ``blocked_commands`` and, when it is not empty,
the ``allowed_commands`` allowlist. What the analyser cannot resolve before it runs
(``$X`` as a command, ``eval``, ``source``, functions, a shell reading stdin) is denied:
the validator fails closed. The analysis is cached; the policy is applied to the cached
words on every call.

A command path in a writable place is refused as a possible link, unless the caller
passes ``links``: where such paths lead, found on the sandbox's storage (the manager does
it, only after this refusal). The program a link leads to is then judged like any other.
A script file run by a shell (``sh /work/run.sh``) is refused likewise, unless the caller
passes ``scripts``: the file's content, read after this refusal, judged as shell code.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
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
    or None when the command could not be parsed at all.
    ``linked_paths``: when the only reason for the denial is command paths in writable
    places (possible links), those paths; empty otherwise.
    ``script_paths``: when the denial is for a script file a shell runs, which could be
    judged by its content (``scripts``), that file's path as written; empty otherwise."""

    allowed: bool
    words: tuple[str, ...]
    denied_word: str | None
    reason: str | None
    linked_paths: tuple[str, ...] = ()
    script_paths: tuple[str, ...] = ()


def check_command(
    command: str | Sequence[str],
    policy: SecurityPolicy,
    *,
    links: Mapping[str, str] | None = None,
    scripts: Mapping[str, str] | None = None,
) -> CommandDecision:
    """Decides whether ``command`` may run under ``policy``; never raises for bad input.

    A ``str`` is a shell command line; a sequence of strings is an argv run without a
    shell (exec form): its first word and the wrappers in it are checked. ``links`` maps
    command paths to the programs outside the writable places they were found to lead to;
    ``scripts`` maps script file paths (as written) to their content.
    """
    links = links or {}
    analysis = analyse(command, links, scripts)
    words = analysis.words
    read = f" (judged with the content of the script file {', '.join(map(repr, scripts))})" if scripts else ""

    def deny(
        word: str | None, reason: str, linked: tuple[str, ...] = (), files: tuple[str, ...] = ()
    ) -> CommandDecision:
        return CommandDecision(False, words, word, reason + _via_link(word, links) + read, linked, files)

    for word in words:
        if word in policy.blocked_commands:
            return deny(word, f"{word!r} is a blocked command")
        if policy.allowed_commands and word not in policy.allowed_commands:
            return deny(word, f"{word!r} is not in allowed_commands")
    if analysis.paths and not policy.allow_workspace_exec:
        path = analysis.paths[0]
        return deny(path, _LINKED_PROGRAM.format(path=path), analysis.paths)
    if analysis.unresolved is not None:
        return deny(analysis.unresolved.word, analysis.unresolved.reason, files=analysis.scripts)
    return CommandDecision(True, words, None, None)


def _via_link(word: str | None, links: Mapping[str, str]) -> str:
    """Names the link a denied program was reached through, if it was."""
    via = [f"{path!r} is a link to {target!r}" for path, target in links.items()
           if word in (target, posixpath.basename(target))]  # fmt: skip
    return f" ({'; '.join(via)})" if via else ""


def validate_command(
    command: str | Sequence[str],
    policy: SecurityPolicy,
    *,
    links: Mapping[str, str] | None = None,
    scripts: Mapping[str, str] | None = None,
) -> CommandDecision:
    """Like ``check_command``, but a denial raises CommandDeniedError (which word, why)."""
    decision = check_command(command, policy, links=links, scripts=scripts)
    if not decision.allowed:
        shown = command if isinstance(command, str) else shlex.join(command)
        raise CommandDeniedError(shown, decision.denied_word, decision.reason or "denied")
    return decision
