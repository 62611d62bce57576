"""The idempotency ledger: intents and outcomes survive a restart; old ones are pruned."""

from __future__ import annotations

from pathlib import Path

import pytest

from enforcer import Ledger, LedgerError, Position
from enforcer.ledger import Done

POS = Position("sandguard.enforcement", 3, 41)


async def test_an_unknown_command_is_not_found(ledger: Ledger) -> None:
    assert await ledger.get("nope") is None


async def test_intent_then_done_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    first = Ledger(path)
    await first.open()
    plan = {"operation": "update", "resources": {"CpuQuota": 25_000}}
    await first.record_intent("cmd-1", container_id="c1", action="throttle", plan=plan, position=POS, now=10)
    await first.close()

    second = Ledger(path)
    await second.open()
    entry = await second.get("cmd-1")
    assert entry is not None
    assert (entry.status, entry.plan, entry.position) == ("intent", plan, POS)
    await second.record_done([Done("cmd-1", "c1", "throttle", "applied", "ev-1", POS)], now=20)
    await second.close()

    third = Ledger(path)
    await third.open()
    done = await third.get("cmd-1")
    assert done is not None
    assert (done.status, done.outcome, done.result_event_id, done.updated_ms) == (
        "done",
        "applied",
        "ev-1",
        20,
    )
    assert done.plan == plan  # the intent's plan is kept for the record
    await third.close()


async def test_a_second_intent_does_not_replace_the_first_plan(ledger: Ledger) -> None:
    await ledger.record_intent("c", container_id="x", action="throttle", plan={"a": 1}, position=POS, now=1)
    await ledger.record_intent("c", container_id="x", action="throttle", plan={"a": 2}, position=POS, now=2)
    entry = await ledger.get("c")
    assert entry is not None
    assert entry.plan == {"a": 1}


async def test_done_without_intent_is_recorded(ledger: Ledger) -> None:
    await ledger.record_done([Done("audit-1", "c", "pause", "audit_only", "ev", None, None)], now=5)
    entry = await ledger.get("audit-1")
    assert entry is not None
    assert (entry.status, entry.position, entry.plan) == ("done", None, None)


async def test_done_records_a_batch_in_one_go(ledger: Ledger) -> None:
    batch = [Done(f"cmd-{i}", "c", "pause", "applied", f"ev-{i}", Position("t", 0, i)) for i in range(50)]
    await ledger.record_done(batch, now=7)
    assert await ledger.count() == 50
    last = await ledger.get("cmd-49")
    assert last is not None
    assert last.position == Position("t", 0, 49)


async def test_prune_forgets_only_what_is_past_the_retention(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3", retention_ms=1_000)
    await ledger.open()
    await ledger.record_done([Done("old", "c", "pause", "applied", "e1", None)], now=1_000)
    await ledger.record_done([Done("new", "c", "pause", "applied", "e2", None)], now=1_900)
    assert await ledger.prune(now=2_500) == 1
    assert await ledger.get("old") is None
    assert await ledger.get("new") is not None
    await ledger.close()


async def test_an_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ledger = Ledger(blocker / "sub" / "l.sqlite3")
    with pytest.raises(LedgerError) as info:
        await ledger.open()
    assert str(blocker) in info.value.path
    await ledger.close()


async def test_using_a_closed_ledger_is_a_clear_error(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    with pytest.raises(LedgerError, match="not open"):
        await ledger.get("x")
    await ledger.close()
