"""Kafka backend of ``schemas.Bus`` on aiokafka, with safe settings made explicit.

aiokafka's defaults lose data for this use (acks=1, no idempotence, auto-commit of
offsets that were fetched rather than processed), so every one is set here:
idempotent producer with acks=all, lz4 compression, batching by size and time;
consumers with auto-commit off that commit what the caller marked done, including
when partitions are revoked in a rebalance.

A ``namespace`` prefixes every topic and group on the wire, so tests (and tenants)
share a broker without sharing topics; records come back under canonical names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from sandguard.bus.exceptions import (
    BusError,
    BusNotStartedError,
    BusUnavailableError,
    DeliveryError,
    TopicCreationError,
)
from sandguard.bus.security import KafkaSecurity
from schemas.bus import Consumer, Record, RecordBatch, decode_key
from schemas.topics import TOPICS

# The producers' partitioner (aiokafka's default, murmur2 as Java's): where a key's records go.
_PARTITIONER = DefaultPartitioner()
# A tail's fetch waits at most 20 ms for records (aiokafka's default is 500): the exec gate's
# reader is made per creation and waits on it; a fetch that returns empty is just asked again.
TAIL_FETCH_WAIT_MS = 20

log = structlog.get_logger(__name__)

# Batching: up to 20 ms or 256 KiB per partition, whichever first. At 200 containers
# × 3 events/s that is ~12 events per batch per send, enough to amortise requests.
LINGER_MS = 20
MAX_BATCH_BYTES = 256 * 1024
# A publish waits this long for buffer room before failing (the collector keeps its own buffer).
REQUEST_TIMEOUT_MS = 30_000
# aiokafka makes an object per record. Taken 500 at a time (under the GC's first threshold
# of 700 allocations) they die young, in cheap first-generation collections; 20,000 at a
# time live long enough to reach the oldest generation, whose full collections then cost
# ~1 us a record (measured: event-loop CPU 3.5 -> 2.4 us a record in bench/sink.py).
GC_CHUNK_RECORDS = 500
_OFFSET, _TIMESTAMP = attrgetter("offset"), attrgetter("timestamp")
_Columns = tuple[list[int], list[int], list[bytes | None], list[bytes | None]]  # offsets, times, keys, values
_KEY, _VALUE = attrgetter("key"), attrgetter("value")
# start() gives up on brokers that do not answer after 15 s: aiokafka's own bootstrap
# fails within ~1 s when nothing listens, and a broker that is up answers metadata within
# a second or two; a black-holed address would otherwise hang for request_timeout (30 s).
START_TIMEOUT_S = 15.0
# Kafka's TOPIC_ALREADY_EXISTS: another process created it first, which is what we wanted.
TOPIC_ALREADY_EXISTS = 36


def _producer_options() -> dict[str, Any]:
    return {
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": "lz4",
        "linger_ms": LINGER_MS,
        "max_batch_size": MAX_BATCH_BYTES,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
    }


async def ensure_topics(
    bootstrap: str,
    *,
    namespace: str = "",
    partitions: int | None = None,
    names: Iterable[str] | None = None,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Creates the declared topics (schemas.topics) that do not exist yet, with their
    declared configs; idempotent and safe against concurrent creators. Returns the
    names it created; raises TopicCreationError when the broker refuses one."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(security or KafkaSecurity()).client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [TOPICS[n] for n in (names or TOPICS)]
        new = [
            NewTopic(namespace + s.name, partitions or s.partitions, 1, topic_configs=s.config())
            for s in wanted
            if namespace + s.name not in existing
        ]
        if not new:
            return []
        response = await admin.create_topics(new)
        created = []
        for topic, code, *message in response.topic_errors:
            if code == 0:
                created.append(topic)
            elif code != TOPIC_ALREADY_EXISTS:
                raise TopicCreationError(topic, code, message[0] if message else None)
        return created
    finally:
        await admin.close()


async def topic_partitions(
    bootstrap: str, topic: str, *, security: KafkaSecurity | None = None
) -> int | None:
    """How many partitions ``topic`` (its name on the wire) has; None when it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(security or KafkaSecurity()).client_options())
    await admin.start()
    try:
        (found,) = await admin.describe_topics([topic])
        return len(found["partitions"]) if found["error_code"] == 0 and found["partitions"] else None
    finally:
        await admin.close()


async def drop_namespace(
    bootstrap: str, namespace: str, *, security: KafkaSecurity | None = None
) -> list[str]:
    """Deletes every topic named with ``namespace`` (a test's or a benchmark's own); returns
    their names. An empty namespace is refused: it would name every topic of the broker."""
    if not namespace:
        raise ValueError("drop_namespace needs a namespace (an empty one names every topic)")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(security or KafkaSecurity()).client_options())
    await admin.start()
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(namespace)]
        if mine:
            await admin.delete_topics(mine)
        return mine
    finally:
        await admin.close()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: KafkaConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._consumer.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class KafkaConsumer:
    """``schemas.Consumer`` over AIOKafkaConsumer with manual, processed-only commits."""

    def __init__(self, bus: KafkaBus, topics: Sequence[str], group: str, from_beginning: bool) -> None:
        self._ns = bus.namespace
        self._raw = AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap,
            group_id=self._ns + group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            isolation_level="read_committed",
            max_poll_records=bus.max_poll_records,
            **bus.security.client_options(),
        )
        self._topics = [self._ns + t for t in topics]
        self._returned: dict[TopicPartition, int] = {}  # next offset after what getmany returned
        self._done: dict[TopicPartition, int] = {}  # marked done by commit(), not yet committed

    async def start(self) -> None:
        self._raw.subscribe(self._topics, listener=_Listener(self))
        await self._raw.start()

    async def getmany(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[Record]:
        batches = await self._raw.getmany(timeout_ms=timeout_ms, max_records=max_records)
        out: list[Record] = []
        cut = len(self._ns)
        for tp, msgs in batches.items():
            topic = tp.topic[cut:]
            for m in msgs:
                out.append(Record(topic, m.partition, m.offset, decode_key(m.key), m.value, m.timestamp))
            if msgs:
                self._returned[tp] = msgs[-1].offset + 1
        return out

    async def getmany_batches(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[RecordBatch]:
        """Taken from aiokafka in chunks of GC_CHUNK_RECORDS, each turned into lists at once."""
        columns: dict[TopicPartition, _Columns] = {}
        left, wait = max_records, timeout_ms
        while left > 0:
            chunk = await self._raw.getmany(timeout_ms=wait, max_records=min(left, GC_CHUNK_RECORDS))
            if not chunk:
                break
            for tp, msgs in chunk.items():
                if msgs:
                    left -= self._add_columns(columns, tp, msgs)
            wait = 0  # then only what is already fetched
        cut = len(self._ns)
        return [RecordBatch(tp.topic[cut:], tp.partition, *cols) for tp, cols in columns.items()]

    def _add_columns(self, columns: dict[TopicPartition, _Columns], tp: TopicPartition, msgs: Any) -> int:
        offsets, timestamps, keys, values = columns.setdefault(tp, ([], [], [], []))
        # map(attrgetter) fills each list in C: ~20 ns a record, where a Record is ~800 ns.
        offsets.extend(map(_OFFSET, msgs))
        timestamps.extend(map(_TIMESTAMP, msgs))
        keys.extend(map(_KEY, msgs))
        values.extend(map(_VALUE, msgs))
        self._returned[tp] = offsets[-1] + 1
        return len(msgs)

    async def commit(self) -> None:
        self._done.update(self._returned)
        await self.commit_done(None)

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Before a rebalance takes partitions away: commit what was done on them, and
        forget what was only fetched (the next owner gets those records again)."""
        try:
            await self.commit_done(partitions)
        finally:
            for tp in partitions:
                self._returned.pop(tp, None)
                self._done.pop(tp, None)

    async def commit_done(self, only: set[TopicPartition] | None) -> None:
        """Commits what was marked done (for ``only`` those partitions), if still assigned."""
        assigned = self._raw.assignment()
        offsets = {
            tp: off for tp, off in self._done.items() if tp in assigned and (only is None or tp in only)
        }
        if not offsets:
            return
        await self._raw.commit(offsets)
        for tp in offsets:
            self._done.pop(tp, None)
            if only is not None:
                self._returned.pop(tp, None)

    async def stop(self) -> None:
        try:
            await self.commit_done(None)
        except KafkaError as exc:
            log.warning("commit_on_stop_failed", error=str(exc))
        await self._raw.stop()


class KafkaTail:
    """Reads ``topics`` from where they end when ``start()`` returns, with no consumer group
    (nothing committed): every partition assigned and its end offset resolved before
    ``start()`` returns, so a record published after that is never skipped. (A group
    consumer starting at "latest" resolves the end only once it has its partitions, seconds
    later, and skips what was published meanwhile.)

    ``key`` narrows it to the one partition that key's records go to (the producers' default
    partitioner); ``since_ms`` starts it at the first record of that time or later
    (``offsets_for_times``) instead of the end. The exec gate reads one container's audit
    partition from just before it asks, never the whole topic."""

    def __init__(
        self, bus: KafkaBus, topics: Sequence[str], *, key: str | None = None, since_ms: int | None = None
    ) -> None:
        self._bus = bus
        self._ns = bus.namespace
        self._topics = [self._ns + t for t in topics]
        self._key = key
        self._since_ms = since_ms
        self._raw: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        parts = await self._partitions()
        raw = self._raw = AIOKafkaConsumer(
            bootstrap_servers=self._bus.bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=TAIL_FETCH_WAIT_MS, isolation_level="read_committed",
            **self._bus.security.client_options(),
        )  # fmt: skip
        await raw.start()
        raw.assign(parts)
        # The ends first: a record written after them is read whatever offsets_for_times says.
        ends = await raw.end_offsets(parts)
        since = (
            {}
            if self._since_ms is None
            else await raw.offsets_for_times(dict.fromkeys(parts, self._since_ms))
        )
        for tp in parts:
            found = since.get(tp)
            raw.seek(tp, ends[tp] if found is None else found.offset)

    async def _partitions(self) -> list[TopicPartition]:
        parts = []
        for topic in self._topics:
            n = await topic_partitions(self._bus.bootstrap, topic, security=self._bus.security)
            if n is None:
                raise BusError(f"{topic}: no such topic (create them: sandguard topics create)")
            every = list(range(n))
            chosen = every if self._key is None else [_PARTITIONER(self._key.encode(), every, every)]
            parts += [TopicPartition(topic, p) for p in chosen]
        return parts

    async def getmany(self, *, timeout_ms: int = 1000) -> list[Record]:
        if self._raw is None:
            raise BusNotStartedError("KafkaTail.getmany")
        batches = await self._raw.getmany(timeout_ms=timeout_ms)
        cut = len(self._ns)
        return [Record(tp.topic[cut:], m.partition, m.offset, decode_key(m.key), m.value, m.timestamp)
                for tp, msgs in batches.items() for m in msgs]  # fmt: skip

    async def stop(self) -> None:
        raw, self._raw = self._raw, None
        if self in self._bus._consumers:  # its bus stops it otherwise (this module's own list)
            self._bus._consumers.remove(self)
        if raw is not None:
            await raw.stop()


class KafkaBus:
    """``schemas.Bus`` on a Kafka cluster."""

    def __init__(
        self,
        bootstrap: str,
        *,
        namespace: str = "",
        create_topics: bool = True,
        partitions: int | None = None,
        max_poll_records: int = 2000,
        producer_options: dict[str, Any] | None = None,
        security: KafkaSecurity | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = security or KafkaSecurity()
        self.start_timeout_s = start_timeout_s
        self.namespace = namespace
        self.max_poll_records = max_poll_records
        self._create_topics = create_topics
        self._partitions = partitions
        self._producer_options = {**_producer_options(), **(producer_options or {})}
        self._producer: AIOKafkaProducer | None = None
        self._confirming: AIOKafkaProducer | None = None  # deliver's, made at its first use
        self._confirming_lock = asyncio.Lock()
        self._consumers: list[KafkaConsumer | KafkaTail] = []
        self._pending: set[asyncio.Future[Any]] = set()
        self._failures: list[BaseException] = []  # since the last flush
        self.delivery_errors = 0

    @property
    def is_running(self) -> bool:
        """Between a successful start() and stop()."""
        return self._producer is not None

    async def start(self) -> None:
        """Checks the security settings, creates the declared topics (unless told not to)
        and connects the producer; idempotent. Raises BusUnavailableError, at once, when the
        brokers cannot be reached (KafkaSecurityError when TLS or the login fails)."""
        if self._producer is not None:
            return
        await self.security.verify(self.bootstrap)  # a bad password or CA: a clear error, now
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, **self.security.client_options(), **self._producer_options
        )
        try:
            async with asyncio.timeout(self.start_timeout_s):
                if self._create_topics:
                    await ensure_topics(
                        self.bootstrap, namespace=self.namespace, partitions=self._partitions,
                        security=self.security,
                    )  # fmt: skip
                await producer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await producer.stop()
            cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise BusUnavailableError(self.bootstrap, cause, self.start_timeout_s) from exc
        self._producer = producer

    async def stop(self) -> None:
        """Stops the consumers, flushes and closes the producer. Records that cannot be
        delivered by then are logged and counted (delivery_errors), and the bus closes anyway."""
        for c in list(self._consumers):  # a tail's stop() takes itself off the list
            await c.stop()
        self._consumers.clear()
        confirming, self._confirming = self._confirming, None
        if confirming is not None:
            await confirming.stop()  # its records were each awaited by their publisher
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await producer.flush()
            if self._pending:
                await asyncio.gather(*list(self._pending), return_exceptions=True)
            if self._failures:
                log.error("undelivered_at_stop", count=len(self._failures), first=str(self._failures[0]))
                self._failures.clear()
        finally:
            await producer.stop()

    async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
        fut = await self._send("KafkaBus.publish", topic, key, value)
        self._pending.add(fut)
        fut.add_done_callback(self._delivered)

    async def deliver(self, topic: str, key: str | None, value: bytes | None) -> None:
        """``publish``, returning only once the broker has the record (raises what it
        refused with): for a publisher that keeps what was not delivered (the audit spill).
        On a producer of its own with no linger (its caller waits for each record: the
        shared producer's 20 ms linger would be 20 ms more per record)."""
        producer = await self._confirming_producer()
        # Shielded: a caller that stops waiting (a timeout) leaves the producer its future.
        await asyncio.shield(await self._send("KafkaBus.deliver", topic, key, value, producer))

    async def _confirming_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BusNotStartedError("KafkaBus.deliver")
        async with self._confirming_lock:
            if self._confirming is None:
                options = {**self._producer_options, "linger_ms": 0}
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, **self.security.client_options(), **options
                )
                try:
                    await producer.start()
                except BaseException:  # unreachable, or the caller stopped waiting: nothing left open
                    await producer.stop()
                    raise
                self._confirming = producer
            return self._confirming

    async def _send(
        self,
        caller: str,
        topic: str,
        key: str | None,
        value: bytes | None,
        producer: AIOKafkaProducer | None = None,
    ) -> asyncio.Future[Any]:
        """Into the producer's buffer; the future is the broker's answer."""
        producer = producer or self._producer
        if producer is None:
            raise BusNotStartedError(caller)
        fut: asyncio.Future[Any] = await producer.send(
            self.namespace + topic, value=value, key=key.encode() if key is not None else None
        )
        return fut

    def _delivered(self, fut: asyncio.Future[Any]) -> None:
        self._pending.discard(fut)
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is not None:
            self.delivery_errors += 1
            self._failures.append(exc)
            log.error("delivery_failed", error=f"{type(exc).__name__}: {exc}")

    async def flush(self) -> None:
        """Waits until everything published so far is acknowledged or failed. Raises
        DeliveryError when any record published since the previous flush failed (the
        caller still holds them and may publish them again)."""
        if self._producer is None:
            return
        await self._producer.flush()
        pending = list(self._pending)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        failures, self._failures = self._failures, []
        if failures:
            raise DeliveryError(len(failures), failures[0])

    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        if self._producer is None:
            raise BusNotStartedError("KafkaBus.consumer")
        c = KafkaConsumer(self, topics, group, from_beginning)
        await c.start()
        self._consumers.append(c)
        return c

    async def tail(
        self, topics: Sequence[str], *, key: str | None = None, since_ms: int | None = None
    ) -> KafkaTail:
        """A reader of what ``topics`` get from now on, or of ``key``'s partition from
        ``since_ms`` (see KafkaTail); stopped with the bus, or by its own ``stop()``."""
        if self._producer is None:
            raise BusNotStartedError("KafkaBus.tail")
        tail = KafkaTail(self, topics, key=key, since_ms=since_ms)
        await tail.start()
        self._consumers.append(tail)
        return tail
