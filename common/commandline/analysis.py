"""The programs a command line would run, read the way the shell will run it. Pure.

The command is parsed (bashlex), every command word that will run is resolved: in
pipelines, lists, subshells, brace groups, ``$(...)``, backticks, process substitutions,
here-strings, redirections and assignments, behind quoting and escapes (``r\\m``,
``'r'm``), behind paths (``/usr/bin/../bin/rm`` is ``rm``) and behind wrappers (``env``,
``nice``, ``timeout``, ``xargs``, ``find -exec``, ``sh -c``...). A word used as an
argument is not a command (``echo rm`` runs echo).

Two readings share this walk. ``analyse`` is strict, for validation before anything
runs: it stops at the first thing it cannot pin down (``$X`` as a command, ``eval``,
``source``, a shell reading stdin) and says what and why, so the caller can fail closed.
``command_programs`` is lenient, for judging what already runs (a ``docker exec``, a
process's argv): it records what it cannot resolve, goes on with the rest, and reads a
line that does not parse as the words of an argv, so every program it can see is judged.
Both depend only on the command, so both are cached.

``analyse`` also takes ``links``: where command paths in writable places really lead, as
the caller found out on the sandbox's storage (a venv's ``bin/python`` is a link to the
image's ``/usr/bin/python3``). Such a word is judged twice: by its own name (a multi-call
program such as busybox runs the applet its argv[0] names) and as the program it leads to.
Only when it is the first program the command runs (after ``cd`` at most): anything
before it could point the link elsewhere (``ln -sf /usr/bin/rm L; L``), so a later one
stays refused. What runs alongside it, or what it runs itself, is the kernel layer's.

``scripts`` likewise holds the content of script files a shell runs (``sh FILE args``),
as the caller read it: the content is judged as that shell's code, the file's positional
arguments being run-time values. Only for the first program the command runs (after
``cd`` at most; a relative path only with nothing before it, the caller resolving it
against the working directory), and one level deep: a script file run from a script
file stays refused. Such an analysis is not cached (the content is part of the key).
"""

from __future__ import annotations

import functools
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from common.commandline.builtins import check_builtin
from common.commandline.locations import untrusted_location
from common.commandline.shell_parse import parse
from common.commandline.shell_words import Refusal, Word
from common.commandline.shells import POSIX_SHELLS
from common.commandline.steps import Named, RefusedButRuns, Run, Script, ScriptFile
from common.commandline.walker import Walker
from common.commandline.wrappers import WRAPPERS

log = structlog.get_logger(__name__)

# 'sh -c CMD' passes CMD as one argv string, which Linux caps at
# MAX_ARG_STRLEN = 32 pages × 4096 B = 131072 B including its NUL.
MAX_COMMAND_BYTES = 32 * 4096 - 1
# Scripts in scripts and wrappers in wrappers; real command lines stay under 5 levels.
MAX_NESTING = 16
# bashlex spends 25-80 µs per shell word (measured: 65,000 words on one 128 KiB line
# take 3.4 s; 10,000 words of 'echo $(echo a);' take 0.8 s), so the words parsed for one
# command, nested scripts included, are capped: 5,000 words ≈ 0.4 s at worst (0.16 s
# measured for 2,500 'a|' once operators count as words), against under 100 words for
# everyday commands. Here-document bodies parse cheaply (128 KiB in
# 30 ms) and are not counted, so files written with 'cat <<EOF' stay possible.
MAX_COMMAND_WORDS = 5_000
# The lenient reading runs on the processors' hot path, once per new process or exec,
# where a sandbox chooses how many and how long: 1,000 words ≈ 80 ms at worst. A script
# longer than that is named by the programs around it (``sh`` of ``sh -c SCRIPT``); what it
# runs is the kernel layer's to see.
MAX_RUNTIME_WORDS = 1_000
# Repeated commands skip the parse (0.3-0.6 ms); only short ones are kept, so each cache
# (strict and lenient; lines and argv share it) holds at most 4096 entries × 4 KiB = 16 MiB.
CACHE_SIZE = 4096
CACHEABLE_BYTES = 4096
# C0 controls other than tab and newline, and DEL: no shell syntax needs them, and a
# parser and a shell may disagree about them (bash keeps '\r' in a word).
_CONTROL = re.compile(r"[\x01-\x08\x0b-\x1f\x7f]")
_HEREDOC = re.compile(r"<<-?[ \t]*(['\"]?)([A-Za-z_0-9]+)\1[^\n]*\n(.*?)^[ \t]*\2$", re.DOTALL | re.MULTILINE)
# What costs the parser: words, and each operator or substitution, joined by blanks or not
# ('a|a|a...' is one blank-separated word but 60,000 commands: 12 s before it was counted).
_SHELL_WORD = re.compile(r"[;&|<>()`]|\$[({\[]|[^\s;&|<>()`$]+|\$")
# A program name as the argv reading may add it: no blank and no shell syntax in it.
_PLAIN_NAME = re.compile(r"[^\s;&|<>()$`'\"\\*?{}\[\]]+")


# bash started without PATH in its environment uses a compiled-in default that ends in
# '.': a name found nowhere else runs from the working directory, where a link can be any
# program (dash and busybox ash do not search '.'; dash does not export its default).
PATHLESS_DOT_SHELLS = frozenset(("bash", "rbash"))
# What may run before a command path judged through ``links``: nothing that can change a link.
LINK_SAFE_BEFORE = frozenset(("cd",))
_PATHLESS_BASH = (
    "{name} started without PATH in its environment (env -i, env -u PATH, exec -c) searches the "
    "working directory last, where a link can run any program under any name; keep the environment"
)


@dataclass(frozen=True, slots=True)
class Unresolved:
    """What stopped the strict analysis: the word at fault (its resolved name, or its
    source text, or None when the whole command is refused) and why."""

    word: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Analysis:
    """``words``: every command word resolved, in order. When a word cannot be resolved
    (``$X``, ``eval``), the strict analysis stops there: ``words`` ends before it and
    ``unresolved`` says what and why."""

    words: tuple[str, ...]
    unresolved: Unresolved | None
    # Command words given as paths that may lead through a writable place (/work, /tmp,
    # a relative path): a link there can give any program any name (``locations``).
    paths: tuple[str, ...] = ()
    # Script files a shell runs that the caller may read for a second analysis (``scripts``).
    scripts: tuple[str, ...] = ()


Command = str | Sequence[str]
# Command path -> the absolute path of the program it leads to, outside the writable places.
Links = tuple[tuple[str, str], ...]


def analyse(
    command: Command, links: Mapping[str, str] | None = None, scripts: Mapping[str, str] | None = None
) -> Analysis:
    """The strict analysis of a shell command line (``str``) or an exec-form argv (a
    sequence of strings: its first word and the wrappers in it); never raises. A command
    path in ``links`` is judged as the program it leads to, not as a path to refuse; a
    script file in ``scripts`` by its content."""
    pairs = tuple(sorted((links or {}).items()))
    if scripts:
        key = command if isinstance(command, str) else tuple(command)
        return _run(key, lenient=False, links=pairs, scripts=dict(scripts))
    return _cached(command, lenient=False, links=pairs)


def command_programs(command: Command) -> tuple[str, ...]:
    """The distinct programs a command line or argv runs, for judging what already ran.

    Lenient: what cannot be resolved is passed over and the rest still read; a line
    that does not parse is read as an argv of its blank-separated words. Never raises.
    """
    return tuple(dict.fromkeys(_cached(command, lenient=True).words))


def _cached(command: Command, *, lenient: bool, links: Links = ()) -> Analysis:
    if isinstance(command, str):
        key: str | tuple[str, ...] = command
    elif all(isinstance(arg, str) for arg in command):
        key = tuple(command)
    else:
        return Analysis((), Unresolved(None, "an argv must be a sequence of strings"))
    size = len(key) if isinstance(key, str) else sum(map(len, key))
    if size > CACHEABLE_BYTES:
        return _run(key, lenient, links)
    return _lenient(key) if lenient else _strict(key, links)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _strict(command: str | tuple[str, ...], links: Links = ()) -> Analysis:
    return _run(command, lenient=False, links=links)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _lenient(command: str | tuple[str, ...]) -> Analysis:
    return _run(command, lenient=True)


CACHES = (_strict, _lenient)


def clear_caches() -> None:
    """For benchmarks that time the analysis cold."""
    for cache in CACHES:
        cache.cache_clear()


def _run(
    command: str | tuple[str, ...], lenient: bool, links: Links = (), scripts: Mapping[str, str] | None = None
) -> Analysis:
    analyser = Analyser(lenient=lenient, links=dict(links), scripts=scripts)
    try:
        if isinstance(command, str):
            analyser.script(command, depth=0)
        else:
            analyser.argv(command)
    except Refusal as refusal:
        words = tuple(analyser.words) + _argv_reading(command, lenient)
        unresolved = Unresolved(refusal.word, refusal.reason)
        return Analysis(words, unresolved, tuple(analyser.paths), tuple(analyser.script_paths))
    except Exception as exc:
        # A defect here must deny, not allow: fail closed, and leave a trace to fix it.
        # The lenient reading still names the first word, so the process is judged.
        log.exception("command_analysis.internal_error", command=str(command)[:200])
        reason = f"the validator failed on this command ({type(exc).__name__}); it is denied"
        words = tuple(analyser.words) or (_first_word(command) if lenient else ())
        return Analysis(words, Unresolved(None, reason))
    words = tuple(analyser.words) + _argv_reading(command, analyser.passed_over)
    return Analysis(words, None, tuple(analyser.paths))


def _argv_reading(command: str | tuple[str, ...], wanted: object) -> tuple[str, ...]:
    """When the lenient shell reading passed something over (``wanted``), the line is also
    read as the argv of its blank-separated words (what a ``docker exec`` command line is:
    ``find . -exec rm {} ;`` ran rm), keeping the names that hold no shell syntax."""
    if not wanted or not isinstance(command, str):
        return ()
    analyser = Analyser(lenient=True)
    try:
        analyser.split_script(command, depth=0)
    except Refusal:
        pass  # the words found before it are kept
    except Exception:  # a defect: the shell reading's words stand alone, logged to be fixed
        log.exception("command_analysis.internal_error", command=command[:200])
    return tuple(w for w in analyser.words if _PLAIN_NAME.fullmatch(w))


def _first_word(command: str | tuple[str, ...]) -> tuple[str, ...]:
    words = command.split() if isinstance(command, str) else command
    return (_basename(words[0]),) if words and _basename(words[0]) else ()


class Analyser:
    """Collects the resolved command words of one command, across nested scripts.

    ``lenient``: a refusal is recorded in ``passed_over`` and the walk goes on."""

    def __init__(
        self,
        *,
        lenient: bool,
        links: Mapping[str, str] | None = None,
        scripts: Mapping[str, str] | None = None,
    ) -> None:
        self.words: list[str] = []
        self.links = links or {}
        self.scripts = scripts or {}
        self.script_paths: list[str] = []
        self.in_file = False  # inside a script file's content
        self.word_limit = MAX_RUNTIME_WORDS if lenient else MAX_COMMAND_WORDS
        self.word_budget = self.word_limit
        self.lenient = lenient
        self.passed_over: list[Refusal] = []
        self.paths: list[str] = []
        self.cleared = False  # inside a command run without PATH in its environment

    def tolerate(self, refusal: Refusal) -> None:
        """Raises the refusal when strict; records it when lenient."""
        if not self.lenient:
            raise refusal
        self.passed_over.append(refusal)

    def soft(self, step: Callable[..., object], *args: Any) -> None:
        """Runs one step; a refusal stops a strict analysis and is passed over by a lenient one."""
        try:
            step(*args)
        except Refusal as refusal:
            self.tolerate(refusal)

    def argv(self, argv: tuple[str, ...]) -> None:
        if not argv:
            raise Refusal(None, "the argv is empty")
        if any("\0" in arg for arg in argv):
            raise Refusal(None, "the argv contains a NUL byte")
        if sum(len(arg.encode("utf-8", "surrogatepass")) for arg in argv) > MAX_COMMAND_BYTES:
            raise Refusal(None, f"the argv is longer than {MAX_COMMAND_BYTES} bytes")
        self.resolve([Word.literal(arg) for arg in argv], depth=0)

    def script(self, text: str, depth: int) -> None:
        _check_text(text, depth, controls=not self.lenient)
        self.word_budget -= _approximate_words(text)
        if self.word_budget < 0:
            raise Refusal(None, f"the command has more than {self.word_limit} shell words to analyse")
        try:
            source, nodes = parse(text)
        except Refusal as refusal:
            self.tolerate(refusal)
            self.split_script(text, depth)
            return
        walker = Walker(self, source, depth)
        for node in nodes:
            walker.soft(walker.node, node)

    def split_script(self, text: str, depth: int) -> None:
        """A script that does not parse, read as an argv (a ``docker exec`` command line is
        its argv joined by blanks, so its quotes are lost)."""
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        if words:
            self.resolve([Word.literal(w) for w in words], depth)

    def resolve(self, argv: Sequence[Word], depth: int) -> None:
        """Resolves argv[0], checks it, and follows what it runs (wrappers, scripts)."""
        if depth > MAX_NESTING:
            raise Refusal(None, f"the command nests more than {MAX_NESTING} levels deep")
        name = _command_name(argv[0])
        self.named(name, argv[1:])
        value = argv[0].value or ""
        if value in self.links and all(w in LINK_SAFE_BEFORE for w in self.words[:-1]):
            # also judged as the program it leads to, with the same arguments
            self.soft(self.resolve, [Word.literal(self.links[value]), *argv[1:]], depth + 1)
        else:
            self.soft(self.locate, value)
        if self.cleared and name in PATHLESS_DOT_SHELLS:
            self.tolerate(Refusal(name, _PATHLESS_BASH.format(name=name)))
        handler = WRAPPERS.get(name)
        if handler is None:
            return
        try:
            inners = handler(name, argv[1:])
        except RefusedButRuns as refusal:
            self.tolerate(refusal)
            inners = list(refusal.runs)
        except Refusal as refusal:
            self.tolerate(refusal)
            return
        for inner in inners:
            if isinstance(inner, Run):
                self.soft(self.run_inner, inner, depth + 1)
            elif isinstance(inner, Script):
                self.soft(self.script, inner.text, depth + 1)
            elif isinstance(inner, Named):
                self.named(_basename(inner.name), ())
            elif isinstance(inner, ScriptFile):
                self.soft(self.script_file, inner, depth + 1)

    def script_file(self, inner: ScriptFile, depth: int) -> None:
        """A shell running a file: judged by the content the caller read, one level deep."""
        readable = self._readable(inner.path)
        content = self.scripts.get(inner.path) if readable else None
        if content is None:
            if readable:
                self.script_paths.append(inner.path)
            raise Refusal(
                inner.shell, f"{inner.shell} runs the script file {inner.path!r}, which cannot be checked"
            )
        self.in_file = True
        try:
            self.script(content, depth)
        finally:
            self.in_file = False

    def _readable(self, path: str) -> bool:
        """Could the file be read before the command runs and still be what runs? Only
        when nothing before its shell can write it or change the working directory."""
        before = self.words[:-1]  # the last word is the shell
        if self.in_file or self.lenient or path.startswith("~"):
            return False  # '~/x' is the word's value, unexpanded: the shell reads $HOME/x
        return all(w in LINK_SAFE_BEFORE for w in before) if path.startswith("/") else not before

    def run_inner(self, inner: Run, depth: int) -> None:
        """A wrapper's command; in a cleared environment, so is all it runs in turn."""
        before = self.cleared
        self.cleared = before or inner.cleared
        try:
            self.resolve(inner.argv, depth)
        finally:
            self.cleared = before

    def locate(self, value: str) -> None:
        """Records a program path whose last component may not be its name (``locations``)."""
        if "/" in value and untrusted_location(value):
            self.paths.append(value)

    def named(self, name: str, args: Sequence[Word]) -> None:
        self.words.append(name)
        self.soft(check_builtin, name, args)


def _check_text(text: str, depth: int, *, controls: bool) -> None:
    if depth > MAX_NESTING:
        raise Refusal(None, f"the command nests more than {MAX_NESTING} levels deep")
    if "\0" in text:
        raise Refusal(None, "the command contains a NUL byte")
    control = _CONTROL.search(text) if controls else None
    if control:
        raise Refusal(None, f"the command contains the control character {control.group()!r}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_COMMAND_BYTES:
        raise Refusal(None, f"the command is longer than {MAX_COMMAND_BYTES} bytes")
    if not text.strip():
        raise Refusal(None, "the command is empty")


def _approximate_words(text: str) -> int:
    """Words, operators and substitutions outside here-document bodies: a cost estimate,
    not syntax."""
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
