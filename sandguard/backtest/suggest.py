"""``suggest``: a policy for one image, learned from its clean runs, with its proof.

Allowlists come from what the clean runs executed; limits from what they used, the p99
of the run maxima times ``headroom``, and never under the largest run maximum times
``MAX_MARGIN`` (so no clean run would have crossed it). The proof: the suggestion
backtested over the runs it learned from (0 findings), and over the held-back latest
runs, with how many of the misbehaving ones it would have caught.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from reporting.timeaxis import DAY
from sandbox.config import MIN_PROCESSES
from sandguard.backtest.backtest import backtest_sandboxes
from sandguard.backtest.baseline import BaselineEvidence, findings_per_run, learn
from sandguard.backtest.exceptions import NoHistoryError, SelectionError
from sandguard.backtest.selection import RecordedSandbox, Selection, sandboxes
from sandguard.backtest.suggest_yaml import render_yaml
from schemas import SecurityPolicy, Store, policy_from_dict
from schemas.policy import MIB, MIN_MEMORY_MB, WIRE_CONTEXT, host_cpus

HEADROOM = 1.5  # limits are the p99 of run maxima × 1.5
MAX_MARGIN = 1.1  # ... and at least the largest run maximum × 1.1
HOLDOUT = 0.2  # the latest fifth of the runs is held back for the proof
# Floors the sandbox and the kernel accept: 1 % CPU (the smallest CFS quota), 16 files.
MIN_CPU_PERCENT = 1.0
MIN_OPEN_FILES = 16


@dataclass(slots=True)
class Limit:
    """One learned limit and the numbers behind it (for the YAML comment)."""

    value: float
    p50: float
    p99: float
    top: float
    runs: int
    unit: str = ""

    def note(self, headroom: float) -> str:
        u = self.unit
        return (
            f"{self.runs} runs: p50 {_n(self.p50)}{u}, p99 of run maxima {_n(self.p99)}{u}, "
            f"largest {_n(self.top)}{u};"
            f" max(p99 x {headroom:g}, largest x {MAX_MARGIN:g})"
        )


@dataclass(slots=True)
class Suggestion:
    image: str
    policy: SecurityPolicy
    evidence: BaselineEvidence
    limits: dict[str, Limit]
    learned_from: list[str]
    held_back: list[str]
    removed_from_blocked: list[str]
    proof: dict[str, Any] = field(default_factory=dict)
    yaml: str = ""


def _n(v: float) -> str:
    return f"{v:,.1f}".removesuffix(".0")


def split(runs: list[RecordedSandbox], holdout: float) -> tuple[list[RecordedSandbox], list[RecordedSandbox]]:
    """Oldest runs to learn from, the latest ``holdout`` share held back (none of 1 run)."""
    ordered = sorted(runs, key=lambda sb: (sb.created, sb.container_id))
    held = math.ceil(len(ordered) * holdout) if len(ordered) > 1 else 0
    return ordered[: len(ordered) - held], ordered[len(ordered) - held :]


def suggest(
    store: Store, sel: Selection, *, holdout: float = HOLDOUT, headroom: float = HEADROOM
) -> Suggestion:
    if not sel.image:
        raise SelectionError("image", "a suggestion is learned per image: give --image")
    if not 0 <= holdout < 1:
        raise SelectionError("holdout", f"{holdout} is not a share in [0, 1)")
    if headroom < 1:
        raise SelectionError("headroom", f"{headroom} would set limits under what the runs used")
    runs = sandboxes(store, sel)
    if not runs:
        raise NoHistoryError(sel.describe(), sel.since, sel.until)
    learn_runs, held = split(runs, holdout)
    findings = findings_per_run(store, [sb.container_id for sb in runs])
    clean = [sb for sb in learn_runs if not findings.get(sb.container_id)]
    if not clean:
        raise NoHistoryError(
            f"clean runs of image {sel.image} (every run had a finding)", sel.since, sel.until
        )
    evidence = learn(store, [sb.container_id for sb in clean])
    base = _base_policy(clean)
    s = _build(sel, base, ev=evidence, clean=clean, held=held, headroom=headroom)
    s.proof = _proof(store, sel, s, clean=clean, held=held, findings=findings)
    s.yaml = render_yaml(s, headroom)
    return s


def _base_policy(clean: list[RecordedSandbox]) -> SecurityPolicy:
    """The policy the latest clean run ran under: what is not learned is kept from it."""
    raw = sorted(clean, key=lambda sb: sb.created)[-1].policies[-1][2]
    return SecurityPolicy.model_validate_json(raw, context=WIRE_CONTEXT)


def _limit(ev: BaselineEvidence, resource: str, headroom: float, scale: float = 1.0, unit: str = "") -> Limit:
    a = ev.across(resource)
    value = max(a["p99"] * headroom, a["max"] * MAX_MARGIN) / scale
    return Limit(value, a["p50"] / scale, a["p99"] / scale, a["max"] / scale, int(a["runs"]), unit)


def _build(
    sel: Selection,
    base: SecurityPolicy,
    *,
    ev: BaselineEvidence,
    clean: list[RecordedSandbox],
    held: list[RecordedSandbox],
    headroom: float,
) -> Suggestion:
    limits = {
        "memory_mb": _limit(ev, "memory_bytes", headroom, MIB, " MiB"),
        "cpu_percent": _limit(ev, "cpu_percent", headroom, unit=" %"),
        "max_processes": _limit(ev, "processes", headroom),
        "max_open_files": _limit(ev, "open_files", headroom),
        "max_network_connections": _limit(ev, "connections", headroom),
    }
    lim = base.resource_limits.model_dump(mode="json")
    lim.update(
        memory_mb=max(MIN_MEMORY_MB, math.ceil(limits["memory_mb"].value)),
        cpu_percent=min(
            host_cpus() * 100.0, max(MIN_CPU_PERCENT, round(limits["cpu_percent"].value + 0.05, 1))
        ),
        max_processes=max(MIN_PROCESSES, math.ceil(limits["max_processes"].value)),
        max_open_files=max(MIN_OPEN_FILES, math.ceil(limits["max_open_files"].value)),
        max_network_connections=math.ceil(limits["max_network_connections"].value),
    )
    programs = sorted(ev.programs)
    removed = sorted(base.blocked_commands & set(programs))
    data = base.model_dump(mode="json", exclude_none=True)
    data.update(
        name=f"{base.name}-suggested"[:128],
        resource_limits=lim,
        allowed_commands=programs,
        blocked_commands=sorted(base.blocked_commands - set(programs)),
        baseline={
            "programs": programs,
            "paths": sorted(ev.paths),
            "image": sel.image,
            "runs": len(clean),
            "learned": _learned(sel),
            "mode": "audit",
        },
    )
    policy = policy_from_dict(data, source="suggestion")
    ids = [sb.container_id for sb in clean]
    return Suggestion(sel.image or "", policy, ev, limits, ids, [sb.container_id for sb in held], removed)


def _learned(sel: Selection) -> str:
    days = (sel.until - sel.since) / DAY
    return (
        f"{days:.3g} days of history"
        if days >= 1
        else f"{(sel.until - sel.since) / 3_600_000:.3g} h of history"
    )


def _proof(
    store: Store,
    sel: Selection,
    s: Suggestion,
    *,
    clean: list[RecordedSandbox],
    held: list[RecordedSandbox],
    findings: dict[str, int],
) -> dict[str, Any]:
    same = backtest_sandboxes(store, sel, clean, s.policy, source="suggestion")
    out: dict[str, Any] = {
        "clean_runs": len(clean),
        "clean_findings": same["totals"]["backtest_findings"],
        "clean_rules": sorted(
            {x["rule_id"] for r in same["sandboxes"] for x in r["rules"] if x["backtest_findings"]}
        ),
        "held_back_runs": len(held),
    }
    if not held:
        return out
    after = backtest_sandboxes(store, sel, held, s.policy, source="suggestion")
    bad = {sb.container_id for sb in held if findings.get(sb.container_id)}
    flagged = {r["container_id"] for r in after["sandboxes"] if r["backtest"]["findings"]}
    out.update(
        held_back_misbehaving=len(bad),
        caught=len(bad & flagged),
        missed=sorted(c[:12] for c in bad - flagged),
        flagged_clean=len(flagged - bad),
        held_back_rules=sorted(
            {x["rule_id"] for r in after["sandboxes"] for x in r["rules"] if x["backtest_findings"]}
        ),
    )
    return out
