"""Bounded spills (common.spill): in order, bounded with counted drops; a journal keeps what
waits across a kill -9 of its process, and the next owner adopts it, in order, once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.spill import JournalSpill, Spill, read_journal

ROOT = Path(__file__).resolve().parents[3]


def test_a_spill_keeps_order_and_counts_what_its_bound_drops() -> None:
    spill: Spill[int] = Spill(3, name="t")
    spill.extend(range(5))
    assert [spill.popleft() for _ in range(len(spill))] == [2, 3, 4]
    assert (spill.spilled, spill.dropped) == (5, 2)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="bound must be at least 1"):
        Spill(0, name="t")


def _journal(directory: Path, owner: str, bound: int = 100) -> JournalSpill:
    spill = JournalSpill(directory, owner, bound, name="t")
    spill.open()
    return spill


def test_entries_survive_a_kill_9_and_the_next_owner_adopts_them_in_order(tmp_path: Path) -> None:
    """A real process spills 5 records, delivers 2, and is SIGKILLed; another adopts the 3."""
    code = (
        "import os, signal, sys; from pathlib import Path; from common.spill import JournalSpill\n"
        "s = JournalSpill(Path(sys.argv[1]), 'dead', 100, name='t'); s.open()\n"
        "s.extend([('audit', f'k{i}', f'v{i}'.encode()) for i in range(5)]); s.popleft(); s.popleft()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=False, timeout=60)
    assert proc.returncode == -9
    heir = _journal(tmp_path, "heir")
    assert [heir.popleft() for _ in range(len(heir))] == [
        ("audit", f"k{i}", f"v{i}".encode()) for i in (2, 3, 4)
    ]
    assert not (tmp_path / "dead.spill").exists() and not (tmp_path / "dead.lock").exists()
    assert read_journal(heir.path) == []  # delivered: the heir's journal is empty


def test_a_live_owners_journal_is_never_adopted(tmp_path: Path) -> None:
    live = _journal(tmp_path, "live")
    live.extend([("audit", "k", b"v")])
    other = _journal(tmp_path, "other")
    assert len(other) == 0 and len(live) == 1
    live.close()  # not delivered: kept for the next owner
    assert len(_journal(tmp_path, "next")) == 1


def test_tombstones_and_keyless_records_round_trip(tmp_path: Path) -> None:
    first = _journal(tmp_path, "a")
    first.extend([("policies", "cid", None), ("audit", None, b"\xff\x00")])
    first.close()
    assert list(_journal(tmp_path, "b")._items) == [("policies", "cid", None), ("audit", None, b"\xff\x00")]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spill = _journal(tmp_path, "a")
    spill.extend([("audit", "k", b"v")])
    spill.close()
    with (tmp_path / "a.spill").open("ab") as f:
        f.write(b'{"t":"audit","k":"torn')
    assert read_journal(tmp_path / "a.spill") == [("audit", "k", b"v")]


def test_the_journal_stays_bounded_while_records_trickle_through(tmp_path: Path) -> None:
    """Never empty (one always waits), so only the rewrite keeps the file small."""
    spill = _journal(tmp_path, "a", bound=10)
    spill.append(("audit", "k", b"first"))
    for i in range(1000):
        spill.append(("audit", "k", str(i).encode()))
        spill.popleft()
    lines = (tmp_path / "a.spill").read_bytes().splitlines(keepends=True)
    assert len(lines) <= 2 * 10 + 1
    assert read_journal(tmp_path / "a.spill") == [("audit", "k", b"999")]


def test_past_the_bound_the_journal_drops_the_oldest_too(tmp_path: Path) -> None:
    spill = _journal(tmp_path, "a", bound=2)
    spill.extend([("audit", "k", str(i).encode()) for i in range(5)])
    assert spill.dropped == 3
    assert read_journal(spill.path) == [("audit", "k", b"3"), ("audit", "k", b"4")]
