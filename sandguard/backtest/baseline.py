"""What an image's runs did, per run: programs executed, resource use (p50, p99, max),
and the runs that had findings. The evidence ``suggest`` turns into a policy."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from common.commandline import command_programs
from processors.engine.audit import EXEC_ACTIONS
from processors.engine.matching import process_names
from schemas import Store

# Resources learned per run, each as (p50, p99, max) over the run's samples.
RESOURCES = ("memory_bytes", "cpu_percent", "processes", "open_files", "connections")
_RANGE = "container_id IN {ids:Array(String)}"
_USAGE = f"""
SELECT container_id,
       quantiles(0.5, 0.99)(mem), max(mem), quantiles(0.5, 0.99)(cpu), max(cpu),
       quantiles(0.5, 0.99)(pids_current), max(pids_current), quantiles(0.5, 0.99)(open_fds), max(open_fds),
       quantiles(0.5, 0.99)(connections), max(connections), count()
FROM (SELECT container_id, ifNull(cpu_percent, 0) AS cpu,
             if(memory_working_set_bytes > 0, memory_working_set_bytes, memory_usage_bytes) AS mem,
             pids_current, open_fds, connections
      FROM metrics FINAL WHERE {_RANGE})
GROUP BY container_id"""  # noqa: S608 - constant text, values bound by the engine
_PROCESSES = f"SELECT DISTINCT container_id, exe, comm, argv[1] FROM processes FINAL WHERE {_RANGE}"  # noqa: S608
_EXECS = f"""
SELECT container_id, allowed, subject, details FROM audit FINAL
WHERE {_RANGE} AND (category = 'exec' OR (category = 'lifecycle' AND action IN {{acts:Array(String)}}))"""  # noqa: S608
_FINDINGS = f"SELECT container_id, count() FROM violations FINAL WHERE {_RANGE} GROUP BY container_id"  # noqa: S608


@dataclass(slots=True)
class RunUsage:
    samples: int = 0
    # resource -> (p50, p99, max)
    stats: dict[str, tuple[float, float, float]] = field(default_factory=dict)


@dataclass(slots=True)
class BaselineEvidence:
    """What the runs did: per program, the runs that ran it; per run, its resource use."""

    runs: list[str]
    programs: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)  # executables, by the runs that ran them
    usage: dict[str, RunUsage] = field(default_factory=dict)

    def across(self, resource: str) -> dict[str, float]:
        """Over the runs: the median of p50s, the p99 of the run maxima, and the largest."""
        runs = [u.stats[resource] for u in self.usage.values() if resource in u.stats]
        if not runs:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0, "runs": 0}
        return {
            "p50": percentile([r[0] for r in runs], 0.5),
            "p99": percentile([r[2] for r in runs], 0.99),
            "max": max(r[2] for r in runs),
            "runs": len(runs),
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: the value is one a run had)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def findings_per_run(store: Store, ids: list[str]) -> dict[str, int]:
    return {str(c): int(n) for c, n in store.query(_FINDINGS, {"ids": ids})}


def learn(store: Store, ids: list[str]) -> BaselineEvidence:
    ev = BaselineEvidence(runs=ids)
    if not ids:
        return ev
    _usage(store, ids, ev)
    _programs(store, ids, ev)
    return ev


def _usage(store: Store, ids: list[str], ev: BaselineEvidence) -> None:
    for cid, *values, n in store.query(_USAGE, {"ids": ids}):
        u = ev.usage[str(cid)] = RunUsage(samples=int(n))
        for i, name in enumerate(RESOURCES):
            (p50, p99), top = values[2 * i], values[2 * i + 1]
            u.stats[name] = (float(p50), float(p99), float(top))


def _programs(store: Store, ids: list[str], ev: BaselineEvidence) -> None:
    seen: dict[str, set[str]] = {}
    files: dict[str, set[str]] = {}
    for cid, exe, comm, argv0 in store.query(_PROCESSES, {"ids": ids}):
        seen.setdefault(str(cid), set()).update(process_names(exe or None, comm, argv0 or None))
        if exe:
            files.setdefault(str(cid), set()).add(str(exe))
    for paths in files.values():
        ev.paths.update(paths)
    for cid, allowed, subject, details in store.query(_EXECS, {"ids": ids, "acts": list(EXEC_ACTIONS)}):
        if allowed is False:
            continue
        command = subject or str(orjson.loads(details or "{}").get("command", "") or "")
        seen.setdefault(str(cid), set()).update(command_programs(command))
    for names in seen.values():
        ev.programs.update(n for n in names if listable(n))


def listable(name: str) -> bool:
    """A name a policy can list (bare word): an empty argv[0] or a kernel thread's
    "[kworker/0:1]" cannot be, and the engine's allowlist never needs them (a process
    passes when any of its names is listed)."""
    return bool(name) and "/" not in name and not any(c.isspace() for c in name)


def describe(evidence: BaselineEvidence) -> dict[str, Any]:
    """The evidence as JSON (for --format json and the tests)."""
    return {
        "runs": len(evidence.runs),
        "programs": dict(sorted(evidence.programs.items())),
        "paths": dict(sorted(evidence.paths.items())),
        "resources": {r: evidence.across(r) for r in RESOURCES},
    }
