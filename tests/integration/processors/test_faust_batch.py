"""The batching fetch loop (``processors.faust_batch`` over the fence) in this process,
against the real broker: the worker tests run it in subprocesses, this one runs the loop
where a test (and a coverage tool) can see it."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.types import TP, ConsumerMessage

from processors.faust_batch import BatchingApp

pytestmark = pytest.mark.slow

PARTITIONS = 2
PER_PARTITION = 300
DEADLINE_S = 90.0


async def create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str) -> None:
    """``PER_PARTITION`` records on each partition, values numbering them in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(PER_PARTITION):
            for p in range(PARTITIONS):
                await producer.send(topic, f"{p}:{i}".encode(), key=b"k", partition=p)
        await producer.flush()
    finally:
        await producer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def until(cond: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {DEADLINE_S} s")
        await asyncio.sleep(0.2)


async def test_each_partition_arrives_whole_in_offset_order_once_then_is_committed(
    kafka_bootstrap: str, kafka_namespace: str, tmp_path: Path
) -> None:
    topic = kafka_namespace + "batch-in"
    await create_topic(kafka_bootstrap, topic)
    await produce(kafka_bootstrap, topic)  # before the start: fetches bring many records
    app_id = kafka_namespace + "batcher"
    app = BatchingApp(
        app_id, broker=f"kafka://{kafka_bootstrap}", store="memory://", datadir=str(tmp_path),
        web_enabled=False, key_serializer="raw", value_serializer="raw", topic_disable_leader=True,
        consumer_auto_offset_reset="earliest", broker_commit_interval=0.5, autodiscover=False,
    )  # fmt: skip
    seen: dict[int, list[tuple[int, bytes | None]]] = defaultdict(list)
    sizes: list[int] = []

    async def handler(tp: TP, messages: Sequence[ConsumerMessage]) -> None:
        sizes.append(len(messages))
        seen[tp.partition] += [(m.offset, m.value) for m in messages]

    app.batch_topics([app.topic(topic, key_type=bytes, value_type=bytes, partitions=PARTITIONS)], handler)
    want = dict.fromkeys(range(PARTITIONS), PER_PARTITION)  # the next offset to read

    async def all_seen() -> bool:
        return sum(map(len, seen.values())) >= PARTITIONS * PER_PARTITION

    async def all_committed() -> bool:
        return await committed(kafka_bootstrap, app_id, topic) == want

    await app.start()
    try:
        await until(all_seen, "every record handled")
        await until(all_committed, "every offset committed")  # by the 0.5 s commit timer
    finally:
        await app.stop()
    for p in range(PARTITIONS):
        assert seen[p] == [(i, f"{p}:{i}".encode()) for i in range(PER_PARTITION)]
    assert max(sizes) > 1, f"one record per handler call: {sizes[:20]}"
