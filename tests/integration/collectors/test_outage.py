"""The broker stops for 10 s and comes back (a private broker: the shared one is never
stopped). Within the buffer bound nothing is lost; past it the drops are counted and
reported on sandguard.audit once the broker is back."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from collectors import Collector
from sandguard.bus import KafkaBus
from schemas import topics
from schemas.codec import decode
from schemas.events import AuditCategory
from tests.conftest import PrivateKafka
from tests.integration.collectors.conftest import Running

Sandbox = Callable[..., Any]
Start = Callable[..., Any]
INTERVAL_S = 0.5
OUTAGE_S = 10


async def outage(r: Running, broker: PrivateKafka, containers: list[Any]) -> None:
    await r.log.wait_for(lambda: all(len(r.log.of(c.id, "metric")) >= 2 for c in containers), what="samples")
    await asyncio.to_thread(broker.stop)
    await asyncio.sleep(OUTAGE_S)
    await asyncio.to_thread(broker.resume)
    await asyncio.sleep(2 * INTERVAL_S)
    await asyncio.wait_for(r.collector._publisher.wait_drained(), 90)
    await r.collector.stop()


async def read_all(bootstrap: str, namespace: str) -> list[Any]:
    """Everything in the namespace, by a fresh group, until 3 s pass with nothing new."""
    bus = KafkaBus(bootstrap, namespace=namespace, create_topics=False)
    await bus.start()
    try:
        consumer = await bus.consumer([topics.METRICS, topics.PROCESSES, topics.AUDIT], group="verify")
        events: list[Any] = []
        quiet = 0
        while quiet < 15:
            records = await consumer.getmany(timeout_ms=200)
            quiet = 0 if records else quiet + 1
            events += [decode(r.topic, r.value) for r in records]
        return events
    finally:
        await bus.stop()


def counter(collector: Collector, name: str, topic: str) -> float:
    value: float = getattr(collector.metrics, name).labels(topic)._value.get()
    return value


async def test_outage_within_the_buffer_loses_nothing(
    private_kafka: PrivateKafka, sandbox: Sandbox, start_collector: Start, kafka_namespace: str
) -> None:
    containers = [sandbox("sleep 1000") for _ in range(3)]
    r = await start_collector(bootstrap=private_kafka.bootstrap, interval_s=INTERVAL_S)
    await outage(r, private_kafka, containers)
    events = await read_all(private_kafka.bootstrap, kafka_namespace)
    on_metrics = {e.event_id for e in events if e.kind in ("metric", "limits")}
    assert counter(r.collector, "dropped", topics.METRICS) == 0
    assert len(on_metrics) == counter(r.collector, "produced", topics.METRICS)  # every sample, once
    metrics = {e.event_id: e for e in events if e.kind == "metric"}
    for c in containers:
        times = sorted(m.time for m in metrics.values() if m.container_id == c.id)
        assert (times[-1] - times[0]) / 1000 > OUTAGE_S
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Sampling went on through the outage: no gap near its length. A third of it (6-7
        # intervals) leaves room for a loaded host stalling the sampler thread for a few
        # seconds, which a bound of 3 intervals (1.5 s) did not.
        assert max(gaps) < OUTAGE_S * 1000 / 3, max(gaps)
    assert not [e for e in events if e.kind == "audit" and e.action == "dropped"]


async def test_outage_past_the_buffer_counts_and_reports_drops(
    private_kafka: PrivateKafka, sandbox: Sandbox, start_collector: Start, kafka_namespace: str
) -> None:
    containers = [sandbox("sleep 1000") for _ in range(3)]
    # 3 containers × 2 samples/s × 10 s = 60 metric samples during the outage; room for 10.
    r = await start_collector(bootstrap=private_kafka.bootstrap, interval_s=INTERVAL_S, buffer_capacity=10)
    await outage(r, private_kafka, containers)
    events = await read_all(private_kafka.bootstrap, kafka_namespace)
    dropped = sum(
        counter(r.collector, "dropped", t) for t in (topics.METRICS, topics.PROCESSES, topics.AUDIT)
    )
    assert dropped >= 30
    reports = [
        e
        for e in events
        if e.kind == "audit" and e.category == AuditCategory.COLLECTOR and e.action == "dropped"
    ]
    assert sum(e.details["dropped"] for e in reports) == dropped
    assert set(reports[0].details["containers"]) <= {c.id for c in containers}
    on_metrics = {e.event_id for e in events if e.kind in ("metric", "limits")}
    assert len(on_metrics) + counter(r.collector, "dropped", topics.METRICS) == counter(
        r.collector, "produced", topics.METRICS
    )
