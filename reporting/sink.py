"""The sink: every topic into ClickHouse, in column batches, at least once, stored once.

``add(record)`` turns a record into rows of the right tables (columns, not row
objects); full batches are inserted in the background while the next one fills, and
``flush()`` drains that pipeline, publishes the batches' dead letters and only then
commits the consumer's offsets, so a crash at any point re-delivers what was not
stored. Re-delivered events keep their ``event_id``, the tables dedupe on it
(ReplacingMergeTree keys end with it) and every query reads them with FINAL, so a
retry or a replay stores and counts each event once.

When the store is unavailable the insert is retried per ``common.retry.STORE`` and
the loop stops consuming once the next batch is full: the buffer never grows past
``max_inflight + 1`` batches and the broker keeps the rest. Messages that do not decode go to the
dead-letter topic.
"""

from __future__ import annotations

import asyncio
import re
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, cast

import orjson
import structlog
from prometheus_client import CollectorRegistry

from common.retry import STORE, Backoff, RetryPolicy, log_recovered, pause
from reporting import rows as R
from reporting.exceptions import ReportingError, SinkAbandonedError, StoreQueryError, StoreUnavailableError
from reporting.sink_metrics import SinkMetrics
from reporting.tables import COLUMNS
from schemas import (
    TOPICS,
    ActionResult,
    AuditEvent,
    Bus,
    ConnectEvent,
    Consumer,
    DeadLetter,
    EnforcementCommand,
    EventDecodeError,
    ExecEvent,
    ExitEvent,
    LimitsSample,
    MetricSample,
    PolicyEvent,
    ProcessSnapshot,
    Record,
    RecordBatch,
    Store,
    Violation,
    batches_of,
    dead_letter,
    decode,
    encode,
    stable_id,
)
from schemas import topics as t

log = structlog.get_logger(__name__)

COMPONENT = "sink"
DEFAULT_GROUP = "sandguard-sink"
# 100,000 rows per batch: ~35 MB of metric columns, one insert per table per flush;
# at 200,000 rows/s that is two flushes a second, few enough parts for the engine.
MAX_BATCH_ROWS = 100_000
# 1 s: the history is at most about a second behind the topics at low volume.
MAX_BATCH_DELAY_S = 1.0
# Batches are inserted in the background while the next one fills, two at a time (the
# store's two insert connections: one parses while the other writes; memory stays within
# three batches); the offsets are committed when the pipeline is drained, at least every
# 5 s: a crash re-delivers at most ~5 s of records, which the tables store once anyway.
INSERTS_IN_FLIGHT = 2
COMMIT_INTERVAL_S = 5.0
# Records per getmany: a fifth of a batch, so a batch fills in a few polls.
POLL_RECORDS = 20_000
POLL_TIMEOUT_MS = 200
# A statement the engine rejects is retried this often before the batch is split
# record by record to isolate the rows it refuses (those go to the dead-letter topic).
QUERY_RETRIES = 3
# Metric samples whose JSON carries this exact marker (what schemas.encode writes) go to
# the engine as they are; anything else takes the model path.
METRIC_MARK = b'"kind":"metric"'
# The regex engine's literal search: ~310 ns a sample from memory, where ``in`` takes ~720
# (JSON is full of the quotes and letters that make bytes.find's skips short; measured).
_FIND_MARK = re.compile(re.escape(METRIC_MARK)).search
RAW_METRICS_TABLE = "metrics_json"
# Metric samples go to the engine joined 5,000 at a time (~4 MB): one join of a 100,000-row
# batch (~75 MB) costs 0.7-0.9 us a row in fresh pages, in chunks 0.25 us (measured).
JOIN_ROWS = 5_000
# The engine's JSON reader made as strict as the models: no unknown fields, no nulls for
# non-nullable fields, no numbers read as strings or bools as numbers, no errors skipped.
STRICT_JSON = {
    "input_format_skip_unknown_fields": 0,
    "input_format_json_ignore_unknown_keys_in_named_tuple": 0,
    "input_format_null_as_default": 0,
    "input_format_json_read_numbers_as_strings": 0,
    "input_format_json_read_bools_as_numbers": 0,
    "input_format_json_read_bools_as_strings": 0,
    "input_format_json_read_objects_as_strings": 0,
    "input_format_json_read_arrays_as_strings": 0,
    "input_format_allow_errors_num": 0,
    "input_format_allow_errors_ratio": 0,
    # One parsing thread: parallel parsing costs ~40 % more CPU per row (measured: 2.9 vs
    # 4.1 us/row), and the other core is busy consuming the next batch.
    "input_format_parallel_parsing": 0,
}
RAW_INSERT_SETTINGS = {
    **STRICT_JSON,
    # No ReplacingMergeTree pass over each inserted block (~0.5 us of ~4 us a row, measured):
    # a duplicate within one batch is like one across batches, removed by merges and never
    # counted by queries, which all read with FINAL.
    "optimize_on_insert": 0,
}


class _Batch:
    """Column buffers per table, with the records each row came from (to isolate bad rows).

    Records are numbered in the order they were added; they stay in the consumer's
    ``RecordBatch`` lists (no object per record) and ``record(i)`` rebuilds one on demand.
    """

    def __init__(self) -> None:
        self.columns: dict[str, list[list[Any]]] = {n: [[] for _ in cols] for n, cols in COLUMNS.items()}
        self.sources: dict[str, list[int]] = {n: [] for n in COLUMNS}
        self.raw: list[bytes] = []  # metric samples as they came (see METRIC_MARK)
        self.raw_ranges: list[tuple[int, int]] = []  # [start, stop) record numbers of the raw rows
        self.parts: list[RecordBatch] = []
        self.starts: list[int] = []  # the number of each part's first record
        self.size = 0  # records
        self.deadletters: list[DeadLetter] = []
        self.rows = 0
        self.started = time.monotonic()

    def append(self, part: RecordBatch) -> int:
        """Adds a part's records (not their rows); returns the number of its first record."""
        start = self.size
        self.parts.append(part)
        self.starts.append(start)
        self.size += len(part)
        return start

    def add_raw(self, values: Sequence[bytes], start: int) -> None:
        """Metric samples in their wire form, from consecutive records numbered from ``start``."""
        self.raw.extend(values)
        self.raw_ranges.append((start, start + len(values)))
        self.rows += len(values)

    def record(self, i: int) -> Record:
        p = bisect_right(self.starts, i) - 1
        return self.parts[p].record(i - self.starts[p])

    def add_row(self, table: str, row: Sequence[Any], source: int) -> None:
        for col, value in zip(self.columns[table], row, strict=True):
            col.append(value)
        self.sources[table].append(source)
        self.rows += 1


class Sink:
    """Consumes ``topics`` in ``group`` and stores them; ``run()`` until ``stop()``."""

    def __init__(
        self,
        bus: Bus,
        store: Store,
        *,
        registry: CollectorRegistry,
        group: str = DEFAULT_GROUP,
        topics: Sequence[str] = tuple(TOPICS),
        from_beginning: bool = True,
        max_rows: int = MAX_BATCH_ROWS,
        max_delay_s: float = MAX_BATCH_DELAY_S,
        retry: RetryPolicy = STORE,
        max_inflight: int = INSERTS_IN_FLIGHT,
    ) -> None:
        if max_inflight < 1:
            raise ValueError(f"max_inflight must be at least 1, not {max_inflight}")
        self._bus = bus
        self._store = store
        self._group = group
        self._topics = tuple(topics)
        self._from_beginning = from_beginning
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.max_inflight = max_inflight
        self._retry = retry
        self.metrics = SinkMetrics(registry)
        self._consumer: Consumer | None = None
        self._batch = _Batch()
        self._inflight: list[asyncio.Task[None]] = []  # inserts of previous batches, oldest first
        self._uncommitted: list[_Batch] = []  # inserted (or being inserted), not yet committed
        self._last_commit = time.monotonic()
        self._stopping = asyncio.Event()
        self.committed_records = 0
        self.idle_polls = 0

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._consumer = await self._bus.consumer(
            self._topics, group=self._group, from_beginning=self._from_beginning
        )
        log.info("sink_started", group=self._group, topics=len(self._topics))

    async def run(self, *, until_idle_s: float | None = None) -> None:
        """Polls, adds and flushes until ``stop()`` (or ``until_idle_s`` without a record);
        the last batch is flushed on the way out."""
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
        idle_limit = None if until_idle_s is None else max(1, int(until_idle_s * 1000 / POLL_TIMEOUT_MS))
        try:
            while not self._stopping.is_set():
                await self.poll(self._consumer)
                if idle_limit is not None and self.idle_polls >= idle_limit:
                    break
            await self.flush()
        except SinkAbandonedError as exc:
            log.warning("sink_stopped_uncommitted", records=exc.records)
            # The other inserts give up too (they see the stop); their outcome is that warning.
            await asyncio.gather(*self._inflight, return_exceptions=True)
            self._inflight = []

    async def poll(self, consumer: Consumer) -> int:
        """One poll: adds what came; hands a full or due batch to the background insert."""
        batches = await consumer.getmany_batches(timeout_ms=POLL_TIMEOUT_MS, max_records=POLL_RECORDS)
        got = self.add_batches(batches)
        self.idle_polls = 0 if got else self.idle_polls + 1
        if self._batch.rows >= self.max_rows or self._due():
            await self._hand_off()
        elif self._inflight and all(t.done() for t in self._inflight) and self._batch.rows == 0:
            await self.flush()  # idle: commit what the background inserts finished
        return got

    async def _hand_off(self) -> None:
        """Starts inserting the current batch in the background (once fewer than
        ``max_inflight`` are: a store that is down stops the consuming)."""
        await self._start_insert()
        self.metrics.buffered.set(sum(b.rows for b in self._uncommitted))
        await asyncio.sleep(0)  # let it reach its thread now: polls that find data never yield
        if time.monotonic() - self._last_commit >= COMMIT_INTERVAL_S:
            await self.flush()

    def _due(self) -> bool:
        b = self._batch
        return bool(b.size) and time.monotonic() - b.started >= self.max_delay_s

    async def stop(self) -> None:
        """Asks ``run()`` to flush and return; then leaves the group."""
        self._stopping.set()

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    # --- add ------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        """Buffers the rows of one record; a record that does not decode becomes a dead letter."""
        self.add_batches(batches_of((record,)))

    def add_batches(self, batches: Sequence[RecordBatch]) -> int:
        """``add`` for what a poll returned; returns the number of records. A part of metric
        samples all in their wire form goes to the engine whole, without a look at each."""
        b = self._batch
        if batches and not b.size:
            b.started = time.monotonic()  # a batch's age counts from its first record
        before = b.size
        for part in batches:
            start = b.append(part)
            if part.topic == t.METRICS and _all_marked(part.values):
                b.add_raw(cast("list[bytes]", part.values), start)
            else:
                for i, value in enumerate(part.values):
                    self._add_one(part, i, value, start + i)
        return b.size - before

    def _add_one(self, part: RecordBatch, i: int, value: bytes | None, idx: int) -> None:
        if part.topic == t.METRICS and value is not None and METRIC_MARK in value:
            self._batch.add_raw((value,), idx)
        else:
            self._add_parsed(part.record(i), idx)

    def _add_parsed(self, record: Record, idx: int) -> None:
        if record.topic == t.METRICS and record.value is not None:
            try:
                row = R.metric_row(orjson.loads(record.value))
            except orjson.JSONDecodeError:
                row = None
            if row is not None:
                self._batch.add_row("metrics", row, idx)
                return
        try:
            self._add_slow(record, idx)
        except (EventDecodeError, _Unstorable) as exc:
            self._dead(record, str(exc), idx)

    def _add_slow(self, record: Record, idx: int) -> None:
        b = self._batch
        if record.value is None:
            if record.topic != t.POLICIES or not record.key:
                raise _Unstorable(f"{record.topic}: a tombstone is only meaningful on {t.POLICIES}")
            row = R.tombstone_row(
                record.topic, record.key, record.partition, record.offset, record.timestamp_ms
            )
            b.add_row("sandboxes", row, idx)
            return
        event = decode(record.topic, record.value)  # strict: an event without its event_id fails here
        for table, row in _rows_of(event, record.offset):
            b.add_row(table, row, idx)

    def _dead(self, record: Record, error: str, idx: int) -> None:
        if record.topic == t.DEADLETTER:
            # A dead letter that is itself broken is stored as-is rather than re-published (no loop).
            dl = self._dead_letter(record, error)
            self._batch.add_row("deadletters", R.deadletter_row(dl), idx)
        else:
            self._batch.deadletters.append(self._dead_letter(record, error))
        self.metrics.deadletters.labels(record.topic).inc()
        log.warning("dead_letter", topic=record.topic, offset=record.offset, error=error[:200])

    def _dead_letter(self, record: Record, error: str) -> DeadLetter:
        dl = dead_letter(
            COMPONENT, record.topic, record.value, error,
            key=record.key, partition=record.partition, offset=record.offset,
        )  # fmt: skip
        # Stable id: a replay dead-letters the same message with the same id, stored once.
        eid = stable_id("deadletter", record.topic, record.partition, record.offset, record.key)
        return dl.model_copy(update={"event_id": eid})

    # --- flush ----------------------------------------------------------------------

    async def flush(self) -> None:
        """Inserts what is buffered and waits for the insert in flight (retrying while the store
        is down), publishes the dead letters, then commits the consumer's offsets."""
        if self._batch.size:
            await self._start_insert()
        await self._wait_inflight(0)
        done, self._uncommitted = self._uncommitted, []
        if not done:
            return
        letters = [dl for b in done for dl in b.deadletters]
        for dl in letters:
            await self._bus.publish(t.DEADLETTER, dl.key, encode(dl))
        if letters:
            await self._bus.flush()
        if self._consumer is not None:
            await self._consumer.commit()
        self._last_commit = time.monotonic()
        for b in done:
            self._account(b)
        self.metrics.buffered.set(self._batch.rows)

    async def _start_insert(self) -> None:
        """Moves the current batch to an insert in the background, once a slot is free."""
        await self._wait_inflight(self.max_inflight - 1)
        batch, self._batch = self._batch, _Batch()
        self._uncommitted.append(batch)
        self._inflight.append(asyncio.create_task(self._insert_batch(batch)))

    async def _wait_inflight(self, most: int) -> None:
        """Waits, oldest first, until at most ``most`` inserts are in flight (raising what one raised)."""
        while len(self._inflight) > most:
            await self._inflight[0]
            self._inflight.pop(0)

    async def _insert_batch(self, b: _Batch) -> None:
        """Every table's rows of one batch (no commit: that is flush's)."""
        if b.raw:
            await self._insert_raw_metrics(b)
        for table in COLUMNS:
            if b.sources[table]:
                await self._insert_table(b, table)

    def _account(self, b: _Batch) -> None:
        self.metrics.batches.inc()
        self.committed_records += b.size
        counts: Counter[str] = Counter()
        for part in b.parts:
            counts[part.topic] += len(part)
        for topic, n in counts.items():
            self.metrics.records.labels(topic).inc(n)
        newest = max(max(part.timestamps_ms) for part in b.parts)
        self.metrics.lag.set(max(0.0, time.time() - newest / 1000))

    async def _insert_raw_metrics(self, b: _Batch) -> None:
        """The metric samples' JSON straight to the engine; if it refuses any, all go the model way."""
        raw = b.raw

        def insert() -> None:  # joined in the thread: the event loop keeps consuming meanwhile
            self._store.insert_raw(
                RAW_METRICS_TABLE, _lines(raw), fmt="JSONEachRow", settings=RAW_INSERT_SETTINGS
            )

        if not await self._retrying("metrics", insert, len(b.raw), query_retries=1):
            log.info("raw_metrics_refused", rows=len(b.raw))
            for start, stop in b.raw_ranges:
                for src in range(start, stop):
                    self._batch_add_parsed(b, src)
        b.raw, b.raw_ranges = [], []

    def _batch_add_parsed(self, b: _Batch, src: int) -> None:
        current, self._batch = self._batch, b
        try:
            self._add_parsed(b.record(src), src)
        finally:
            self._batch = current

    async def _insert_table(self, b: _Batch, table: str) -> None:
        def insert() -> None:
            self._store.insert_columns(table, b.columns[table], COLUMNS[table])

        if not await self._retrying(table, insert, len(b.sources[table]), query_retries=QUERY_RETRIES):
            await self._isolate(b, table)

    async def _retrying(self, table: str, insert: Any, rows: int, *, query_retries: int) -> bool:
        """Runs ``insert`` until it succeeds (True) or the engine refused it ``query_retries`` times
        (False); while the store is unavailable it waits per the retry policy (STORE by default)."""
        backoff, refused = Backoff(self._retry), 0
        error: ReportingError
        while True:
            started = time.perf_counter()
            try:
                await asyncio.to_thread(insert)
            except StoreQueryError as exc:
                refused += 1
                self.metrics.retries.labels("rejected").inc()
                if refused >= query_retries:
                    log.warning("insert_rejected", table=table, attempt=refused, error=exc.reason[:300])
                    return False
                error, event = exc, "insert_rejected"
            except StoreUnavailableError as exc:
                self.metrics.store_up.set(0)
                self.metrics.retries.labels("unavailable").inc()
                error, event = exc, "store_unavailable"
            else:
                self.metrics.store_up.set(1)
                self.metrics.insert_seconds.labels(table).observe(time.perf_counter() - started)
                self.metrics.rows.labels(table).inc(rows)
                log_recovered(log, "store_recovered", backoff, table=table)
                return True
            if self._stopping.is_set():
                raise SinkAbandonedError(sum(b.size for b in (*self._uncommitted, self._batch)))
            await pause(log, event, backoff, error, table=table)

    async def _isolate(self, b: _Batch, table: str) -> None:
        """Inserts the table's rows record by record; a record whose rows are refused is dead-lettered."""
        by_source: dict[int, list[int]] = {}
        for i, src in enumerate(b.sources[table]):
            by_source.setdefault(src, []).append(i)
        for src, idxs in by_source.items():
            cols = [[col[i] for i in idxs] for col in b.columns[table]]
            try:
                await asyncio.to_thread(self._store.insert_columns, table, cols, COLUMNS[table])
                self.metrics.rows.labels(table).inc(len(idxs))
            except StoreQueryError as exc:
                record = b.record(src)
                b.deadletters.append(self._dead_letter(record, f"rejected by {table}: {exc.reason[:500]}"))
                self.metrics.deadletters.labels(record.topic).inc()


def _lines(values: list[bytes]) -> Iterator[bytes]:
    """JSONEachRow in chunks of JOIN_ROWS lines."""
    for i in range(0, len(values), JOIN_ROWS):
        yield b"\n".join(values[i : i + JOIN_ROWS]) + b"\n"


def _all_marked(values: Sequence[bytes | None]) -> bool:
    """Every value carries METRIC_MARK (the search mapped in C: no Python per value)."""
    try:
        return all(map(_FIND_MARK, cast("Sequence[bytes]", values)))
    except TypeError:  # a None value (a tombstone) among them
        return False


class _Unstorable(Exception):
    """A message that decodes but cannot be stored exactly once (e.g. it has no event id)."""


def _rows_of(event: Any, offset: int = -1) -> list[tuple[str, R.Row]]:
    if isinstance(event, MetricSample):
        row = R.metric_row(orjson.loads(event.model_dump_json()))
        if row is None:
            raise _Unstorable("metric values out of range for the metrics table (negative or too large)")
        return [("metrics", row)]
    if isinstance(event, LimitsSample):
        return [("limits", R.limits_row(event))]
    if isinstance(event, ProcessSnapshot):
        head, procs = R.process_rows(event)
        return [("process_snapshots", head), *(("processes", p) for p in procs)]
    simple: list[tuple[type[Any], str, Any]] = [
        (AuditEvent, "audit", lambda e: R.audit_row(e, offset)),
        (PolicyEvent, "sandboxes", R.sandbox_row),
        (Violation, "violation_events", R.violation_row),
        (EnforcementCommand, "commands", R.command_row),
        (ActionResult, "actions", R.action_row),
        (DeadLetter, "deadletters", R.deadletter_row),
        (ExecEvent, "exec_events", R.exec_row),
        (ExitEvent, "exit_events", R.exit_row),
        (ConnectEvent, "connect_events", R.connect_row),
    ]
    for cls, table, fn in simple:
        if isinstance(event, cls):
            return [(table, fn(event))]
    raise _Unstorable(f"no table for {type(event).__name__}")
