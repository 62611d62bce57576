"""Bounded spills: where records wait, in order, for a consumer or a bus that is away.

The one way to hold back what cannot be delivered yet (DESIGN.md principle 6): ``Spill``
keeps at most ``bound`` items in memory; past it the oldest go, counted and logged (the
first drop and every ``DROP_LOG_EVERY``-th). ``JournalSpill`` also keeps its entries in an
append-only file, so a crash of the process loses none of them:

- each batch of entries is written and fsync'd before ``extend`` returns;
- each entry delivered (or dropped past the bound) appends an ack line (not fsync'd: a
  lost ack only means the entry is delivered again, and consumers dedup on event ids);
- the file is emptied once nothing waits, and rewritten when acks outnumber the bound,
  so it holds at most ~2 × ``bound`` lines;
- a journal is ``<directory>/<owner>.spill``, held by a lock on ``<owner>.lock`` for the
  owner's life; ``open()`` adopts, in order of age, the journals of owners that died (no
  one holds their lock: the kernel drops a lock with its process, even after ``kill -9``).

Blocking (files, fsync): call ``open``, ``extend`` and ``close`` of a journal from a thread.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")
# (topic, key, value): a record for a bus, as a journal keeps it.
Entry = tuple[str, str | None, bytes | None]

log = structlog.get_logger(__name__)

# Drops are logged at the first and then every 10,000th, not one line per record.
DROP_LOG_EVERY = 10_000
JOURNAL_SUFFIX = ".spill"
LOCK_SUFFIX = ".lock"
ACK_LINE = b"-\n"


class Spill(Generic[T]):
    """Items waiting in order, at most ``bound``; past it the oldest are dropped, counted."""

    def __init__(self, bound: int, *, name: str) -> None:
        if bound < 1:
            raise ValueError(f"a spill's bound must be at least 1, got {bound}")
        self.bound = bound
        self.name = name
        self._items: deque[T] = deque()
        self.spilled = 0  # items that went through the spill, in total
        self.dropped = 0  # oldest items dropped past the bound, in total

    def __len__(self) -> int:
        return len(self._items)

    def head(self) -> T:
        return self._items[0]

    def popleft(self) -> T:
        """The oldest item, delivered: it leaves the spill."""
        item = self._items.popleft()
        self._gone(1)
        return item

    def append(self, item: T) -> None:
        self.extend((item,))

    def extend(self, items: Iterable[T]) -> None:
        """Appends in order; past the bound the oldest make room (counted and logged)."""
        batch = list(items)
        dropped = 0
        for item in batch:
            if len(self._items) >= self.bound:
                self._items.popleft()
                dropped += 1
            self._items.append(item)
        self.spilled += len(batch)
        self._kept(batch)
        if dropped:
            self._gone(dropped)
            self._count_drops(dropped)

    def _count_drops(self, n: int) -> None:
        before, self.dropped = self.dropped, self.dropped + n
        if before == 0 or before // DROP_LOG_EVERY != self.dropped // DROP_LOG_EVERY:
            log.warning("spill_full_dropped_oldest", spill=self.name, bound=self.bound, dropped=self.dropped)

    def _kept(self, batch: list[T]) -> None:
        """Hook: ``batch`` was appended (a journal writes it)."""

    def _gone(self, n: int) -> None:
        """Hook: the ``n`` oldest left (delivered or dropped)."""


def _line(entry: Entry) -> bytes:
    topic, key, value = entry
    v = None if value is None else base64.b64encode(value).decode("ascii")
    return json.dumps({"t": topic, "k": key, "v": v}, separators=(",", ":")).encode() + b"\n"


def _entry(line: bytes) -> Entry:
    body = json.loads(line)
    v = body["v"]
    return str(body["t"]), body["k"], None if v is None else base64.b64decode(v)


def read_journal(path: Path) -> list[Entry]:
    """The entries of a journal not yet acked, in order. A torn last line (the writer died
    mid-write, before its fsync returned: never acknowledged to anyone) is skipped, said."""
    entries: list[Entry] = []
    acks = 0
    for number, line in enumerate(path.read_bytes().splitlines(keepends=True), 1):
        if line == ACK_LINE:
            acks += 1
            continue
        try:
            entries.append(_entry(line))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("spill_journal_line_unreadable", path=str(path), line=number, error=repr(exc)[:200])
    return entries[acks:]


class JournalSpill(Spill[Entry]):
    """A ``Spill`` of bus records also kept in ``<directory>/<owner>.spill`` (see the module)."""

    def __init__(self, directory: Path, owner: str, bound: int, *, name: str) -> None:
        super().__init__(bound, name=name)
        self.directory = directory
        self.path = directory / f"{owner}{JOURNAL_SUFFIX}"
        self._lock_path = directory / f"{owner}{LOCK_SUFFIX}"
        self._lock: int | None = None
        self._fd: int | None = None
        self._lines = 0  # entry and ack lines in the file
        self.journal_errors = 0

    def open(self) -> int:
        """Takes this owner's lock and adopts dead owners' journals; returns how many
        entries were adopted (they wait first, oldest journal first)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = _locked(self._lock_path)
        if self._lock is None:
            raise RuntimeError(f"{self._lock_path}: held by another process (owner ids must be unique)")
        if self.path.exists():  # this owner's own leftovers (an owner id used again)
            self._items.extend(read_journal(self.path))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._rewrite()
        adopted = 0
        for journal, lock in self._dead_journals():
            entries = read_journal(journal)
            self.extend(entries)  # in our journal (fsync'd) before theirs goes
            journal.unlink()
            lock_path = journal.with_suffix(LOCK_SUFFIX)
            lock_path.unlink(missing_ok=True)
            os.close(lock)
            adopted += len(entries)
            log.warning("spill_journal_adopted", spill=self.name, path=str(journal), entries=len(entries))
        return adopted

    def _dead_journals(self) -> Iterator[tuple[Path, int]]:
        """Other owners' journals whose lock nobody holds, oldest first, each locked by us."""
        others = [p for p in self.directory.glob(f"*{JOURNAL_SUFFIX}") if p != self.path]
        for journal in sorted(others, key=_mtime):
            lock = _locked(journal.with_suffix(LOCK_SUFFIX))
            if lock is None:
                continue  # its owner lives
            if journal.exists():
                yield journal, lock
            else:  # adopted by another process meanwhile
                journal.with_suffix(LOCK_SUFFIX).unlink(missing_ok=True)
                os.close(lock)

    def close(self) -> None:
        """Closes the file; what still waits stays in it for the next ``open`` of any owner."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not len(self):
            self.path.unlink(missing_ok=True)
            self._lock_path.unlink(missing_ok=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _kept(self, batch: list[Entry]) -> None:
        if batch:
            self._write(b"".join(_line(e) for e in batch), sync=True, lines=len(batch))

    def _gone(self, n: int) -> None:
        if not len(self):
            self._truncate()
        elif self._lines > 2 * self.bound:
            self._rewrite()
        else:
            self._write(ACK_LINE * n, sync=False, lines=n)

    def _write(self, data: bytes, *, sync: bool, lines: int) -> None:
        if self._fd is None:
            return  # not opened: memory only
        try:
            os.write(self._fd, data)
            if sync:
                os.fsync(self._fd)
        except OSError as exc:  # a full or broken disk: the entries still wait in memory
            self.journal_errors += 1
            log.exception("spill_journal_write_failed", spill=self.name, path=str(self.path), error=repr(exc))
            return
        self._lines += lines

    def _truncate(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            self._lines = 0

    def _rewrite(self) -> None:
        """The file becomes exactly what waits (written aside, fsync'd, renamed over)."""
        if self._fd is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(b"".join(_line(e) for e in self._items))
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        tmp.replace(self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._lines = len(self._items)


def _locked(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path`` (made if missing); None when another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
