"""The walk over the bashlex tree of one script: every command it runs, in order. Pure.

Each command's words are resolved by the analyser (``analysis.Analyser``); here are the
shell's own constructs: lists, pipelines, compounds, loops, substitutions inside words,
assignments and redirections. A check that refuses goes through ``analyser.tolerate``, so
the strict reading stops there and the lenient one records it and walks on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from common.commandline.builtins import check_assignment, check_variable_name
from common.commandline.shell_parse import delimiter_is_quoted
from common.commandline.shell_words import (
    SUBSTITUTIONS,
    Refusal,
    Word,
    check_parameter_expansions,
    heredoc_spans,
    static_word,
)

if TYPE_CHECKING:
    from common.commandline.analysis import Analyser

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_FD_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# bashlex node kinds and the Walker method that walks each.
_STEPS = {
    "compound": "compound",
    "for": "for_loop",
    "command": "command",
    "function": "function",
    "word": "word",
    "redirect": "redirect",
}


class Walker:
    """Walks the bashlex tree of one script; ``src`` is the text its positions refer to."""

    def __init__(self, analyser: Analyser, src: str, depth: int) -> None:
        self.analyser = analyser
        self.src = src
        self.depth = depth
        self.soft = analyser.soft

    def node(self, node: Any) -> None:
        kind = node.kind
        if kind in ("list", "pipeline", "if", "while", "until"):
            self.nodes(node.parts)
        elif kind in _STEPS:
            getattr(self, _STEPS[kind])(node)
        elif kind not in ("reservedword", "operator", "pipe"):
            raise Refusal(None, f"the shell construct {kind!r} is not analysed")

    def nodes(self, nodes: Sequence[Any]) -> None:
        for child in nodes:
            self.soft(self.node, child)

    def function(self, node: Any) -> None:
        name = node.name.word if getattr(node, "name", None) is not None else None
        self.analyser.tolerate(
            Refusal(name, "defining a function is denied: a function can give any name any behaviour")
        )
        self.node(node.body)  # lenient: the body runs when the function is called

    def compound(self, node: Any) -> None:
        if self.src.startswith("((", int(node.pos[0])):
            raise Refusal(None, "the arithmetic command ((...)) evaluates data as code")
        self.nodes(node.list)
        self.nodes(getattr(node, "redirects", None) or [])

    def for_loop(self, node: Any) -> None:
        words = [part for part in node.parts if part.kind == "word"]
        if words:
            variable = self.word(words[0])
            self.soft(check_variable_name, variable.value or "", words[0].word)
        self.nodes([part for part in node.parts if part.kind != "word" or part is not words[0]])

    def command(self, node: Any) -> None:
        argv: list[Word] = []
        splits: list[int] = []
        fd_names: list[int] = []
        for part in node.parts:
            if part.kind == "assignment":
                self.soft(self.assignment, part)
            elif part.kind == "word":
                if self.fd_variable(part):
                    fd_names.append(len(argv))
                argv.append(self.word(part))
            elif part.kind == "redirect":
                self.soft(self.redirect, part)
                if part.type in ("&>", "&>>"):
                    splits.append(len(argv))
            else:
                raise Refusal(None, f"the command part {part.kind!r} is not analysed")
        if argv:
            self.soft(self.analyser.resolve, argv, self.depth)
        bash_argv = [w for i, w in enumerate(argv) if i not in fd_names]
        if fd_names and bash_argv:  # bash reads '{fd}>f' as a redirection, sh as a word
            self.soft(self.analyser.resolve, bash_argv, self.depth)
        for start, end in zip(splits, [*splits[1:], len(argv)], strict=False):
            self.soft(self.sh_segment, argv[start:end])

    def fd_variable(self, node: Any) -> bool:
        """``{NAME}>file`` is bash's redirection that assigns the new descriptor's number
        to NAME (``{PATH}>/dev/null`` sets PATH to '10', a directory relative to the
        working directory): the name is checked like any assigned name."""
        start, end = int(node.pos[0]), int(node.pos[1])
        match = _FD_VARIABLE.fullmatch(self.src, start, end)
        if match is None or not self.src.startswith(("<", ">"), end):
            return False
        self.soft(check_variable_name, match.group(1), match.group())
        return True

    def sh_segment(self, words: list[Word]) -> None:
        """POSIX sh reads 'a &>f b' as 'a &' then '>f b': the words after '&>' are a
        command of their own there, led by its assignments."""
        while words and _ASSIGNMENT.match(words[0].value if words[0].value is not None else words[0].prefix):
            self.soft(check_assignment, words.pop(0), "sh")
        if words:
            self.analyser.resolve(words, self.depth)

    def word(self, node: Any) -> Word:
        """The word's static value; the substitutions inside it are walked first, as
        the shell runs them before the command."""
        try:
            word = static_word(self.src, node)
        except Refusal as refusal:
            self.analyser.tolerate(refusal)
            word = Word.dynamic(str(node.word))
        if self.analyser.lenient and word.value is None and word.ansi_c is not None:
            word = Word(word.ansi_c, word.ansi_c, word.text)
        substitutions = [part for part in getattr(node, "parts", None) or [] if part.kind in SUBSTITUTIONS]
        documents = [span for part in substitutions for span in heredoc_spans(part)]
        for part in substitutions:
            # bashlex also finds '$(...)' in the text of a here-document inside a
            # substitution; that text is data (or refused by the body check), not code.
            if not any(start <= int(part.pos[0]) < end for start, end in documents):
                self.soft(self.node, part.command)
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
