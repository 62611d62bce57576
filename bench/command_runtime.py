"""The processors' runtime rules over process listings and execs: engine events per second.

Part of ``bench.command_validation`` (its ``runtime`` key). Each container sends, per
second, a full process listing (three long-lived processes, judged once, plus one new
short-lived process whose argv is a corpus command under ``sh -c``) and one ``docker
exec`` (Docker's exec_start event: the argv joined by blanks). The corpus is the benign
corpora of the detection tests and the unit tests' hidden-program attacks, so command
lines repeat the way an agent's do. ``benign`` streams the benign corpora alone,
``with_attacks`` adds the attacks (flagged now, so findings are recorded).
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.stats import percentile
from common.commandline import clear_caches
from processors.engine import ContainerState, PolicyContext, compile_policy, step
from processors.engine import audit as audit_rules
from processors.engine import processes as process_rules
from schemas import AuditCategory, AuditEvent, ProcessInfo, ProcessSnapshot, SecurityPolicy
from tests.unit.common.test_commandline import BENIGN, HIDDEN

# The commit before the analyser replaced the heuristic (processors.engine.matching then
# held command_programs); --before-rev overrides it.
BEFORE_REV = "931bff2"
# 50 containers × 40 s = 2,000 listings and 2,000 execs per mode: about a second each.
CONTAINERS = 50
SECONDS = 40
LONG_LIVED = (("python3", "app.py"), ("sh", "-c", "python3 app.py"), ("sleep", "600"))
# The name the runtime rules call the analyser by, swapped for the heuristic in ``before``.
_PATCHED = "command_programs"
# Modes interleaved, median kept: the machine is shared and its load drifts.
ROUNDS = 3


def _process(pid: int, argv: Sequence[str]) -> ProcessInfo:
    return ProcessInfo(
        pid=pid, ns_pid=pid, ppid=1, uid=1000, comm=argv[0][:15], exe=f"/usr/bin/{argv[0]}",
        argv=tuple(argv), start_time=pid,
    )  # fmt: skip


def events(
    corpus: Sequence[str], containers: int = CONTAINERS, seconds: int = SECONDS
) -> list[ProcessSnapshot | AuditEvent]:
    out: list[ProcessSnapshot | AuditEvent] = []
    for tick in range(seconds):
        for c in range(containers):
            cid, ms = f"bench-{c:05d}", 1_800_000_000_000 + tick * 1000
            line = corpus[(tick * containers + c) % len(corpus)]
            procs = [_process(10 + i, argv) for i, argv in enumerate(LONG_LIVED)]
            procs.append(_process(1000 + tick, ("sh", "-c", line)))
            out.append(ProcessSnapshot(container_id=cid, host="bench", time=ms, full=True, processes=procs))
            out.append(AuditEvent(
                container_id=cid, host="bench", time=ms + 500, category=AuditCategory.LIFECYCLE,
                action="exec_start", subject=f"sh -c {line}", actor="collector",
            ))  # fmt: skip
    return out


def throughput(stream: list[ProcessSnapshot | AuditEvent], before_each: Callable[[], None]) -> float:
    ctx = PolicyContext(compile_policy(SecurityPolicy(violation_threshold=10**9)))
    states: dict[str, ContainerState | None] = {}
    start = time.process_time()  # CPU time: other work on the shared machine does not count
    for ev in stream:
        before_each()
        states[ev.container_id] = step(states.get(ev.container_id), ctx, ev).state
    return len(stream) / max(time.process_time() - start, 1e-9)


def _nothing() -> None:
    return None


def load_before(rev: str) -> ModuleType | None:
    """processors/engine/matching.py as it was at ``rev``, or None where git or the rev is missing."""
    git = shutil.which("git")
    if git is None:
        return None
    shown = subprocess.run(
        [git, "show", f"{rev}:processors/engine/matching.py"], capture_output=True, text=True, check=False
    )
    if shown.returncode != 0 or "def command_programs" not in shown.stdout:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matching_before.py"
        path.write_text(shown.stdout)
        spec = importlib.util.spec_from_file_location("matching_before", path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def heuristic(module: ModuleType) -> Iterator[None]:
    """The runtime rules with the old heuristic: a command line by its first words, a
    process's argv not at all (what the processors did before)."""

    def before(command: Any) -> tuple[str, ...]:
        return tuple(module.command_programs(command)) if isinstance(command, str) else ()

    modules = (process_rules, audit_rules)
    saved = [getattr(m, _PATCHED) for m in modules]
    for m in modules:
        setattr(m, _PATCHED, before)
    try:
        yield
    finally:
        for m, old in zip(modules, saved, strict=True):
            setattr(m, _PATCHED, old)


def _modes(stream: list[ProcessSnapshot | AuditEvent], module: ModuleType | None) -> dict[str, float]:
    """Each mode's median over ROUNDS, the modes interleaved so load drifts hit them alike."""
    samples: dict[str, list[float]] = {"after": [], "after_uncached": [], "before": []}
    for _ in range(ROUNDS):
        samples["after_uncached"].append(throughput(stream, clear_caches))
        throughput(stream, _nothing)  # fills the cache again, as a long run keeps it
        samples["after"].append(throughput(stream, _nothing))
        if module is not None:
            with heuristic(module):
                samples["before"].append(throughput(stream, _nothing))
    out: dict[str, float] = {
        f"{mode}_events_per_s": round(percentile(v, 50)) for mode, v in samples.items() if v
    }
    if module is not None:
        before = percentile(samples["before"], 50)
        out["after_over_before"] = round(percentile(samples["after"], 50) / before, 3)
        out["after_uncached_over_before"] = round(percentile(samples["after_uncached"], 50) / before, 3)
    return out


def run(before_rev: str = BEFORE_REV) -> dict[str, object]:
    module = load_before(before_rev)
    result: dict[str, object] = {"containers": CONTAINERS, "seconds": SECONDS, "rounds": ROUNDS}
    result["before_rev"] = before_rev if module is not None else f"not measured: no heuristic at {before_rev}"
    result["benign"] = _modes(events(BENIGN), module)
    # The attacks are flagged now (sh -c 'rm x' is rm), and each finding costs its record.
    result["with_attacks"] = _modes(events([*BENIGN, *(line for line, _ in HIDDEN)]), module)
    return result
