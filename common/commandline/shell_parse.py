"""bashlex, made to fail closed and to accept the syntax agents write most.

Five gaps of bashlex 0.18 are closed here:

- a quoted here-document delimiter (``cat <<'EOF'``, the usual way to write a file) is
  looked for with its quotes, so the document never ends (idank/bashlex#99): the
  delimiter now goes through quote removal, as POSIX says;
- a delimiter with ``$`` or a backtick (``<<$'EOF'``) ends the document at a different
  line in dash than in bash and busybox ash: it is refused;
- the ``time`` keyword raises NotImplementedError: it is retried as the ``time``
  program, which runs the same pipeline's first command;
- arithmetic expansion raises NotImplementedError: a constant one (``$((1+2))``) is
  retried as a run-time value (``arithmetic``), any other stays refused;
- parse errors surface as many exception types: all become a Refusal, and text the
  parser did not consume between top-level commands is refused rather than ignored.
"""

from __future__ import annotations

import re
from typing import Any

import bashlex
import bashlex.ast
import bashlex.errors
import bashlex.heredoc

from common.commandline.arithmetic import literal_arithmetic
from common.commandline.shell_words import Refusal, heredoc_spans

# The keyword 'time' where a command can start; retried as the word '\time' (the program).
_TIME_KEYWORD = re.compile(r"(?:^|(?<=[\s;&|(){}!]))time(?=[\s;&|]|$)")
_COMMENT = re.compile(r"(?m)(?:^|(?<=[ \t]))#[^\n]*")


def _time_program(text: str) -> str:
    return _TIME_KEYWORD.sub(r"\\time", text)


# What bashlex does not implement -> the rewrite that reads it as what it can parse.
_REWRITES = {"time command": _time_program, "arithmetic expansion": literal_arithmetic}


def parse(text: str) -> tuple[str, list[Any]]:
    """The text the node positions refer to (``time`` and constant arithmetic rewritten)
    and its top-level nodes; Refusal(None, reason) when it does not parse."""
    done: set[str] = set()
    while True:
        try:
            nodes = _parse(text)
            break
        except NotImplementedError as exc:
            found = next((key for key in _REWRITES if key in str(exc)), None)
            if found is None or found in done:
                raise _unsupported(exc) from exc
            done.add(found)
            text = _REWRITES[found](text)
    _check_coverage(text, nodes)
    return text, nodes


def _parse(text: str) -> list[Any]:
    try:
        return list(bashlex.parse(text))
    except NotImplementedError:
        raise
    except RecursionError as exc:
        raise Refusal(None, "the command nests too deeply to be parsed") from exc
    except bashlex.errors.ParsingError as exc:
        raise Refusal(None, f"the command does not parse as a shell command line: {exc.message}") from exc
    except Exception as exc:  # bashlex signals some malformed input with assertions or index errors
        raise Refusal(None, f"the command could not be parsed ({type(exc).__name__}: {exc})") from exc


def _unsupported(exc: NotImplementedError) -> Refusal:
    return Refusal(None, f"the command uses shell syntax that is not analysed ({exc}); it is denied")


def _check_coverage(text: str, nodes: list[Any]) -> None:
    """bashlex parses top-level commands one by one and skips what lies between them;
    only blanks and comments may lie there."""
    position = 0
    for node in nodes:
        _check_gap(text, position, int(node.pos[0]))
        position = max(int(node.pos[1]), _heredoc_end(node))
    _check_gap(text, position, len(text))


def _check_gap(text: str, start: int, end: int) -> None:
    gap = _COMMENT.sub("", text[start:end]) if start < end else ""
    if gap.strip():
        raise Refusal(None, f"the parser skipped text at offset {start}: {gap.strip()[:40]!r}")


def _heredoc_end(node: Any) -> int:
    spans = heredoc_spans(node)
    return spans[-1][1] + 1 if spans else -1


def unquote_delimiter(word: str) -> str:
    """Quote removal of a here-document delimiter (``'EOF'``, ``"EOF"``, ``\\EOF``)."""
    out: list[str] = []
    i = 0
    while i < len(word):
        c = word[i]
        if c == "\\" and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
        elif c in "'\"":
            close = word.find(c, i + 1)
            close = len(word) if close < 0 else close
            out.append(word[i + 1 : close])
            i = close + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def delimiter_is_quoted(word: str) -> bool:
    """A quoted delimiter makes the document literal: no expansion, no substitution."""
    return any(c in word for c in "'\"\\")


def _makeheredoc(tokenizer: Any, redirnode: Any, lineno: int, killleading: bool) -> str:
    """bashlex.heredoc.makeheredoc with quote removal on the delimiter."""
    raw = str(redirnode.output.word)
    if "$" in raw or "`" in raw:
        # dash ends <<$'EOF' at the line '$EOF', bash and busybox ash at 'EOF': the
        # shells disagree on where the document ends, so where the commands start.
        raise bashlex.errors.ParsingError(
            f"the here-document delimiter {raw!r} holds '$' or '`', which shells read differently",
            tokenizer._shell_input_line,
            tokenizer._shell_input_line_index,
        )
    delimiter = unquote_delimiter(raw)
    document: list[str] = []
    startpos = tokenizer._shell_input_line_index
    line = tokenizer.readline(False)
    while line:
        if killleading:
            line = line.lstrip("\t")
        if line.rstrip("\n") == delimiter:
            document.append(line.rstrip("\n"))
            break
        document.append(line)
        line = tokenizer.readline(False)
    else:
        raise bashlex.errors.ParsingError(
            f"here-document at line {lineno} delimited by end-of-file (wanted {delimiter!r})",
            tokenizer._shell_input_line,
            tokenizer._shell_input_line_index,
        )
    endpos = tokenizer._shell_input_line_index - 1
    redirnode.heredoc = bashlex.ast.node(kind="heredoc", value="".join(document), pos=(startpos, endpos))
    if redirnode.pos[1] + 1 == startpos:
        redirnode.pos = (redirnode.pos[0], endpos)
    return "".join(document)


bashlex.heredoc.makeheredoc = _makeheredoc
