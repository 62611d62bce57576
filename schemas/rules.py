"""The catalogue of detection rules: ids, what they judge, default severity.

Policies name rules by these ids (``immediate_rules``, ``disabled_rules``), the
processors implement them, violations and reports carry them. Declared once here so
an unknown id in a policy is a validation error, not a silent no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.violations import SecurityViolationType, Severity


class RuleWeight(StrEnum):
    """How a rule's findings count towards escalation (the policy's violation threshold)."""

    COUNTS = "counts"  # every finding counts; immediate_rules makes one finding enough
    ADVISORY = "advisory"  # informs (a violation in the history); counts only if immediate
    HINT = "hint"  # says where to look: never counts, even if the policy names it immediate


@dataclass(frozen=True, slots=True)
class RuleInfo:
    rule_id: str
    violation_type: SecurityViolationType
    severity: Severity
    title: str
    weight: RuleWeight = RuleWeight.COUNTS

    @property
    def escalates(self) -> bool:
        """Counts towards escalation without the policy asking."""
        return self.weight is RuleWeight.COUNTS


_R = SecurityViolationType.RESOURCE_LIMIT_EXCEEDED
_P = SecurityViolationType.PROCESS_VIOLATION
_N = SecurityViolationType.NETWORK_VIOLATION
_F = SecurityViolationType.FILE_ACCESS_VIOLATION
_PERM = SecurityViolationType.PERMISSION_VIOLATION
_S = SecurityViolationType.SUSPICIOUS_ACTIVITY
_ADVISORY = RuleWeight.ADVISORY
_HINT = RuleWeight.HINT

RULES: dict[str, RuleInfo] = {
    r.rule_id: r
    for r in (
        # Attempts against limits the kernel holds (DESIGN.md principle 4).
        RuleInfo("pids.limit_hit", _R, Severity.HIGH, "Process limit hit (fork bomb)"),
        RuleInfo("memory.oom_kill", _R, Severity.HIGH, "Process killed by the OOM killer"),
        RuleInfo("memory.failcnt", _R, Severity.MEDIUM, "Memory allocations failing at the limit"),
        RuleInfo("cpu.throttled", _R, Severity.MEDIUM, "CPU pinned at its quota"),
        # Levels, judged as K of the samples within W seconds.
        RuleInfo("memory.level", _R, Severity.MEDIUM, "Memory over limit"),
        RuleInfo("cpu.level", _R, Severity.LOW, "CPU over limit"),
        RuleInfo("processes.level", _R, Severity.MEDIUM, "Too many processes"),
        RuleInfo("sockets.level", _N, Severity.MEDIUM, "Too many network connections"),
        RuleInfo("open_files.level", _R, Severity.LOW, "Too many open files"),
        RuleInfo("disk.level", _R, Severity.LOW, "Workspace nearly full", weight=_ADVISORY),
        # Processes.
        RuleInfo("process.blocked", _P, Severity.HIGH, "Blocked command running"),
        RuleInfo("process.not_allowed", _P, Severity.MEDIUM, "Command outside the allowlist running"),
        RuleInfo("process.suspicious", _S, Severity.HIGH, "Suspicious tool running"),
        RuleInfo("process.reverse_shell", _S, Severity.CRITICAL, "Reverse shell"),
        # A program never seen in the image's clean runs (the policy's baseline).
        RuleInfo("process.new_program", _S, Severity.MEDIUM, "Program never seen for this image"),
        # Kernel events (every exec and connect): judged by the file executed and evidence.
        RuleInfo("process.written_exec", _P, Severity.HIGH, "Program written in the sandbox executed"),
        RuleInfo(
            "process.reverse_shell_hint",
            _S,
            Severity.LOW,
            "Command line looks like a reverse shell",
            weight=_HINT,
        ),
        RuleInfo("network.egress_denied", _N, Severity.HIGH, "Connection the network policy forbids"),
        RuleInfo("network.connections", _N, Severity.MEDIUM, "Too many network connections opened"),
        # Configuration.
        RuleInfo("limits.drift", _PERM, Severity.HIGH, "Limits in force differ from the policy"),
        # Operations the sandbox API refused (audit events).
        RuleInfo("command.denied", _PERM, Severity.MEDIUM, "Denied command"),
        RuleInfo("file.denied", _F, Severity.MEDIUM, "Denied file operation"),
    )
}

RULE_IDS: frozenset[str] = frozenset(RULES)
ADVISORY_RULES: frozenset[str] = frozenset(r.rule_id for r in RULES.values() if r.weight is _ADVISORY)
# Rules that only hint: never immediate, never counted towards the violation threshold.
HINT_RULES: frozenset[str] = frozenset(r.rule_id for r in RULES.values() if r.weight is _HINT)
