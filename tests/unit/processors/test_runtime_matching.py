"""The processors judge what ran with the analyser validation uses (common.commandline).

Attacks first: a blocked program hidden behind a shell, a wrapper, quoting or a
substitution, reaching the engine three ways: an exec audited by the sandbox API (the
shell line), a ``docker exec`` that went around it (Docker's exec_start event: the argv
joined by blanks) and a process listing (the argv). Each must be flagged as blocked, as
validation denies it; benign work must raise nothing; a line that does not parse, or
breaks the analyser, is still judged and never stops the engine.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator

import pytest

from common.commandline import clear_caches
from common.commandline.wrappers import WRAPPERS
from sandbox.validation import check_command
from schemas import SecurityPolicy
from tests.unit.common.test_commandline import ARGV_HIDDEN, BENIGN
from tests.unit.processors.conftest import Feed, audit, make_policy, proc, snapshot

POLICY = SecurityPolicy(blocked_commands={"rm", "kill"})
# The rules that judge a process or a command line by the programs it names.
NAMED_RULES = frozenset({"process.blocked", "process.not_allowed", "process.suspicious"})


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def _blocked(f: Feed) -> list[str]:
    return [v.message.split(" running")[0].removeprefix("blocked command ") for v in f.violations
            if v.rule_id == "process.blocked"]  # fmt: skip


def _forms(argv: list[str], pid: int) -> dict[str, object]:
    """The three ways an exec reaches the engine."""
    exe = f"/bin/{argv[0]}"
    return {
        "api exec": audit(1, "exec", "exec", shlex.join(argv), allowed=True),
        "docker exec": audit(1, "lifecycle", "exec_start", " ".join(argv)),
        "process": snapshot(1, proc(pid, argv[0], *argv, exe=exe)),
    }


@pytest.mark.parametrize(("argv", "hidden"), ARGV_HIDDEN)
def test_a_hidden_blocked_program_is_flagged_as_validation_denies_it(
    feed: Callable[..., Feed], argv: list[str], hidden: str
) -> None:
    assert not check_command(shlex.join(argv), POLICY).allowed
    assert not check_command(argv, POLICY).allowed
    for form, event in _forms(argv, pid=5).items():
        f = feed(make_policy(blocked_commands={"rm", "kill"}))
        f(event)  # type: ignore[arg-type]
        assert _blocked(f) == [hidden], (form, argv, f.rules())


def test_benign_work_raises_nothing(feed: Callable[..., Feed]) -> None:
    """Nothing the names decide (the argv regex's LOW hint is another rule, judged elsewhere)."""
    f = feed(make_policy(blocked_commands={"rm", "kill", "sudo", "su"}))
    for pid, line in enumerate(BENIGN, start=10):
        for event in _forms(["sh", "-c", line], pid).values():
            f(event)  # type: ignore[arg-type]
    assert [v for v in f.violations if v.rule_id in NAMED_RULES] == []


@pytest.mark.parametrize(
    "command",
    [
        "rm -rf /work 'unbalanced",  # does not parse: judged by its words
        "sh -c rm -rf /work (",
    ],
)
def test_a_line_that_does_not_parse_is_still_judged(feed: Callable[..., Feed], command: str) -> None:
    f = feed(make_policy(blocked_commands={"rm"}))
    f(audit(1, "lifecycle", "exec_start", command))
    assert _blocked(f) == ["rm"]


def test_a_defect_in_the_analyser_never_stops_the_engine(
    feed: Callable[..., Feed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fake, because the real handlers cannot be made to fail: a handler that crashes.
    def broken(prog: str, args: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setitem(WRAPPERS, "brokenwrapper", broken)
    for event in _forms(["brokenwrapper", "rm", "x"], pid=6).values():
        f = feed(make_policy(blocked_commands={"brokenwrapper"}))
        f(event)  # type: ignore[arg-type]
        assert _blocked(f) == ["brokenwrapper"], event


def test_the_outside_of_an_allowlist_is_each_program_a_process_runs(feed: Callable[..., Feed]) -> None:
    f = feed(make_policy(allowed_commands={"sh", "python3"}))
    f(snapshot(1, proc(5, "sh", "sh", "-c", "python3 app.py", exe="/bin/sh")))
    assert f.violations == []
    f(snapshot(2, proc(6, "sh", "sh", "-c", "curl http://127.0.0.1", exe="/bin/sh")))
    assert [(v.rule_id, v.message.split(" is outside")[0]) for v in f.violations] == [
        ("process.not_allowed", "curl")
    ]
