"""What did fire and act (the stored violations, commands and actions) beside what the
backtest says would have; per sandbox and rule, with the findings that are new, the
ones that would disappear, and the sandboxes that would have been terminated.

Findings are compared by ``violation_id`` (container, rule, subject and dedup window: it
does not depend on the policy), events by ``event_id`` and their contents; with the
policy actually in force both sides must be equal (``agreement`` 1.0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas import EnforcementAction, EnforcementCommand, Store, Violation

_RANGE = """container_id IN {ids:Array(String)}
  AND time >= fromUnixTimestamp64Milli({lo:Int64}) AND time <= fromUnixTimestamp64Milli({hi:Int64})"""
_VIOLATIONS = f"""
SELECT container_id, event_id, violation_id, activity, rule_id, count, toUnixTimestamp64Milli(first_seen),
       toUnixTimestamp64Milli(last_seen), toUnixTimestamp64Milli(sample_time), disposition, mode, message,
       severity
FROM violation_events FINAL WHERE {_RANGE}"""  # noqa: S608 - constant text, values bound
_COMMANDS = f"""
SELECT container_id, event_id, command_id, action, mode, violation_ids, rule_ids, toUnixTimestamp64Milli(time)
FROM commands FINAL WHERE {_RANGE}"""  # noqa: S608
_ACTIONS = f"""
SELECT container_id, command_id, action, result FROM actions FINAL WHERE {_RANGE}"""  # noqa: S608

# (event id, violation id, activity, rule, count, first seen, last seen, sample time, disposition, mode)
VKey = tuple[str, str, str, str, int, int, int, int, str, str]
# (event id, command id, action, mode, violation ids, rule ids, time)
CKey = tuple[str, str, str, str, tuple[str, ...], tuple[str, ...], int]
TERMINATE = EnforcementAction.TERMINATE.value


@dataclass(slots=True)
class Side:
    """One side of the comparison for one sandbox: its violation events and commands."""

    events: dict[VKey, tuple[str, str]] = field(default_factory=dict)  # key -> (message, severity)
    commands: list[CKey] = field(default_factory=list)
    results: Counter[str] = field(default_factory=Counter)  # "action result" (stored side only)

    def findings(self) -> dict[str, dict[str, Any]]:
        """The latest state of each finding, by violation id."""
        out: dict[str, dict[str, Any]] = {}
        for k, (message, severity) in self.events.items():
            f = out.get(k[1])
            if f is None or k[4] >= f["count"]:
                out[k[1]] = {"violation_id": k[1], "rule_id": k[3], "count": k[4], "first_seen": k[5],
                             "last_seen": k[6], "disposition": k[8], "mode": k[9], "message": message,
                             "severity": severity}  # fmt: skip
        return out

    def terminated(self) -> int | None:
        """When a terminate was commanded in enforce mode (the first), or None."""
        times = [c[6] for c in self.commands if c[2] == TERMINATE and c[3] == "enforce"]
        return min(times) if times else None


def vkey(v: Violation) -> VKey:
    return (v.event_id, v.violation_id, v.activity.value, v.rule_id, v.count, v.first_seen, v.last_seen,
            v.sample_time, v.disposition.value, v.mode)  # fmt: skip


def ckey(c: EnforcementCommand) -> CKey:
    return (
        c.event_id,
        c.command_id,
        c.action.value,
        c.mode,
        tuple(c.violation_ids),
        tuple(c.rule_ids),
        c.time,
    )


def stored(store: Store, ids: list[str], since: int, until: int) -> dict[str, Side]:
    params = {"ids": ids, "lo": since, "hi": until}
    sides: dict[str, Side] = {cid: Side() for cid in ids}
    for cid, *k, message, severity in store.query(_VIOLATIONS, params):
        sides[cid].events[tuple(k)] = (message, severity)
    for cid, eid, cmd, action, mode, vids, rules, t in store.query(_COMMANDS, params):
        sides[cid].commands.append((eid, cmd, action, mode, tuple(vids), tuple(rules), t))
    for cid, _cmd, action, result in store.query(_ACTIONS, params):
        sides[cid].results[f"{action} {result}"] += 1
    return sides


def backtested(violations: Iterable[Violation], commands: Iterable[EnforcementCommand]) -> Side:
    side = Side()
    for v in violations:
        side.events[vkey(v)] = (v.message, v.severity.value)
    side.commands = [ckey(c) for c in commands]
    return side


def compare_sandbox(before: Side, after: Side) -> dict[str, Any]:
    """Per rule counts, the new and the disappearing findings, terminations, actions."""
    was, now = before.findings(), after.findings()
    rules = sorted({f["rule_id"] for f in (*was.values(), *now.values())})
    return {
        "rules": [_rule(r, was, now) for r in rules],
        "new_findings": [now[v] for v in sorted(now.keys() - was.keys(), key=lambda v: now[v]["first_seen"])],
        "gone_findings": [
            was[v] for v in sorted(was.keys() - now.keys(), key=lambda v: was[v]["first_seen"])
        ],
        "stored": _summary(before, was),
        "backtest": _summary(after, now),
        "agreement": _agreement(before, after),
    }


def _rule(rule: str, was: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> dict[str, Any]:
    a = {v for v, f in was.items() if f["rule_id"] == rule}
    b = {v for v, f in now.items() if f["rule_id"] == rule}
    return {
        "rule_id": rule,
        "stored_findings": len(a), "stored_occurrences": sum(was[v]["count"] for v in a),
        "backtest_findings": len(b), "backtest_occurrences": sum(now[v]["count"] for v in b),
        "new": len(b - a), "gone": len(a - b),
    }  # fmt: skip


def _summary(side: Side, findings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    actions = Counter(f"{c[2]} ({c[3]})" for c in side.commands)
    return {
        "findings": len(findings),
        "occurrences": sum(f["count"] for f in findings.values()),
        "commands": dict(sorted(actions.items())),
        "results": dict(sorted(side.results.items())),
        "terminated_at": side.terminated(),
    }


def _agreement(before: Side, after: Side) -> dict[str, int]:
    ve_a, ve_b = set(before.events), set(after.events)
    c_a, c_b = set(before.commands), set(after.commands)
    return {
        "stored_events": len(ve_a), "reproduced_events": len(ve_a & ve_b), "extra_events": len(ve_b - ve_a),
        "stored_commands": len(c_a), "reproduced_commands": len(c_a & c_b), "extra_commands": len(c_b - c_a),
    }  # fmt: skip
