"""Arithmetic expansions that cannot run code, read as run-time values. Pure.

bash evaluates a variable's content as arithmetic, recursively, and an array subscript
in it runs command substitutions: ``x='a[$(rm f)]'; echo $((x))`` runs rm in bash (dash
and busybox ash do not). So only ``$((...))`` made of digits, operators, parentheses and
blanks is accepted, in every shell: no name, no ``$``, no ``#`` base, no quote. Such an
expansion is rewritten into a parameter expansion of the same length (``$((1+2))`` ->
``$AAAAAAA``): its value is known only at run time, so as a command word or in a
wrapper's arguments it stays refused (``python$((3))`` is python3), as an argument or
an assignment it is accepted. Anything else in ``$((...))`` stays unparsed: refused.
"""

from __future__ import annotations

# What a constant expression may hold: digits, the operators of shell arithmetic, blanks.
_SAFE = frozenset("0123456789 \t+-*/%<>=!&|^~?:,")
_OPEN = "$(("
# The placeholder's name letter: '$' then this, as long as the expansion ($AAAAA...).
_NAME = "A"


def literal_arithmetic(text: str) -> str:
    """``text`` with each constant ``$((...))`` rewritten as a same-length ``$AAA...``."""
    out: list[str] = []
    i = 0
    while (start := text.find(_OPEN, i)) >= 0:
        end = _constant_end(text, start + len(_OPEN))
        out.append(text[i:start])
        if end is None:
            out.append(_OPEN)
            i = start + len(_OPEN)
        else:
            out.append("$" + _NAME * (end - start - 1))
            i = end
    out.append(text[i:])
    return "".join(out)


def _constant_end(text: str, i: int) -> int | None:
    """The index after the closing ``))`` when everything between is constant, else None.
    Parentheses must balance inside: bash reads ``$((1)|(2))`` as a command substitution."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return i + 2 if text.startswith("))", i) else None
            depth -= 1
        elif c not in _SAFE:
            return None
        i += 1
    return None
