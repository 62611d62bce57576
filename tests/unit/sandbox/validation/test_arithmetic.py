"""Arithmetic expansion: accepted only when it cannot run code.

bash evaluates variable contents as arithmetic, recursively: ``x='a[$(rm f)]'; echo
$((x))`` runs rm. So ``$((...))`` is accepted only with digits, operators, parentheses
and blanks, and its value counts as known only at run time. Attacks first.
"""

from __future__ import annotations

import pytest

from common.commandline.arithmetic import literal_arithmetic
from sandbox.validation import check_command
from tests.unit.sandbox.validation.conftest import PolicyFactory


@pytest.mark.parametrize(
    "command",
    [
        "x='a[$(rm f)]'; echo $((x))",
        "echo $((x))",
        "i=$((i+1))",
        "echo $((a[$(rm f)]))",
        "echo $(( $(rm f) ))",
        "echo $((`rm f`))",
        "echo $((16#ff))",
        "echo $((0x10))",
        "echo $(('1'))",
        "echo $((1)|(2))",  # bash: a command substitution of two subshells
        "echo $((1 + $x))",
        "python$((3)) -c 1",  # runs python3: a run-time command word
        "$((1))",
        "timeout $((5*60)) ls",  # a run-time value in a wrapper's arguments
        "echo ${x:$((1))}",
        "echo $[1+2]",
        "((i++))",
        "for ((i=0; i<3; i++)); do echo; done",
        "cat <<EOF\n$((2*21))\nEOF",  # unquoted here-documents refuse any '$(' (not in scope)
    ],
)
def test_arithmetic_that_could_run_code_or_hide_a_name_is_refused(
    make_policy: PolicyFactory, command: str
) -> None:
    decision = check_command(command, make_policy(blocked_commands={"rm", "python3"}))
    assert not decision.allowed


@pytest.mark.parametrize(
    "command",
    [
        "echo $((1+2))",
        "n=$((60*60*24)); echo $n",
        'echo "total: $(( (1+2) * 3 % 4 ))"',
        "echo $(((1 << 4) | 3 ^ ~0))",
        "echo $((1 > 2 ? 1 : 0)), $(( 7 / 2 - -1 ))",
        "sleep $((1+1)) && echo done",
        "echo $(())",
    ],
)
def test_constant_arithmetic_is_allowed(make_policy: PolicyFactory, command: str) -> None:
    decision = check_command(command, make_policy())
    assert decision.allowed, decision.reason


def test_constant_arithmetic_still_shows_the_programs_around_it(make_policy: PolicyFactory) -> None:
    decision = check_command("echo $((1+2)) && rm x", make_policy(blocked_commands={"rm"}))
    assert decision.denied_word == "rm"


@pytest.mark.parametrize(
    ("text", "rewritten"),
    [
        ("echo $((1+2))", "echo $AAAAAAA"),
        ("a$(((1)))b", "a$AAAAAAAb"),
        ("$((x)) $((1))", "$((x)) $AAAAA"),
        ("$((1)|(2))", "$((1)|(2))"),
        ("$((1", "$((1"),
    ],
)
def test_the_rewrite_keeps_positions_and_touches_only_constants(text: str, rewritten: str) -> None:
    assert literal_arithmetic(text) == rewritten and len(literal_arithmetic(text)) == len(text)
