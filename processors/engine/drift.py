"""Drift: the limits the kernel holds differ from the policy's (someone ran ``docker update``,
or the sandbox was created without them).

A new drift finding also asks the enforcer to re-apply the policy's limits. After a
throttle, the expected CPU is the throttled one. Fields the collector could not read
(None where a limit is expected to be readable) are judged only when present: memory,
CPU and pids are always readable from the cgroup, so None there means unlimited.
"""

from __future__ import annotations

from typing import Any

from processors.engine import escalation
from processors.engine.findings import StepRun, open_or_repeat
from processors.engine.policy import CPU_DRIFT_SLACK_PERCENT
from processors.engine.record import settle
from schemas import EnforcementAction, LimitsSample


def differences(run: StepRun, s: LimitsSample) -> dict[str, dict[str, Any]]:
    pol = run.ctx.policy
    out: dict[str, dict[str, Any]] = {}
    if s.memory_limit_bytes != pol.memory_limit_bytes:
        out["memory_limit_bytes"] = {"in_force": s.memory_limit_bytes, "policy": pol.memory_limit_bytes}
    want_cpu = round(pol.cpu_percent * run.state.cpu_factor, 3)
    cpu = None
    if s.cpu_quota_us is not None and s.cpu_quota_us > 0 and s.cpu_period_us:
        cpu = round(s.cpu_quota_us / s.cpu_period_us * 100.0, 3)
    if cpu is None or abs(cpu - want_cpu) > CPU_DRIFT_SLACK_PERCENT:
        out["cpu_percent"] = {"in_force": cpu, "policy": want_cpu}
    if s.pids_max != pol.max_processes:
        out["pids_max"] = {"in_force": s.pids_max, "policy": pol.max_processes}
    for name in ("nofile_soft", "nofile_hard"):
        value = getattr(s, name)
        if value is not None and value != pol.max_open_files:
            out[name] = {"in_force": value, "policy": pol.max_open_files}
    return out


def on_limits(run: StepRun, s: LimitsSample) -> None:
    diff = differences(run, s)
    if not diff:
        return
    subject = ",".join(sorted(diff))
    desc = "; ".join(f"{k} {v['in_force']} (policy {v['policy']})" for k, v in diff.items())
    evidence = {"samples": [{"time": s.time, **diff}]}

    def build() -> tuple[str, dict[str, Any]]:
        return f"limits drifted: {desc}", evidence

    f = open_or_repeat(run, "limits.drift", subject, s.time, build)
    if f is None:
        return
    if f.count == 1 and run.state.enforced != EnforcementAction.TERMINATE.value:
        escalation.issue(run, EnforcementAction.REAPPLY_LIMITS, s.time, [f])
    settle(run, f, s.time, build)
