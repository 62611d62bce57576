"""One occurrence of a rule: dedup it, count it towards escalation, publish what is due."""

from __future__ import annotations

from typing import Any

from processors.engine import escalation
from processors.engine.findings import Run, maybe_update, open_or_repeat


def record(run: Run, rule_id: str, subject: str, t: int, *, message: str, evidence: dict[str, Any]) -> None:
    f = open_or_repeat(run, rule_id, subject, t, message=message, evidence=evidence)
    if f is None:
        return
    changed = escalation.on_occurrence(run, f, t)
    maybe_update(run, f, t, changed)
