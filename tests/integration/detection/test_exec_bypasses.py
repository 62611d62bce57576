"""The second exec-bypass corpus (bypasses.py) for real, in enforce mode: every vector of
a corpus runs in ONE sandbox. A vector must never run its blocked program (the victim
file survives, the mark is never written); every exec in its stretch that names a blocked
program must have been killed in the kernel, with a kill action naming it. A vector whose
blocked program never reached an exec (a copy on a noexec mount, a wrapper the sandbox
refuses) ran nothing and has nothing to report.

Events are split per vector by the runner's ``true SEP-<n>`` execs (the collector
publishes a sandbox's events in order). Findings are deduplicated per rule and program, so
per-vector proof is the kill action (one per kill); the findings are checked per name.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from processors.engine.programs import identify
from schemas import SecurityPolicy
from schemas.events import stable_id
from tests.conftest import BUSYBOX_IMAGE
from tests.integration.detection import bypasses, corpus
from tests.integration.detection.conftest import MakeStack, Stack, detection_policy
from tests.integration.detection.test_benign import _docker_exec

RUN_TIMEOUT_S = 180
SEPARATOR_TIMEOUT_S = 30
SHELLS = frozenset({"sh", "bash", "dash"})
RM = frozenset({"rm"})
# The dynamic loader maps and runs a program without an exec of it: the kernel judges
# ld.so's exec by its operand (and kills an executable mapping of a blocked file).
LOADER_RUNS = {n: a for n, a in (*bypasses.RM_BYPASSES.items(), *bypasses.SHELL_BYPASSES.items())
               if n.split(" ")[0] == "ld.so"}  # fmt: skip
# ``busybox busybox rm`` (busybox recurses on each literal ``busybox``), an argv[0] longer
# than the bpftrace probe's scan, and the loader running busybox: once kernel gaps
# (kernel-gaps.md), judged in the kernel since the libbpf program.
BUSYBOX_ONCE_HIDDEN = frozenset(
    {
        "busybox busybox rm",
        "exec -a long argv0",
        *(n for n in bypasses.BUSYBOX_BYPASSES if n.startswith("ld.so")),
    }
)


@dataclass
class Vector:
    name: str
    ran: bool = False
    rc: Any = None
    reached: list[str] = field(default_factory=list)  # blocked names its execs carried
    unkilled: list[str] = field(default_factory=list)  # ... of execs that ran
    actions: list[str] = field(default_factory=list)  # kill actions naming a blocked program


def _segments(stack: Stack, sid: str) -> dict[str, int]:
    """Exec event id -> the vector it belongs to (the last SEP exec before it)."""
    out: dict[str, int] = {}
    current = -1
    for e in stack.seen.execs(sid):
        if len(e.argv) >= 2 and e.argv[-1].startswith("SEP-"):
            tag = e.argv[-1].removeprefix("SEP-")
            current = int(tag) if tag.isdigit() else -1
        out[e.event_id] = current
    return out


def _outcome(stack: Stack, sid: str, names: list[str], stdout: str, blocked: frozenset[str]) -> list[Vector]:
    vectors = [Vector(n) for n in names]
    for line in stdout.splitlines():
        if line.startswith("["):
            i, rc, ran = json.loads(line)
            vectors[i].rc, vectors[i].ran = rc, bool(ran)
    seg = _segments(stack, sid)
    kills: dict[str, Vector] = {}
    for e in stack.seen.execs(sid):
        i = seg[e.event_id]
        hit = sorted(set(identify(e).names) & blocked) or (["memfd"] if e.exe_fs == "memfd" else [])
        if 0 <= i < len(vectors) and hit:
            vectors[i].reached += hit
            if e.blocked:
                kills[stable_id("block_exec", e.event_id)] = vectors[i]
            else:
                vectors[i].unkilled += hit
    for a in stack.seen.actions(sid):
        v = kills.get(a.event_id)
        if v is not None and (set(a.details.get("blocked_names", ())) & blocked or "from memory" in a.reason):
            v.actions.append(a.reason)
    return vectors


def _bad(vectors: list[Vector]) -> dict[str, Any]:
    """Vectors that ran their blocked program, or reached it and it was not killed and named."""
    return {
        v.name: (v.ran, v.rc, v.reached, v.unkilled, v.actions)
        for v in vectors
        if v.ran or v.unkilled or (v.reached and not v.actions)
    }


async def _run_corpus(
    stack: Stack, vectors: dict[str, list[str]], blocked: frozenset[str]
) -> tuple[str, list[Vector]]:
    m = stack.manager
    sid = await m.create_sandbox()
    await m.write_file(sid, "/work/notes.txt", corpus.NOTES)
    await m.write_file(sid, "/work/vectors.json", json.dumps(list(vectors.values())))
    await m.write_file(sid, "/work/runner.py", bypasses.PY_RUNNER)
    run = await m.execute(sid, ["python3", "/work/runner.py", "/work/vectors.json"], timeout=RUN_TIMEOUT_S)
    await _caught_up(stack, sid)
    return sid, _outcome(stack, sid, list(vectors), run.stdout, blocked)


async def _caught_up(stack: Stack, sid: str) -> None:
    await stack.wait_for("the last separator", lambda: "SEP-end" in str(stack.seen.execs(sid)[-1:]),
                         SEPARATOR_TIMEOUT_S)  # fmt: skip
    await stack.settle()


def _policy(blocked: frozenset[str]) -> SecurityPolicy:
    # Escalation out of reach: the sandbox must live through the whole corpus.
    return detection_policy(violation_threshold=1000, blocked_commands=set(blocked))


def _reported(stack: Stack, sid: str) -> dict[str, str]:
    return {
        v.message.split(":")[0]: v.message
        for v in stack.seen.violations(sid)
        if v.rule_id == "process.blocked"
    }


async def test_rm_bypasses_never_run_and_are_killed_by_name(make_stack: MakeStack) -> None:
    stack = await make_stack(_policy(RM))
    sid, vectors = await _run_corpus(stack, bypasses.RM_BYPASSES, RM)
    assert _bad(vectors) == {}
    assert sum(bool(v.actions) for v in vectors) >= len(vectors) - 5  # most reached an exec of rm
    assert "blocked program rm" in _reported(stack, sid)


async def test_shell_bypasses_never_run_and_are_killed_by_name(make_stack: MakeStack) -> None:
    stack = await make_stack(_policy(SHELLS))
    sid, vectors = await _run_corpus(stack, bypasses.SHELL_BYPASSES, SHELLS)
    assert _bad(vectors) == {}
    assert sum(bool(v.actions) for v in vectors) >= len(vectors) - 5
    assert {"blocked program sh", "blocked program bash", "blocked program dash"} <= set(
        _reported(stack, sid)
    )


async def test_the_loader_does_not_run_a_blocked_program(make_stack: MakeStack) -> None:
    stack = await make_stack(_policy(RM | SHELLS))
    sid, vectors = await _run_corpus(stack, LOADER_RUNS, RM | SHELLS)
    assert [v.name for v in vectors if v.ran] == [] and _bad(vectors) == {}
    want = {"blocked program rm", "blocked program bash", "blocked program dash"}
    assert await stack.wait_for(
        "findings naming rm, bash and dash", lambda: want <= set(_reported(stack, sid))
    )


async def _run_busybox(stack: Stack, lines: dict[str, str]) -> tuple[str, list[Vector]]:
    m = stack.manager
    sid = await m.create_sandbox(image=BUSYBOX_IMAGE)
    await m.write_file(sid, "/work/vectors.txt", "\n".join(lines.values()) + "\n")
    await m.write_file(sid, "/work/runner.txt", bypasses.SH_RUNNER)
    stdout, stderr = await asyncio.to_thread(
        _docker_exec, sid, ["sh", "/work/runner.txt", "/work/vectors.txt"]
    )
    assert stdout.count("\n[") + stdout.startswith("[") == len(lines), stderr[-2000:]
    await _caught_up(stack, sid)
    return sid, _outcome(stack, sid, list(lines), stdout, RM)


async def test_busybox_applet_bypasses_never_run_and_are_killed_by_name(make_stack: MakeStack) -> None:
    stack = await make_stack(_policy(RM), image=BUSYBOX_IMAGE)
    _, vectors = await _run_busybox(stack, bypasses.BUSYBOX_BYPASSES)
    assert _bad(vectors) == {}


async def test_busybox_applets_once_hidden_from_the_probe_are_stopped(make_stack: MakeStack) -> None:
    """Each was a kernel gap under bpftrace (it ran; user space named it afterwards)."""
    stack = await make_stack(_policy(RM), image=BUSYBOX_IMAGE)
    lines = {n: c for n, c in bypasses.BUSYBOX_BYPASSES.items() if n in BUSYBOX_ONCE_HIDDEN}
    sid, vectors = await _run_busybox(stack, lines)
    assert [v.name for v in vectors if v.ran] == [] and _bad(vectors) == {}
    assert "blocked program rm" in _reported(stack, sid)
