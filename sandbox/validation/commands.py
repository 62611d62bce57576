"""Command validation that reads a command line the way the shell will run it.

The command is parsed (bashlex), every command word that will run is resolved:
in pipelines, lists, subshells, brace groups, ``$(...)``, backticks, process
substitutions, here-strings, redirections and assignments, behind quoting and escapes
(``r\\m``, ``'r'm``), behind paths (``/usr/bin/../bin/rm`` is ``rm``) and behind
wrappers (``env``, ``nice``, ``timeout``, ``xargs``, ``find -exec``, ``sh -c``...).
Each resolved word is checked against ``blocked_commands`` and, when it is not empty,
the ``allowed_commands`` allowlist. A word used as an argument is not a command
(``echo rm`` runs echo). What cannot be resolved before it runs (``$X`` as a command,
``eval``, ``source``, functions, a shell reading stdin) is denied: the validator fails
closed. The analysis depends only on the command, so it is cached; the policy is
applied to the cached words on every call.
"""

from __future__ import annotations

import functools
import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from sandbox.validation.builtins import check_assignment, check_builtin, check_variable_name
from sandbox.validation.errors import CommandDeniedError
from sandbox.validation.shell_parse import delimiter_is_quoted, parse
from sandbox.validation.shell_words import (
    SUBSTITUTIONS,
    Refusal,
    Word,
    check_parameter_expansions,
    heredoc_spans,
    static_word,
)
from sandbox.validation.shells import POSIX_SHELLS
from sandbox.validation.steps import Named, Run, Script
from sandbox.validation.wrappers import WRAPPERS
from schemas import SecurityPolicy

log = structlog.get_logger(__name__)

# 'sh -c CMD' passes CMD as one argv string, which Linux caps at
# MAX_ARG_STRLEN = 32 pages × 4096 B = 131072 B including its NUL.
MAX_COMMAND_BYTES = 32 * 4096 - 1
# Scripts in scripts and wrappers in wrappers; real command lines stay under 5 levels.
MAX_NESTING = 16
# bashlex spends 25-80 µs per shell word (measured: 65,000 words on one 128 KiB line
# take 3.4 s; 10,000 words of 'echo $(echo a);' take 0.8 s), so the words parsed for one
# command, nested scripts included, are capped: 5,000 words ≈ 0.4 s at worst, against
# under 100 words for everyday commands. Here-document bodies parse cheaply (128 KiB in
# 30 ms) and are not counted, so files written with 'cat <<EOF' stay possible.
MAX_COMMAND_WORDS = 5_000
# Repeated commands skip the parse (0.3-0.6 ms); only short ones are kept, so the
# cache holds at most 4096 entries × 4 KiB = 16 MiB.
CACHE_SIZE = 4096
CACHEABLE_BYTES = 4096
# C0 controls other than tab and newline, and DEL: no shell syntax needs them, and a
# parser and a shell may disagree about them (bash keeps '\r' in a word).
_CONTROL = re.compile(r"[\x01-\x08\x0b-\x1f\x7f]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_HEREDOC = re.compile(r"<<-?[ \t]*(['\"]?)([A-Za-z_0-9]+)\1[^\n]*\n(.*?)^[ \t]*\2$", re.DOTALL | re.MULTILINE)
_SHELL_WORD = re.compile(r"\S+")


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


@dataclass(frozen=True, slots=True)
class _Analysis:
    words: tuple[str, ...]
    refusal: Refusal | None


def check_command(command: str | Sequence[str], policy: SecurityPolicy) -> CommandDecision:
    """Decides whether ``command`` may run under ``policy``; never raises for bad input.

    A ``str`` is a shell command line; a sequence of strings is an argv run without a
    shell (exec form): its first word and the wrappers in it are checked.
    """
    analysis = _analyse(command)
    for word in analysis.words:
        if word in policy.blocked_commands:
            return CommandDecision(False, analysis.words, word, f"{word!r} is a blocked command")
        if policy.allowed_commands and word not in policy.allowed_commands:
            return CommandDecision(False, analysis.words, word, f"{word!r} is not in allowed_commands")
    if analysis.refusal is not None:
        refusal = analysis.refusal
        return CommandDecision(False, analysis.words, refusal.word, refusal.reason)
    return CommandDecision(True, analysis.words, None, None)


def validate_command(command: str | Sequence[str], policy: SecurityPolicy) -> CommandDecision:
    """Like ``check_command``, but a denial raises CommandDeniedError (which word, why)."""
    decision = check_command(command, policy)
    if not decision.allowed:
        shown = command if isinstance(command, str) else shlex.join(command)
        raise CommandDeniedError(shown, decision.denied_word, decision.reason or "denied")
    return decision


def _analyse(command: str | Sequence[str]) -> _Analysis:
    if isinstance(command, str):
        if len(command) <= CACHEABLE_BYTES:
            return _analyse_line_cached(command)
        return _run_analysis(command)
    if not all(isinstance(arg, str) for arg in command):
        return _Analysis((), Refusal(None, "an argv must be a sequence of strings"))
    argv = tuple(command)
    if sum(len(arg) for arg in argv) <= CACHEABLE_BYTES:
        return _analyse_argv_cached(argv)
    return _run_analysis(argv)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _analyse_line_cached(line: str) -> _Analysis:
    return _run_analysis(line)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _analyse_argv_cached(argv: tuple[str, ...]) -> _Analysis:
    return _run_analysis(argv)


def _run_analysis(command: str | tuple[str, ...]) -> _Analysis:
    analyser = _Analyser()
    try:
        if isinstance(command, str):
            analyser.script(command, depth=0)
        else:
            analyser.argv(command)
    except Refusal as refusal:
        return _Analysis(tuple(analyser.words), refusal)
    except Exception as exc:
        # A defect here must deny, not allow: fail closed, and leave a trace to fix it.
        log.exception("command_validation.internal_error", command=str(command)[:200])
        reason = f"the validator failed on this command ({type(exc).__name__}); it is denied"
        return _Analysis(tuple(analyser.words), Refusal(None, reason))
    return _Analysis(tuple(analyser.words), None)


class _Analyser:
    """Collects the resolved command words of one command, across nested scripts."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word_budget = MAX_COMMAND_WORDS

    def argv(self, argv: tuple[str, ...]) -> None:
        if not argv:
            raise Refusal(None, "the argv is empty")
        if any("\0" in arg for arg in argv):
            raise Refusal(None, "the argv contains a NUL byte")
        if sum(len(arg.encode("utf-8", "surrogatepass")) for arg in argv) > MAX_COMMAND_BYTES:
            raise Refusal(None, f"the argv is longer than {MAX_COMMAND_BYTES} bytes")
        self.resolve([Word.literal(arg) for arg in argv], depth=0)

    def script(self, text: str, depth: int) -> None:
        _check_text(text, depth)
        self.word_budget -= _approximate_words(text)
        if self.word_budget < 0:
            raise Refusal(None, f"the command has more than {MAX_COMMAND_WORDS} shell words to analyse")
        source, nodes = parse(text)
        walker = _Walker(self, source, depth)
        for node in nodes:
            walker.node(node)

    def resolve(self, argv: Sequence[Word], depth: int) -> None:
        """Resolves argv[0], checks it, and follows what it runs (wrappers, scripts)."""
        if depth > MAX_NESTING:
            raise Refusal(None, f"the command nests more than {MAX_NESTING} levels deep")
        name = _command_name(argv[0])
        self.named(name, argv[1:])
        handler = WRAPPERS.get(name)
        if handler is None:
            return
        for inner in handler(name, argv[1:]):
            if isinstance(inner, Run):
                self.resolve(inner.argv, depth + 1)
            elif isinstance(inner, Script):
                self.script(inner.text, depth + 1)
            elif isinstance(inner, Named):
                self.named(_basename(inner.name), ())

    def named(self, name: str, args: Sequence[Word]) -> None:
        self.words.append(name)
        check_builtin(name, args)


def _check_text(text: str, depth: int) -> None:
    if depth > MAX_NESTING:
        raise Refusal(None, f"the command nests more than {MAX_NESTING} levels deep")
    if "\0" in text:
        raise Refusal(None, "the command contains a NUL byte")
    control = _CONTROL.search(text)
    if control:
        raise Refusal(None, f"the command contains the control character {control.group()!r}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_COMMAND_BYTES:
        raise Refusal(None, f"the command is longer than {MAX_COMMAND_BYTES} bytes")
    if not text.strip():
        raise Refusal(None, "the command is empty")


def _approximate_words(text: str) -> int:
    """Blank-separated words outside here-document bodies: a cost estimate, not syntax."""
    return len(_SHELL_WORD.findall(_HEREDOC.sub("", text)))


def _command_name(word: Word) -> str:
    if word.value is None:
        raise Refusal(word.text, f"the command word {word.text!r} is only known at run time")
    if word.value.startswith("="):
        raise Refusal(word.text, "'=name' expands to a command's path in zsh")
    name = _basename(word.value)
    if not name:
        raise Refusal(word.text, "the command word is empty")
    if name.startswith("-") and name != "-":
        # argv[0] '-sh' starts a login shell (it runs ~/.profile); busybox strips the '-'
        # to find its applet, so '-rm' (a link to busybox) runs rm: judged as 'rm'.
        name = name[1:]
        if name in POSIX_SHELLS:
            raise Refusal(word.text, f"a program named '-{name}' starts a login shell, which runs profiles")
    return name


def _basename(value: str) -> str:
    """``/usr/bin/../bin/rm`` and ``./rm`` are ``rm``: only the last component names the program."""
    if "/" not in value:
        return value
    return posixpath.basename(posixpath.normpath(value))


class _Walker:
    """Walks the bashlex tree of one script; ``src`` is the text its positions refer to."""

    def __init__(self, analyser: _Analyser, src: str, depth: int) -> None:
        self.analyser = analyser
        self.src = src
        self.depth = depth

    def node(self, node: Any) -> None:
        kind = node.kind
        if kind in ("list", "pipeline", "if", "while", "until"):
            self.nodes(node.parts)
        elif kind == "compound":
            self.compound(node)
        elif kind == "for":
            self.for_loop(node)
        elif kind == "command":
            self.command(node)
        elif kind == "function":
            name = node.name.word if getattr(node, "name", None) is not None else None
            raise Refusal(name, "defining a function is denied: a function can give any name any behaviour")
        elif kind == "word":
            self.word(node)
        elif kind == "redirect":
            self.redirect(node)
        elif kind not in ("reservedword", "operator", "pipe"):
            raise Refusal(None, f"the shell construct {kind!r} is not analysed")

    def nodes(self, nodes: Sequence[Any]) -> None:
        for child in nodes:
            self.node(child)

    def compound(self, node: Any) -> None:
        if self.src.startswith("((", int(node.pos[0])):
            raise Refusal(None, "the arithmetic command ((...)) evaluates data as code")
        self.nodes(node.list)
        self.nodes(getattr(node, "redirects", None) or [])

    def for_loop(self, node: Any) -> None:
        words = [part for part in node.parts if part.kind == "word"]
        if words:
            variable = self.word(words[0])
            check_variable_name(variable.value or "", words[0].word)
        self.nodes([part for part in node.parts if part.kind != "word" or part is not words[0]])

    def command(self, node: Any) -> None:
        argv: list[Word] = []
        splits: list[int] = []
        for part in node.parts:
            if part.kind == "assignment":
                self.assignment(part)
            elif part.kind == "word":
                argv.append(self.word(part))
            elif part.kind == "redirect":
                self.redirect(part)
                if part.type in ("&>", "&>>"):
                    splits.append(len(argv))
            else:
                raise Refusal(None, f"the command part {part.kind!r} is not analysed")
        if argv:
            self.analyser.resolve(argv, self.depth)
        for start, end in zip(splits, [*splits[1:], len(argv)], strict=False):
            self.sh_segment(argv[start:end])

    def sh_segment(self, words: list[Word]) -> None:
        """POSIX sh reads 'a &>f b' as 'a &' then '>f b': the words after '&>' are a
        command of their own there, led by its assignments."""
        while words and _ASSIGNMENT.match(words[0].value if words[0].value is not None else words[0].prefix):
            check_assignment(words.pop(0), "sh")
        if words:
            self.analyser.resolve(words, self.depth)

    def word(self, node: Any) -> Word:
        """The word's static value; the substitutions inside it are walked first, as
        the shell runs them before the command."""
        word = static_word(self.src, node)
        substitutions = [part for part in getattr(node, "parts", None) or [] if part.kind in SUBSTITUTIONS]
        documents = [span for part in substitutions for span in heredoc_spans(part)]
        for part in substitutions:
            # bashlex also finds '$(...)' in the text of a here-document inside a
            # substitution; that text is data (or refused by the body check), not code.
            if not any(start <= int(part.pos[0]) < end for start, end in documents):
                self.node(part.command)
        return word

    def assignment(self, node: Any) -> None:
        word = self.word(node)
        name = str(node.word).split("=", 1)[0].removesuffix("+")
        check_variable_name(name, str(node.word))
        if word.value is None and word.prefix.find("=") < 0:
            raise Refusal(str(node.word), "the assigned variable is only known at run time")

    def redirect(self, node: Any) -> None:
        target = getattr(node, "output", None)
        if target is None or not hasattr(target, "kind"):
            return  # a file descriptor number: '2>&1'
        self.word(target)
        heredoc = getattr(node, "heredoc", None)
        if heredoc is not None and not delimiter_is_quoted(str(target.word)):
            _check_heredoc_body(str(heredoc.value))


def _check_heredoc_body(body: str) -> None:
    """An unquoted delimiter makes the shell expand the document like a double-quoted
    string, running its command substitutions."""
    for marker in ("$(", "`", "$["):
        if marker in body:
            raise Refusal(
                None,
                f"a here-document with an unquoted delimiter runs the {marker!r} in its text; "
                "quote the delimiter (<<'EOF') to pass the text literally",
            )
    check_parameter_expansions(body)
