"""One occurrence of a rule: dedup it, count it towards escalation, publish what is due."""

from __future__ import annotations

from typing import Any

from processors.engine import escalation
from processors.engine.findings import Build, StepRun, due, maybe_update, open_or_repeat
from processors.engine.state import Finding
from schemas.rules import HINT_RULES


def record(
    run: StepRun, rule_id: str, subject: str, t: int, *, message: str, evidence: dict[str, Any]
) -> None:
    """The finding keeps the latest occurrence's message and evidence (a CLOSE shows them)."""
    record_lazy(run, rule_id, subject, t, lambda: (message, evidence), eager=True)


def record_lazy(
    run: StepRun, rule_id: str, subject: str, t: int, build: Build, *, eager: bool = False
) -> None:
    """Like ``record``, building a repeat's message and evidence only when it is published
    (level rules: building the evidence of K samples at every sample would dominate)."""
    f = open_or_repeat(run, rule_id, subject, t, build)
    if f is not None:
        settle(run, f, t, build, eager=eager)


def settle(run: StepRun, f: Finding, t: int, build: Build, *, eager: bool = False) -> None:
    """The rest of an occurrence once ``open_or_repeat`` gave its finding: escalation, then
    the repeat's message and evidence and an update when one is due. A hint never counts
    towards escalation: it only says where to look."""
    changed = f.rule_id not in HINT_RULES and escalation.on_occurrence(run, f, t)
    if f.count > 1 and (eager or due(run, f, t, changed)):
        f.message, f.evidence = build()
    maybe_update(run, f, t, changed)
