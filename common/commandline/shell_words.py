"""The value of one shell word, computed from its source text, or the proof that it has none.

bashlex finds the words and the substitutions inside them; this module re-reads each
word's source with the shell's quoting rules and decides whether its value is known
before the shell runs (a static word) or only at run time (a dynamic word: a variable,
a substitution, a glob or a brace expansion). It also cross-checks bashlex: every
``$(``, backtick or ``<(`` seen here must be a substitution bashlex parsed, so a
substitution the parser missed cannot slip through as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from common.commandline.variables import unsafe_variable_reason

SUBSTITUTIONS = ("commandsubstitution", "processsubstitution")  # bashlex node kinds
# Characters the shell splits or operates on; bashlex never leaves them unquoted in a word.
_UNQUOTED_METACHARS = frozenset(" \t\n;&|<>()")
# Escapes that keep their meaning inside double quotes (bash manual, "Double Quotes").
_DQUOTE_ESCAPES = frozenset('$`"\\\n')
_SPECIAL_PARAMETERS = frozenset("0123456789@*#?-$!")
_NAME_START = re.compile(r"[A-Za-z_]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ${!name*}, ${!name@}, ${!name[@]}, ${!name[*]}: names and keys, never an indirect value.
_SAFE_INDIRECTION = re.compile(r"![A-Za-z_][A-Za-z0-9_]*(\[[@*]\]|[@*])\}")
_PARAMETER_HEAD = re.compile(r"#?([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])")
_LITERAL_SUBSCRIPT = re.compile(r"[@*]|-?[0-9]+")
_LITERAL_OFFSET = re.compile(r"[\s0-9:()+-]*")


class Refusal(Exception):
    """A command cannot be allowed; ``word`` is the command word or source text at fault.

    Internal: the analysis turns it into a decision; it never leaves the package."""

    def __init__(self, word: str | None, reason: str) -> None:
        super().__init__(reason)
        self.word = word
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Word:
    """One argument as the program will see it.

    ``value`` is None when it is only known at run time. ``prefix`` is the static text
    before the first expansion (``NAME=`` of ``NAME=$x``), ``text`` the source for messages.
    """

    value: str | None
    prefix: str
    text: str
    # The value bash gives a word whose only run-time parts are $'...' strings (which
    # dash reads differently, so validation keeps them dynamic); what already ran is
    # judged by it.
    ansi_c: str | None = None

    @classmethod
    def literal(cls, value: str) -> Word:
        return cls(value, value, value)

    @classmethod
    def dynamic(cls, text: str) -> Word:
        return cls(None, "", text)


class _Lexer:
    """Reads one word's source; ``chars`` keeps (char, quoted) for glob and brace checks."""

    def __init__(self, src: str, node: Any) -> None:
        self.src = src
        self.start, self.end = int(node.pos[0]), int(node.pos[1])
        self.text = src[self.start : self.end]
        parts = list(getattr(node, "parts", []) or [])
        self.subs = {int(p.pos[0]): p for p in parts if p.kind in SUBSTITUTIONS}
        self.params = {int(p.pos[0]): p for p in parts if p.kind == "parameter"}
        self.chars: list[tuple[str, bool]] = []
        self.prefix: str | None = None
        self.ansi_c_only = True

    def dynamic(self, *, ansi_c: bool = False) -> None:
        if self.prefix is None:
            self.prefix = "".join(c for c, _ in self.chars)
        self.ansi_c_only = self.ansi_c_only and ansi_c

    def refuse(self, what: str) -> Refusal:
        return Refusal(self.text, f"{what} in word {self.text!r} could not be analysed")

    def run(self) -> Word:
        i = self.start
        while i < self.end:
            i = self._unquoted(i)
        if self.chars and self.chars[0] == ("~", False):
            self._tilde()
        if _globs(self.chars) or _braces(self.chars):
            self.dynamic()
        value = "".join(c for c, _ in self.chars)
        if self.prefix is not None:
            return Word(None, self.prefix, self.text, value if self.ansi_c_only else None)
        return Word(value, value, self.text)

    def _unquoted(self, i: int) -> int:
        c = self.src[i]
        if c == "\\":
            if i + 1 >= self.end:
                self.chars.append(("\\", False))
                return i + 1
            if self.src[i + 1] != "\n":
                self.chars.append((self.src[i + 1], True))
            return i + 2
        if c == "'":
            close = self.src.find("'", i + 1, self.end)
            if close < 0:
                raise self.refuse("an unterminated single quote")
            self.chars.extend((ch, True) for ch in self.src[i + 1 : close])
            return close + 1
        if c == '"':
            return self._double_quoted(i + 1)
        if c in "$`" or (c in "<>" and self.src.startswith("(", i + 1)):
            return self._expansion(i, quoted=False)
        if c in _UNQUOTED_METACHARS:
            raise self.refuse(f"an unquoted {c!r}")
        self.chars.append((c, False))
        return i + 1

    def _double_quoted(self, i: int) -> int:
        while i < self.end:
            c = self.src[i]
            if c == '"':
                return i + 1
            if c == "\\" and i + 1 < self.end and self.src[i + 1] in _DQUOTE_ESCAPES:
                if self.src[i + 1] != "\n":
                    self.chars.append((self.src[i + 1], True))
                i += 2
            elif c in "$`":
                i = self._expansion(i, quoted=True)
            else:
                self.chars.append((c, True))
                i += 1
        raise self.refuse("an unterminated double quote")

    def _expansion(self, i: int, *, quoted: bool) -> int:
        nxt = self.src[i + 1] if i + 1 < self.end else ""
        if self.src[i] == "`" or nxt == "(":
            return self._substitution(i)
        if nxt == "{":
            return self._parameter(i)
        if nxt == '"' and not quoted:
            raise Refusal(self.text, 'a $"..." string is translated from a message catalogue at run time')
        if nxt == "'" and not quoted:
            self.dynamic(ansi_c=True)
            end = _skip_ansi_c(self.src, i + 2, self.end, self)
            self.chars.extend((c, True) for c in _decode_ansi_c(self.src[i + 2 : end - 1]))
            return end
        if nxt and _NAME_START.match(nxt):
            self.dynamic()
            match = _NAME.match(self.src, i + 1, self.end)
            return match.end() if match else i + 2
        if nxt and nxt in _SPECIAL_PARAMETERS:
            self.dynamic()
            return i + 2
        self.chars.append(("$", quoted))  # a lone '$' is literal in the shell
        return i + 1

    def _substitution(self, i: int) -> int:
        node = self.subs.get(i)
        if node is None:
            raise self.refuse(f"a substitution at offset {i} that the parser did not see")
        self.dynamic()
        end = int(node.pos[1])
        spans = heredoc_spans(node)
        if spans and spans[-1][1] > end:
            return self._after_heredoc(spans[-1][1])
        return end

    def _after_heredoc(self, j: int) -> int:
        """bashlex ends ``$(cat <<EOF ... EOF\n)`` before the document; the shell ends
        it at the ')' after it. Only blanks may come between: a command there is one
        bashlex did not parse."""
        while j < self.end and self.src[j] in " \t\n":
            j += 1
        if not self.src.startswith(")", j):
            raise self.refuse("text after a here-document inside a substitution")
        return j + 1

    def _parameter(self, i: int) -> int:
        node = self.params.get(i)
        if node is None:
            raise self.refuse(f"a parameter expansion at offset {i} that the parser did not see")
        check_parameter_expansions(self.src[i : int(node.pos[1])], self.text)
        self.dynamic()
        return int(node.pos[1])

    def _tilde(self) -> None:
        # '~/x' and '~user/x' only change the directory part; a bare '~user' names a directory.
        if ("/", False) not in self.chars:
            self.dynamic()


def heredoc_spans(node: Any) -> list[tuple[int, int]]:
    """(start, end) of every here-document body in the subtree, sorted by end."""
    spans: list[tuple[int, int]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.kind == "heredoc":
            spans.append((int(current.pos[0]), int(current.pos[1])))
        for name in ("parts", "list", "redirects"):
            stack.extend(getattr(current, name, None) or [])
        for name in ("command", "output", "heredoc"):
            child = getattr(current, name, None)
            if child is not None and hasattr(child, "kind"):
                stack.append(child)
    return sorted(spans, key=lambda span: span[1])


def _skip_ansi_c(src: str, i: int, end: int, lexer: _Lexer) -> int:
    """Skips a ``$'...'`` string. bash ends it at the first unescaped quote; dash has no
    such strings and ends the quote at ``\'``: with an escaped quote inside, the two
    shells split the line differently (``echo $'\' ; rm x ; # '`` runs rm in dash)."""
    while i < end:
        if src[i] == "\\":
            if src.startswith("'", i + 1):
                raise Refusal(
                    lexer.text, "a $'...' string with an escaped quote is read differently by bash and sh"
                )
            i += 2
        elif src[i] == "'":
            return i + 1
        else:
            i += 1
    raise lexer.refuse("an unterminated $'...' string")


_ANSI_C_ESCAPE = re.compile(
    r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{1,4})|U([0-9A-Fa-f]{1,8})|c(.)|(.))", re.S
)
_ANSI_C_SIMPLE = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
                  "t": "\t", "v": "\v"}  # fmt: skip


def _decode_ansi_c(body: str) -> str:
    """The value bash gives ``$'body'`` (bash manual, "ANSI-C Quoting")."""

    def one(match: re.Match[str]) -> str:
        octal, hex2, hex4, hex8, control, other = match.groups()
        if octal or hex2 or hex4 or hex8:
            code = int(octal, 8) if octal else int(hex2 or hex4 or hex8, 16)
            return chr(code) if code <= 0x10FFFF else ""
        if control is not None:
            return chr(ord(control.upper()) ^ 0x40)
        if other in "\\'\"?":
            return other
        return _ANSI_C_SIMPLE.get(other, "\\" + other)

    return _ANSI_C_ESCAPE.sub(one, body)


def _globs(chars: list[tuple[str, bool]]) -> bool:
    unquoted = [c for c, quoted in chars if not quoted]
    if "*" in unquoted or "?" in unquoted:
        return True
    return "[" in unquoted and "]" in unquoted[unquoted.index("[") :]


def _braces(chars: list[tuple[str, bool]]) -> bool:
    """True when bash could brace-expand: an unquoted '{' ... ',' or '..' ... '}'."""
    text = "".join(c if not quoted else "\0" for c, quoted in chars)
    opening = text.find("{")
    closing = text.rfind("}")
    if opening < 0 or closing < opening:
        return False
    inner = text[opening + 1 : closing]
    return "," in inner or ".." in inner


def static_word(src: str, node: Any) -> Word:
    """The word's value if the shell knows it before running anything, else a dynamic Word.

    Raises Refusal when the source and bashlex disagree about the word's structure.
    """
    return _Lexer(src, node).run()


def check_parameter_expansions(text: str, word: str | None = None) -> None:
    """Refuses ``${...}`` forms that run code or evaluate arithmetic on run-time data.

    bash evaluates array subscripts and substring offsets as arithmetic, and arithmetic
    on a variable holding ``a[$(cmd)]`` runs ``cmd``; ``${x@P}`` expands a value as a
    prompt, which runs its command substitutions. bashlex does not parse inside ``${}``,
    so a substitution there would otherwise go unseen.
    """
    shown = word if word is not None else text
    for marker in ("$(", "`", "<(", ">("):
        if marker in text:
            raise Refusal(shown, f"a command substitution inside ${{...}} ({text!r}) is not analysed")
    start = text.find("${")
    while start >= 0:
        _check_one_parameter(text[start + 2 :], shown)
        start = text.find("${", start + 2)


def _check_one_parameter(body: str, shown: str) -> None:
    if body.startswith("!") and not _SAFE_INDIRECTION.match(body):
        raise Refusal(shown, "indirect expansion ${!name} reads a variable named at run time")
    head = _PARAMETER_HEAD.match(body)
    rest = body[head.end() :] if head else body
    if head and rest.startswith((":=", "=")):
        # ${NAME:=value} assigns NAME: the same names are refused as in NAME=value.
        reason = unsafe_variable_reason(head.group(1))
        if reason is not None:
            operator = ":=" if rest.startswith(":=") else "="
            raise Refusal(shown, f"${{{head.group(1)}{operator}...}} assigns the variable: {reason}")
    if rest.startswith("["):
        subscript = rest[1 : rest.find("]")] if "]" in rest else rest[1:]
        if not _LITERAL_SUBSCRIPT.fullmatch(subscript):
            raise Refusal(shown, "an array subscript is evaluated as arithmetic, which can run commands")
    elif rest.startswith(":") and rest[1:2] not in ("-", "=", "?", "+"):
        offset = rest[1 : rest.find("}")] if "}" in rest else rest[1:]
        if not _LITERAL_OFFSET.fullmatch(offset):
            raise Refusal(shown, "a substring offset is evaluated as arithmetic, which can run commands")
    elif rest.startswith("@P"):
        raise Refusal(shown, "${name@P} expands a value as a prompt, which runs command substitutions")
