"""``backtest``: a policy over the stored history, beside what the history says happened."""

from __future__ import annotations

import time
from typing import Any

from processors.engine import CompiledPolicy
from sandguard.backtest import compare
from sandguard.backtest.exceptions import NoHistoryError
from sandguard.backtest.gaps import Gap, collector_gaps
from sandguard.backtest.policies import Policies
from sandguard.backtest.replay import Outcome, replay
from sandguard.backtest.selection import RecordedSandbox, Selection, sandboxes
from schemas import SecurityPolicy, Store


def backtest(
    store: Store, sel: Selection, policy: SecurityPolicy | None, *, source: str = ""
) -> dict[str, Any]:
    """The report (a JSON-ready dict) of ``policy`` over the selection; None: the policies
    that were in force, which must reproduce the stored outputs exactly.

    Raises NoHistoryError when the selection has nothing stored in its window."""
    return backtest_sandboxes(store, sel, sandboxes(store, sel), policy, source=source)


def backtest_sandboxes(
    store: Store,
    sel: Selection,
    boxes: list[RecordedSandbox],
    policy: SecurityPolicy | None,
    *,
    source: str = "",
) -> dict[str, Any]:
    """``backtest`` over these sandboxes (e.g. the runs a suggestion learned from)."""
    started = time.perf_counter()
    if not boxes:
        raise NoHistoryError(sel.describe(), sel.since, sel.until)
    policies = Policies(policy)
    outcome = replay(
        store, boxes, policies, since=sel.since, until=sel.until, warmup_ms=warmup(boxes, policies)
    )
    if outcome.events == 0:
        raise NoHistoryError(sel.describe(), sel.since, sel.until)
    elapsed = time.perf_counter() - started
    ids = [sb.container_id for sb in boxes]
    sides = compare.stored(store, ids, sel.since, sel.until)
    gaps = _gaps(store, sel, boxes, outcome)
    rows = [_sandbox(sb, sides[sb.container_id], outcome, gaps) for sb in boxes]
    return {
        "policy": _policy(policy, source),
        "selection": sel.describe(),
        "window": {"since": sel.since, "until": sel.until},
        "history": {
            "sandboxes": len(boxes),
            "events": outcome.events,
            "by_table": outcome.by_table,
            "replay_s": round(elapsed, 3),
        },
        "gaps": [g.to_dict() for g in gaps],
        "totals": _totals(rows),
        "sandboxes": rows,
    }


def warmup(boxes: list[RecordedSandbox], policies: Policies) -> int:
    """How far before the window to start reading, so windows open at its start are warm:
    the longest rule, dedup or escalation window of the policies involved."""
    longest = 0
    for sb in boxes:
        for _, ctx in policies.timeline(sb):
            longest = max(longest, _span(ctx.policy))
    return longest


def _span(p: CompiledPolicy) -> int:
    return max(p.window_ms, p.dedup_window_ms, p.escalation_window_ms)


def _policy(policy: SecurityPolicy | None, source: str) -> dict[str, Any]:
    if policy is None:
        return {"source": "recorded", "policy_id": None, "name": "the policies in force", "mode": None}
    return {"source": source, "policy_id": policy.policy_id, "name": policy.name, "mode": policy.mode.value}


def _gaps(store: Store, sel: Selection, boxes: list[RecordedSandbox], outcome: Outcome) -> list[Gap]:
    ids = {sb.container_id for sb in boxes}
    hosts = {v.host for vs in outcome.violations.values() for v in vs} | _hosts(store, ids)
    host_gaps = collector_gaps(store, sel.since, sel.until, ids, hosts)
    found = [g for g in outcome.gaps.gaps if g.end >= sel.since]
    found += [g for g in host_gaps if g.container_id or any(_overlaps(sb, g) for sb in boxes)]
    return sorted(found, key=lambda g: (g.start, g.container_id))


def _overlaps(sb: RecordedSandbox, g: Gap) -> bool:
    """A host's gap matters to a sandbox alive during it (not one destroyed before it)."""
    return sb.created <= g.end and (sb.destroyed is None or sb.destroyed > g.start)


def _hosts(store: Store, ids: set[str]) -> set[str]:
    rows = store.query("SELECT DISTINCT host FROM sandboxes FINAL WHERE container_id IN {ids:Array(String)}",
                       {"ids": sorted(ids)})  # fmt: skip
    return {str(r[0]) for r in rows if r[0]}


def _sandbox(sb: RecordedSandbox, before: compare.Side, outcome: Outcome, gaps: list[Gap]) -> dict[str, Any]:
    cid = sb.container_id
    after = compare.backtested(outcome.violations.get(cid, ()), outcome.commands.get(cid, ()))
    row = {"container_id": cid, "name": sb.name, "image": sb.image, "created": sb.created,
           "destroyed": sb.destroyed, **compare.compare_sandbox(before, after)}  # fmt: skip
    row["gaps"] = [
        g.to_dict() for g in gaps if g.container_id == cid or (not g.container_id and _overlaps(sb, g))
    ]
    return row


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    agree = {k: sum(r["agreement"][k] for r in rows) for k in rows[0]["agreement"]}
    stored_all = agree["stored_events"] + agree["stored_commands"]
    got = agree["reproduced_events"] + agree["reproduced_commands"]
    extra = agree["extra_events"] + agree["extra_commands"]
    return {
        "stored_findings": sum(r["stored"]["findings"] for r in rows),
        "backtest_findings": sum(r["backtest"]["findings"] for r in rows),
        "new_findings": sum(len(r["new_findings"]) for r in rows),
        "gone_findings": sum(len(r["gone_findings"]) for r in rows),
        "stored_terminated": sum(1 for r in rows if r["stored"]["terminated_at"] is not None),
        "backtest_terminated": sum(1 for r in rows if r["backtest"]["terminated_at"] is not None),
        "newly_terminated": [r["container_id"] for r in rows
                             if r["backtest"]["terminated_at"] and not r["stored"]["terminated_at"]],
        "agreement": {**agree, "ratio": got / stored_all if stored_all else (1.0 if not extra else 0.0),
                      "exact": got == stored_all and extra == 0},
    }  # fmt: skip
