"""Backtesting the policies in force over a history recorded from real sandboxes gives back
exactly what the live pipeline stored: the same violation events (ids, windows, counts,
dispositions) and the same enforcement commands."""

from __future__ import annotations

from typing import Any

from reporting.store import ClickHouseStore
from sandguard.backtest import Selection, backtest
from tests.integration.backtest.recorded import LABEL, Recorded


def _report(history: ClickHouseStore, recorded: Recorded) -> dict[str, Any]:
    sel = Selection(recorded.since, recorded.until, label=(LABEL, recorded.run_id))
    return backtest(history, sel, None)


def test_the_policy_in_force_reproduces_every_stored_violation_and_command(
    history: ClickHouseStore, recorded: Recorded
) -> None:
    report = _report(history, recorded)
    totals = report["totals"]
    agreement = totals["agreement"]
    assert report["history"]["sandboxes"] == len(recorded.benign) + len(recorded.bad)
    assert agreement["stored_events"] >= 4 and agreement["stored_commands"] >= 1, agreement
    mismatched = [(r["container_id"][:12], r["agreement"]) for r in report["sandboxes"]
                  if r["agreement"]["stored_events"] != r["agreement"]["reproduced_events"]
                  or r["agreement"]["extra_events"] or r["agreement"]["extra_commands"]
                  or r["agreement"]["stored_commands"] != r["agreement"]["reproduced_commands"]]  # fmt: skip
    assert mismatched == [], _differences(history, recorded)
    assert agreement["ratio"] == 1.0 and agreement["exact"] is True
    assert totals["new_findings"] == 0 and totals["gone_findings"] == 0


def _differences(history: ClickHouseStore, rec: Recorded) -> dict[str, Any]:
    """Every event on one side only, for the failure message."""
    from sandguard.backtest import compare
    from sandguard.backtest.policies import Policies
    from sandguard.backtest.replay import replay
    from sandguard.backtest.selection import sandboxes

    boxes = sandboxes(history, Selection(rec.since, rec.until, label=(LABEL, rec.run_id)))
    out = replay(history, boxes, Policies(None), since=rec.since, until=rec.until)
    stored = compare.stored(history, [b.container_id for b in boxes], rec.since, rec.until)
    diff: dict[str, Any] = {}
    for b in boxes:
        cid = b.container_id
        after = compare.backtested(out.violations[cid], out.commands[cid])
        before = stored[cid]
        only = {
            "stored_only": sorted(set(before.events) - set(after.events)),
            "backtest_only": sorted(set(after.events) - set(before.events)),
            "stored_only_commands": sorted(set(before.commands) - set(after.commands)),
            "backtest_only_commands": sorted(set(after.commands) - set(before.commands)),
        }
        if any(only.values()):
            diff[cid[:12]] = only
    return diff


def test_the_misbehaving_sandboxes_are_the_ones_with_findings(
    history: ClickHouseStore, recorded: Recorded
) -> None:
    rows = {r["container_id"]: r for r in _report(history, recorded)["sandboxes"]}
    rules = {cid: {x["rule_id"] for x in rows[cid]["rules"]} for cid in recorded.bad}
    burn, denied, disguised, forks = recorded.bad
    assert "cpu.throttled" in rules[burn], rules
    assert "command.denied" in rules[denied]
    assert rows[denied]["stored"]["terminated_at"] is not None
    assert "process.blocked" in rules[disguised]
    assert "pids.limit_hit" in rules[forks]
