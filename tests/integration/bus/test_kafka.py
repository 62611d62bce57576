"""KafkaBus against the real broker: order per key, commits after processing, redelivery,
revocation, tombstones, idempotent topic creation with the declared configs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from sandguard.bus import BusNotStartedError, DeliveryError, KafkaBus, drop_namespace, ensure_topics
from sandguard.bus import kafka as kafka_module
from sandguard.bus.kafka import KafkaConsumer
from schemas import topics
from schemas.bus import Consumer, Record, RecordBatch
from schemas.topics import TOPICS

MakeBus = Callable[..., Any]


async def collect(consumer: Consumer, n: int, *, timeout_s: float = 30) -> list[Record]:
    got: list[Record] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(got) < n and asyncio.get_running_loop().time() < deadline:
        got += await consumer.getmany(timeout_ms=300)
    return got


async def publish_all(bus: KafkaBus, topic: str, items: Sequence[tuple[str, bytes | None]]) -> None:
    for key, value in items:
        await bus.publish(topic, key, value)
    await bus.flush()


async def test_order_per_key_across_partitions(make_bus: MakeBus) -> None:
    bus = await make_bus(partitions=3)
    c = await bus.consumer([topics.METRICS], group="g")
    items = [(f"c{i % 5}", f"{i % 5}:{i // 5}".encode()) for i in range(200)]
    await publish_all(bus, topics.METRICS, items)
    got = await collect(c, 200)
    assert len(got) == 200
    assert {r.topic for r in got} == {topics.METRICS}  # canonical names, namespace stripped
    for key in {k for k, _ in items}:
        seq = [int(r.value.split(b":")[1]) for r in got if r.key == key and r.value]
        assert seq == list(range(40)), key
        assert len({r.partition for r in got if r.key == key}) == 1


async def test_uncommitted_records_are_redelivered_to_the_next_consumer(make_bus: MakeBus) -> None:
    bus = await make_bus()
    await publish_all(bus, topics.AUDIT, [(f"k{i}", str(i).encode()) for i in range(10)])
    first = await bus.consumer([topics.AUDIT], group="g")
    assert len(await collect(first, 10)) == 10
    await first.stop()  # crashed before its work was done: nothing committed
    second = await bus.consumer([topics.AUDIT], group="g")
    again = await collect(second, 10)
    assert sorted(r.value for r in again if r.value) == sorted(str(i).encode() for i in range(10))
    await second.commit()  # the work is done now
    await second.stop()
    await publish_all(bus, topics.AUDIT, [("k0", b"new")])
    third = await bus.consumer([topics.AUDIT], group="g")
    assert [r.value for r in await collect(third, 1)] == [b"new"]
    assert await third.getmany(timeout_ms=1000) == []


async def test_commit_covers_only_what_was_returned(make_bus: MakeBus) -> None:
    bus = await make_bus(partitions=1)
    await publish_all(bus, topics.AUDIT, [("k", str(i).encode()) for i in range(6)])
    c = await bus.consumer([topics.AUDIT], group="g")
    part = await c.getmany(timeout_ms=10_000, max_records=2)
    assert [r.value for r in part] == [b"0", b"1"]
    await c.commit()
    await c.stop()
    c2 = await bus.consumer([topics.AUDIT], group="g")
    assert [r.value for r in await collect(c2, 4)] == [b"2", b"3", b"4", b"5"]


async def test_batches_per_partition_with_the_same_commits(
    make_bus: MakeBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka_module, "GC_CHUNK_RECORDS", 3)  # a poll's batches are built from chunks
    bus = await make_bus(partitions=2)
    items = [(f"c{i % 3}", str(i).encode()) for i in range(30)] + [("c0", None)]
    await publish_all(bus, topics.METRICS, items)
    c = await bus.consumer([topics.METRICS], group="g")
    batches: list[RecordBatch] = []
    deadline = asyncio.get_running_loop().time() + 30
    while sum(map(len, batches)) < 31 and asyncio.get_running_loop().time() < deadline:
        polled = await c.getmany_batches(timeout_ms=300, max_records=7)
        assert sum(map(len, polled)) <= 7
        assert len({b.partition for b in polled}) == len(polled)  # one batch per partition
        batches += polled
    records = [b.record(i) for b in batches for i in range(len(b))]
    assert sorted((r.key, r.value) for r in records if r.value) == sorted((k, v) for k, v in items if v)
    assert [(r.key, r.value) for r in records if r.value is None] == [("c0", None)]
    for b in batches:
        assert b.topic == topics.METRICS and list(b.offsets) == sorted(b.offsets)
        assert len(b.offsets) == len(b.timestamps_ms) == len(b.keys) == len(b.values)
    for key in ("c0", "c1", "c2"):  # one partition per key, in publishing order
        assert len({r.partition for r in records if r.key == key}) == 1
        seq = [int(r.value) for r in records if r.key == key and r.value]
        assert seq == sorted(seq)
    await c.commit()
    await c.stop()
    await publish_all(bus, topics.METRICS, [("c1", b"new")])
    c2 = await bus.consumer([topics.METRICS], group="g")
    assert [(r.key, r.value) for r in await collect(c2, 1)] == [("c1", b"new")]


async def test_batches_commit_only_what_was_returned(make_bus: MakeBus) -> None:
    bus = await make_bus(partitions=1)
    await publish_all(bus, topics.AUDIT, [("k", str(i).encode()) for i in range(6)])
    c = await bus.consumer([topics.AUDIT], group="g")
    part = await c.getmany_batches(timeout_ms=10_000, max_records=2)
    assert [list(b.values) for b in part] == [[b"0", b"1"]]
    await c.commit()
    await c.stop()
    c2 = await bus.consumer([topics.AUDIT], group="g")
    assert [r.value for r in await collect(c2, 4)] == [b"2", b"3", b"4", b"5"]


async def _rebalance(a: Consumer, b: Consumer, seen_by_b: list[Record]) -> None:
    """Polls both until the group has settled with partitions on both members."""
    raw_a, raw_b = a._raw, b._raw  # type: ignore[attr-defined]
    for _ in range(60):
        await a.getmany(timeout_ms=100)
        seen_by_b += await b.getmany(timeout_ms=100)
        if raw_a.assignment() and raw_b.assignment() and not raw_a.assignment() & raw_b.assignment():
            return
    raise AssertionError("the group did not rebalance")


async def test_revocation_commits_work_that_was_done(make_bus: MakeBus, kafka_namespace: str) -> None:
    bus = await make_bus()
    await publish_all(bus, topics.AUDIT, [(f"k{i}", str(i).encode()) for i in range(20)])
    a = await bus.consumer([topics.AUDIT], group="g")
    assert isinstance(a, KafkaConsumer)
    assert len(await collect(a, 20)) == 20
    # A commit() that failed mid-rebalance leaves its offsets marked done; a broker cannot be
    # made to fail a commit on cue, so mark them done directly: revocation must commit them.
    a._done.update(a._returned)
    b = await bus.consumer([topics.AUDIT], group="g")
    seen_by_b: list[Record] = []
    await _rebalance(a, b, seen_by_b)
    seen_by_b += await b.getmany(timeout_ms=1000)
    assert seen_by_b == []  # nothing redelivered: the revoked partitions were committed
    committed = await _committed(bus, kafka_namespace + "g", kafka_namespace + topics.AUDIT)
    assert sum(committed.values()) == 20


async def test_revoked_records_not_done_go_to_the_new_owner(make_bus: MakeBus, kafka_namespace: str) -> None:
    bus = await make_bus()
    await publish_all(bus, topics.AUDIT, [(f"k{i}", str(i).encode()) for i in range(20)])
    a = await bus.consumer([topics.AUDIT], group="g")
    assert len(await collect(a, 20)) == 20  # fetched, still being worked on
    b = await bus.consumer([topics.AUDIT], group="g")
    seen_by_b: list[Record] = []
    await _rebalance(a, b, seen_by_b)
    b_partition = next(iter(b._raw.assignment())).partition
    seen_by_b += await collect(b, 1, timeout_s=5)
    assert seen_by_b and {r.partition for r in seen_by_b} == {b_partition}
    assert min(r.offset for r in seen_by_b) == 0  # from the start: nothing was committed
    await a.commit()  # must not commit the partition it lost
    committed = await _committed(bus, kafka_namespace + "g", kafka_namespace + topics.AUDIT)
    assert committed.get(b_partition, -1) in (-1, 0)


async def _committed(bus: KafkaBus, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bus.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if isinstance(tp, TopicPartition) and tp.topic == topic
    }


async def test_tombstones_on_the_compacted_topic(make_bus: MakeBus) -> None:
    bus = await make_bus()
    c = await bus.consumer([topics.POLICIES], group="g")
    await publish_all(bus, topics.POLICIES, [("sandbox-1", b"{}"), ("sandbox-1", None)])
    got = await collect(c, 2)
    assert [(r.key, r.value) for r in got] == [("sandbox-1", b"{}"), ("sandbox-1", None)]


async def test_empty_key_is_kept(make_bus: MakeBus) -> None:
    bus = await make_bus(partitions=1)
    c = await bus.consumer([topics.AUDIT], group="g")
    await publish_all(bus, topics.AUDIT, [("", b"host-level"), ("c1", b"x")])
    assert [r.key for r in await collect(c, 2)] == ["", "c1"]


async def test_topic_creation_is_idempotent_with_declared_configs(
    kafka_bootstrap: str, kafka_namespace: str
) -> None:
    first, second = await asyncio.gather(
        ensure_topics(kafka_bootstrap, namespace=kafka_namespace, partitions=1),
        ensure_topics(kafka_bootstrap, namespace=kafka_namespace, partitions=1),
    )
    assert sorted(first + second) == sorted({kafka_namespace + n for n in TOPICS} | set(first + second))
    assert await ensure_topics(kafka_bootstrap, namespace=kafka_namespace) == []
    configs = await _topic_configs(kafka_bootstrap, [kafka_namespace + n for n in TOPICS])
    for name, spec in TOPICS.items():
        cfg = configs[kafka_namespace + name]
        for key, value in spec.config().items():
            assert cfg[key] == value, (name, key)
        assert cfg["cleanup.policy"] == ("compact" if spec.compacted else "delete")


async def _topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            out[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
    return out


async def test_flush_reports_records_the_broker_refused(make_bus: MakeBus) -> None:
    # The client lets a 2 MB record through; the broker refuses it (message.max.bytes ~1 MB).
    # Random bytes, because lz4 would shrink a repetitive value below the limit.
    bus = await make_bus(producer_options={"max_request_size": 4 * 1024 * 1024})
    await bus.publish(topics.AUDIT, "k", os.urandom(2 * 1024 * 1024))
    with pytest.raises(DeliveryError) as err:
        await bus.flush()
    assert err.value.failed == 1
    await bus.publish(topics.AUDIT, "k", b"small")
    await bus.flush()  # failures are reported once, then the bus goes on


async def test_publish_before_start_is_a_clear_error(kafka_bootstrap: str) -> None:
    with pytest.raises(BusNotStartedError):
        await KafkaBus(kafka_bootstrap).publish(topics.AUDIT, "k", b"v")


async def test_drop_namespace_deletes_its_topics_only(kafka_bootstrap: str, kafka_namespace: str) -> None:
    other = kafka_namespace.rstrip(".") + "-other."
    await ensure_topics(kafka_bootstrap, namespace=kafka_namespace, partitions=1, names=[topics.AUDIT])
    await ensure_topics(kafka_bootstrap, namespace=other, partitions=1, names=[topics.AUDIT])
    try:
        assert await drop_namespace(kafka_bootstrap, kafka_namespace) == [kafka_namespace + topics.AUDIT]
    finally:
        assert await drop_namespace(kafka_bootstrap, other) == [other + topics.AUDIT]
    with pytest.raises(ValueError, match="needs a namespace"):
        await drop_namespace(kafka_bootstrap, "")
