"""Script files run by a shell, judged by their content (``scripts``).

``sh /work/run.sh`` runs what the command line does not show, so it is refused; the
manager then reads the file and passes its content here. The attacks on that second
judgement come first, then the benign scripts agents write.
"""

from __future__ import annotations

import pytest

from sandbox.validation import CommandDeniedError, check_command, validate_command
from tests.unit.sandbox.validation.conftest import PolicyFactory

RUN = "/work/run.sh"
CANNOT = "runs the script file"


def _check(
    make_policy: PolicyFactory, command: str, content: str, **policy: object
) -> tuple[bool, str | None, str]:
    decision = check_command(command, make_policy(**policy), scripts={RUN: content})
    return decision.allowed, decision.denied_word, decision.reason or ""


@pytest.mark.parametrize(
    "command",
    [
        f"sh {RUN}",
        f"bash {RUN} --fast",
        f"ash {RUN}",
        f"dash -e {RUN} a b",
        f"cd /tmp && sh {RUN}",
        "sh run.sh",
    ],
)
def test_a_script_file_is_refused_and_named_for_reading(make_policy: PolicyFactory, command: str) -> None:
    decision = check_command(command, make_policy())
    path = command.rsplit(maxsplit=1)[-1] if "run.sh" in command.rsplit(maxsplit=1)[-1] else RUN
    assert not decision.allowed and CANNOT in (decision.reason or "")
    assert decision.script_paths == (path,)


@pytest.mark.parametrize(
    "command",
    [
        f"echo hi > {RUN}; sh {RUN}",  # something before could write the file
        f"timeout 5 sh {RUN}",
        "cd /tmp && sh run.sh",  # relative after cd: which file is known only at run time
        f"sh -c 'sh {RUN}'",
        f"sh < {RUN}",  # standard input, not a file
        f". {RUN}",
        f"source {RUN}",
        "sh $F",
        "sh ~/run.sh",  # the shell expands '~': the word's value is not the file it opens
        "sh ~+/run.sh",
        "sh *.sh",
    ],
)
def test_scripts_that_cannot_be_read_safely_stay_refused_without_a_path(
    make_policy: PolicyFactory, command: str
) -> None:
    decision = check_command(command, make_policy())
    assert not decision.allowed and decision.script_paths == ()


def test_a_blocked_word_before_the_script_is_no_reason_to_read_it(make_policy: PolicyFactory) -> None:
    decision = check_command(f"rm x; sh {RUN}", make_policy())
    assert decision.denied_word == "rm" and decision.script_paths == ()


def test_a_blocked_program_in_the_script_is_refused_naming_it_and_the_script(
    make_policy: PolicyFactory,
) -> None:
    with pytest.raises(CommandDeniedError) as caught:
        validate_command(f"sh {RUN}", make_policy(blocked_commands={"rm"}), scripts={RUN: "rm -f x\n"})
    assert caught.value.word == "rm" and RUN in caught.value.reason


@pytest.mark.parametrize(
    "content",
    [
        "echo $(rm -f x)\n",
        "cat <<EOF\n$(rm -f x)\nEOF\n",
        "bash -c 'rm -f x'\n",
        'for f in *; do\n  rm -f "$f"\ndone\n',
        "f() { rm -f x; }\nf\n",
        "echo a | xargs rm\n",
        "/bin/../bin/rm x\n",
        "r\\m x\n",
    ],
)
def test_what_the_script_hides_is_found(make_policy: PolicyFactory, content: str) -> None:
    allowed, word, _ = _check(make_policy, f"sh {RUN}", content, blocked_commands={"rm"})
    assert not allowed, word


@pytest.mark.parametrize(
    "content",
    [
        ". /work/other.sh\n",
        "source /work/other.sh\n",
        "sh /work/other.sh\n",
        f"sh {RUN}\n",  # runs itself: read once, the second run is another file read
        'eval "$1"\n',
        "$1 x\n",  # positional arguments are run-time values
        '"$@"\n',
        "exec $CMD\n",
        "cat | sh\n",
    ],
)
def test_what_the_script_runs_unseen_is_refused(make_policy: PolicyFactory, content: str) -> None:
    allowed, _, _ = _check(make_policy, f"sh {RUN} rm", content)
    assert not allowed


def test_a_script_run_from_the_script_is_refused_even_when_read(make_policy: PolicyFactory) -> None:
    """One level: what a script does before running another file could change that file."""
    scripts = {RUN: "sh /work/b.sh\n", "/work/b.sh": "echo ok\n"}
    decision = check_command(f"sh {RUN}", make_policy(), scripts=scripts)
    assert not decision.allowed and CANNOT in (decision.reason or "") and decision.script_paths == ()


def test_a_script_that_does_not_parse_is_refused(make_policy: PolicyFactory) -> None:
    allowed, _, _ = _check(make_policy, f"sh {RUN}", "if then fi (\n")
    assert not allowed


def test_a_script_with_control_characters_is_refused(make_policy: PolicyFactory) -> None:
    allowed, _, _ = _check(make_policy, f"sh {RUN}", "echo a\r\n")
    assert not allowed


def test_the_allowlist_applies_to_the_script(make_policy: PolicyFactory) -> None:
    allowed, word, _ = _check(make_policy, f"sh {RUN}", "echo a\ncurl x\n", allowed_commands={"sh", "echo"})
    assert not allowed and word == "curl"


@pytest.mark.parametrize(
    "command",
    [
        f"sh {RUN}; sh {RUN}",  # the first run can rewrite the file the second one reads
        f"sh {RUN} | sh {RUN}",
        f"exec sh {RUN}",
        f"nohup sh {RUN}",
        f"echo > {RUN}; sh {RUN}",
    ],
)
def test_the_content_read_is_used_only_where_it_is_still_the_file(
    make_policy: PolicyFactory, command: str
) -> None:
    allowed, _, reason = _check(make_policy, command, f"echo 'rm -f x' > {RUN}\n")
    assert not allowed and CANNOT in reason


def test_a_script_passed_for_another_path_is_not_used(make_policy: PolicyFactory) -> None:
    decision = check_command("sh /work/other.sh", make_policy(), scripts={RUN: "echo ok\n"})
    assert not decision.allowed and CANNOT in (decision.reason or "")


BENIGN = [
    '#!/bin/sh\nset -eu\nfor i in 1 2 3; do\n  echo "$i" | tr 1 x\ndone\n',
    "mkdir -p out && cp -r src out/ \"$@\"\nls out | wc -l\nfind . -name '*.py' | xargs grep -l x\n",
    "if [ -f /work/a ]; then cat /work/a; else echo none; fi\n"
    'while read -r line; do echo "$line"; done < /work/a\n',
    "python3 /work/main.py --fast \"$1\"\ncat > /work/out.txt <<'EOF'\n$(not run)\nEOF\n",
    "cd /work && grep -rn TODO . | sort | head -5 || true\n",
]


@pytest.mark.parametrize("content", BENIGN)
@pytest.mark.parametrize("command", [f"sh {RUN}", f"bash {RUN} --fast", f"cd /work && ash {RUN} x y"])
def test_benign_scripts_run(make_policy: PolicyFactory, command: str, content: str) -> None:
    allowed, word, reason = _check(make_policy, command, content)
    assert allowed, (word, reason)


def test_a_function_in_a_script_stays_refused(make_policy: PolicyFactory) -> None:
    """As on a command line: a function can give any name any behaviour (not in scope here)."""
    allowed, _, reason = _check(make_policy, f"sh {RUN}", "build() { echo ok; }\nbuild\n")
    assert not allowed and "function" in reason


def test_a_relative_script_is_judged_by_the_path_as_written(make_policy: PolicyFactory) -> None:
    decision = check_command("sh run.sh", make_policy(), scripts={"run.sh": "echo ok\n"})
    assert decision.allowed
