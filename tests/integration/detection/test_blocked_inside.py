"""Blocked programs run from inside allowed ones (an interpreter's system(), sed's e, tar's
checkpoint action, a symlink...): judged by the file the kernel executed, reported as
prevented, and (enforce mode, the kernel layer's kill at exec) the file they targeted is
still there. A program written into the workspace is a finding of its own."""

from __future__ import annotations

import contextlib
import functools

from schemas import PolicyMode
from tests.integration.detection import corpus
from tests.integration.detection.attacks import BLOCKED_FROM_INSIDE, SHELL_ESCAPES
from tests.integration.detection.conftest import MakeStack, Stack, detection_policy

RUN_TIMEOUT_S = 60
FINDING_TIMEOUT_S = 15


async def _run_vector(stack: Stack, command: str) -> tuple[str, bool]:
    """Runs ``command`` in a fresh sandbox (past validation, as code inside would); returns
    the sandbox and whether the victim file survived."""
    m = stack.manager
    sid = await m.create_sandbox()
    await m.write_file(sid, "/work/notes.txt", corpus.NOTES)
    await m.write_file(sid, "/work/victim.txt", "precious\n")
    await m.write_file(sid, "/work/vector.txt", command.replace("VICTIM", "/work/victim.txt") + "\n")
    await m.write_file(sid, "/work/runner.py", corpus.PY_RUNNER)
    await m.execute(sid, "python3 /work/runner.py /work/vector.txt", timeout=RUN_TIMEOUT_S)
    listing = await m.execute(sid, "ls /work", timeout=RUN_TIMEOUT_S)
    return sid, "victim.txt" in listing.stdout.split()


def _prevented(stack: Stack, sid: str) -> list[str]:
    return [v.message for v in stack.seen.violations(sid) if v.rule_id == "process.blocked"]


async def test_blocked_program_from_inside_allowed_ones_is_prevented_and_reported(
    make_stack: MakeStack,
) -> None:
    # Escalation off (a high threshold): each vector's sandbox must live to be checked.
    stack = await make_stack(detection_policy(violation_threshold=100, blocked_commands={"rm"}))
    outcome: dict[str, tuple[bool, list[str]]] = {}
    for name, command in BLOCKED_FROM_INSIDE.items():
        sid, survived = await _run_vector(stack, command)
        with contextlib.suppress(AssertionError):  # a missing one is in the table asserted below
            await stack.wait_for(
                f"process.blocked for {name}", functools.partial(_prevented, stack, sid), FINDING_TIMEOUT_S
            )
        outcome[name] = (survived, _prevented(stack, sid))
    bad = {n: o for n, o in outcome.items() if not (o[0] and o[1] and all("prevented" in m for m in o[1]))}
    assert bad == {}, bad


async def test_blocked_program_in_audit_mode_runs_and_is_reported(make_stack: MakeStack) -> None:
    stack = await make_stack(detection_policy(mode=PolicyMode.AUDIT, blocked_commands={"rm"}))
    sid, survived = await _run_vector(stack, BLOCKED_FROM_INSIDE["awk system()"])
    found = await stack.wait_for("process.blocked", lambda: _prevented(stack, sid), FINDING_TIMEOUT_S)
    assert not survived  # audit: recorded, not stopped
    assert "blocked program rm ran" in found[0]


async def test_a_copy_written_to_the_workspace_and_run(make_stack: MakeStack) -> None:
    """With exec from the workspace allowed, a renamed copy of rm runs under a name no list
    has: the written-then-executed finding catches it."""
    stack = await make_stack(detection_policy(allow_workspace_exec=True, violation_threshold=100))
    sid, _ = await _run_vector(stack, "cp /usr/bin/rm /work/tidy && /work/tidy -f VICTIM")
    found = await stack.wait_for(
        "process.written_exec",
        lambda: [v for v in stack.seen.violations(sid) if v.rule_id == "process.written_exec"],
        FINDING_TIMEOUT_S,
    )
    assert "/work/tidy" in found[0].message


async def test_the_workspace_is_noexec_by_default(make_stack: MakeStack) -> None:
    stack = await make_stack(detection_policy(violation_threshold=100))
    sid, survived = await _run_vector(stack, "cp /usr/bin/rm /work/tidy && /work/tidy -f VICTIM")
    assert survived  # the exec failed (noexec): nothing ran, so no exec event either
    await stack.settle()
    assert [e for e in stack.seen.execs(sid) if e.filename == "/work/tidy"] == []


async def test_shell_escapes_with_the_shells_blocked(make_stack: MakeStack) -> None:
    """Every escape reaches an exec of a blocked shell (or id through sh): each is stopped
    in the kernel and reported as prevented; none ran a shell."""
    policy = detection_policy(violation_threshold=100, blocked_commands={"sh", "bash", "dash", "rbash"})
    stack = await make_stack(policy)
    outcome: dict[str, list[str]] = {}
    for name, command in SHELL_ESCAPES.items():
        m = stack.manager
        sid = await m.create_sandbox()
        await m.write_file(sid, "/work/notes.txt", corpus.NOTES)
        await m.write_file(sid, "/work/vector.txt", command + "\n")
        await m.write_file(sid, "/work/runner.py", corpus.ARGV_RUNNER)
        await m.execute(sid, ["python3", "/work/runner.py", "/work/vector.txt"], timeout=RUN_TIMEOUT_S)
        with contextlib.suppress(AssertionError):  # a missing one is in the table asserted below
            await stack.wait_for(
                f"process.blocked for {name}", functools.partial(_prevented, stack, sid), FINDING_TIMEOUT_S
            )
        ran = [
            e.program
            for e in stack.seen.execs(sid)
            if e.program in {"sh", "bash", "dash", "rbash"} and not e.blocked
        ]
        outcome[name] = _prevented(stack, sid) + [f"RAN {p}" for p in ran]
    bad = {
        n: o
        for n, o in outcome.items()
        if not o or any(not m.startswith("blocked program") or "prevented" not in m for m in o)
    }
    assert bad == {}, bad
