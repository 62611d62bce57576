"""Baseline drift: a program never seen in the image's clean runs (``process.new_program``).

The policy carries the baseline (``SecurityPolicy.baseline``, learned by ``sandguard
policy suggest``); the finding names the program and the baseline it was compared
against. In audit mode, the default, it is recorded and published but never counts
towards escalation: a new program is a reason to look, not yet to act.
"""

from __future__ import annotations

from typing import Any

from processors.engine.findings import StepRun, maybe_update, open_or_repeat
from processors.engine.policy import NEW_PROGRAM
from processors.engine.record import record

# Programs of the baseline listed in a finding's evidence (the rest are counted).
MAX_LISTED = 50


def judge(run: StepRun, unknown_name: str | None, t: int, *, label: str, ev: dict[str, Any]) -> None:
    """A process is judged by the file it executes when the baseline has paths (a known
    name on a new file, e.g. a tool copied to /work/python3, is new); an exec or a process
    whose executable is unreadable, by its names."""
    pol = run.ctx.policy
    exe = (ev.get("process") or {}).get("exe")
    if exe and pol.baseline_paths:
        if exe not in pol.baseline_paths:
            new_program(run, exe, t, label=label, ev=ev, known=sorted(pol.baseline_paths))
        return
    if unknown_name is not None:
        new_program(run, unknown_name, t, label=label, ev=ev, known=sorted(pol.baseline))


def new_program(
    run: StepRun, program: str, t: int, *, label: str, ev: dict[str, Any], known: list[str]
) -> None:
    pol = run.ctx.policy
    listed = known[:MAX_LISTED]
    message = f"{program} was never seen before for this image (baseline: {pol.baseline_note}): {label}"
    sample = {"time": t, "program": program, "baseline": listed, "baseline_size": len(known)}
    evidence = {**ev, "samples": [sample]}
    if NEW_PROGRAM not in pol.audit_rules:
        record(run, NEW_PROGRAM, program, t, message=message, evidence=evidence)
        return
    f = open_or_repeat(run, NEW_PROGRAM, program, t, lambda: (message, evidence))
    if f is not None:
        maybe_update(run, f, t, changed=False)
