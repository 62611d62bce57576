"""The policy each sandbox is judged by in a backtest: the one it ran under (recorded), or
the one being tried (what-if), with the sandbox's names and labels as the engine had them."""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.engine import CompiledPolicy, PolicyContext, compile_policy
from processors.engine.drift import differences
from processors.engine.findings import StepRun
from processors.engine.state import ContainerState
from sandguard.backtest.selection import RecordedSandbox
from sandguard.backtest.trusted import Builder
from schemas import LimitsSample, SecurityPolicy
from schemas.policy import CPU_PERIOD_US, MIB, WIRE_CONTEXT, cpu_quota_us

_limits = Builder(LimitsSample)


@dataclass(slots=True)
class Policies:
    """``what_if`` None: every sandbox under the policies it ran under, switched when the
    history switched them; otherwise every sandbox under ``what_if``."""

    what_if: SecurityPolicy | None = None
    _compiled: dict[str, CompiledPolicy] = field(default_factory=dict)
    _trial: CompiledPolicy | None = None

    def __post_init__(self) -> None:
        if self.what_if is not None:
            self._trial = compile_policy(self.what_if)

    @property
    def recorded(self) -> bool:
        return self._trial is None

    def timeline(self, sb: RecordedSandbox) -> list[tuple[int, PolicyContext]]:
        """(from time, context) in time order; the first applies from the beginning."""
        if self._trial is not None:
            return [(0, self._context(self._trial, sb))]
        return [(t, self._context(self._compile(pid, raw), sb)) for t, pid, raw in sb.policies]

    def recorded_at(self, sb: RecordedSandbox, t: int) -> PolicyContext:
        pid, raw = sb.policies[0][1:]
        for when, p, r in sb.policies:
            if when <= t:
                pid, raw = p, r
        return self._context(self._compile(pid, raw), sb)

    def _compile(self, policy_id: str, raw: str) -> CompiledPolicy:
        c = self._compiled.get(policy_id)
        if c is None:
            policy = SecurityPolicy.model_validate_json(raw, context=WIRE_CONTEXT)
            c = self._compiled[policy_id] = compile_policy(policy, policy_id)
        return c

    @staticmethod
    def _context(c: CompiledPolicy, sb: RecordedSandbox) -> PolicyContext:
        return PolicyContext(c, sb.name, sb.image, dict(sb.labels))


def as_if(s: LimitsSample, recorded: PolicyContext, trial: PolicyContext, cpu_factor: float) -> LimitsSample:
    """The limits a sandbox would have shown had it been created under ``trial``: limits
    that matched the policy it ran under become the trial's own; a drift stays a drift."""
    probe = StepRun(ContainerState(s.container_id, cpu_factor=cpu_factor), recorded, s.host, None)
    if differences(probe, s):
        return s
    lim = trial.policy.limits
    mem = lim.memory_mb * MIB
    nofile = None if s.nofile_soft is None else lim.max_open_files
    made: LimitsSample = _limits({
        "event_id": s.event_id, "time": s.time, "container_id": s.container_id, "host": s.host,
        "memory_limit_bytes": mem, "memory_swap_limit_bytes": mem if s.memory_swap_limit_bytes else None,
        "cpu_quota_us": cpu_quota_us(lim.cpu_percent * cpu_factor), "cpu_period_us": CPU_PERIOD_US,
        "pids_max": lim.max_processes, "nofile_soft": nofile,
        "nofile_hard": None if s.nofile_hard is None else lim.max_open_files,
    })  # fmt: skip
    return made
