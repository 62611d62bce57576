"""Fixtures for the collector against the real Docker engine and the real broker.

Every container is labelled ``sandguard.sandbox=1`` plus this test's run id, and the
collector under test watches only that run id, so parallel runs never see each other.
Cleanup removes exactly what carries the run id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import docker
import pytest
from prometheus_client import CollectorRegistry

from collectors import Collector, CollectorConfig
from sandguard.bus import KafkaBus
from schemas import topics
from schemas.bus import Consumer
from schemas.codec import decode
from tests.conftest import BUSYBOX_IMAGE

RUN_LABEL = "sandguard.test.run"


@pytest.fixture
def sandbox(docker_client: docker.DockerClient, run_id: str) -> Iterator[Callable[..., Any]]:
    """sandbox(command, **run_options) -> a started container of this run (busybox unless image=)."""

    def make(command: str | list[str], **options: Any) -> Any:
        labels = {"sandguard.sandbox": "1", RUN_LABEL: run_id, **options.pop("labels", {})}
        defaults: dict[str, Any] = {"image": BUSYBOX_IMAGE, "network_mode": "none", "detach": True}
        return docker_client.containers.run(command=command, labels=labels, **{**defaults, **options})

    yield make
    for c in docker_client.containers.list(all=True, sparse=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
        try:
            c.remove(force=True)
        except docker.errors.NotFound:
            continue  # removed by the engine meanwhile (auto_remove)


class EventLog:
    """Every event the collector published in this test's namespace, decoded, kept in order."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self.events: list[Any] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:  # no commits: a test reads its namespace once, from the beginning
            for r in await self._consumer.getmany(timeout_ms=200):
                self.events.append(decode(r.topic, r.value))

    def of(self, container_id: str, kind: str) -> list[Any]:
        return [e for e in self.events if e.container_id == container_id and e.kind == kind]

    async def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 30, what: str = "") -> Any:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            result = predicate()
            if result:
                return result
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what or predicate}")

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Running:
    """A started collector on a KafkaBus, and the log of what it published."""

    def __init__(self, collector: Collector, bus: KafkaBus, log: EventLog) -> None:
        self.collector, self.bus, self.log = collector, bus, log


@pytest.fixture
async def start_collector(
    kafka_bootstrap: str, kafka_namespace: str, run_id: str
) -> AsyncIterator[Callable[..., Any]]:
    """start_collector(bootstrap=..., **config) -> Running; stopped at the end of the test."""
    started: list[Running] = []

    async def start(bootstrap: str = kafka_bootstrap, **config: Any) -> Running:
        options: dict[str, Any] = {"host": "test-host", "interval_s": 0.5, "label": f"{RUN_LABEL}={run_id}"}
        options.update(config)
        bus = KafkaBus(bootstrap, namespace=kafka_namespace, partitions=2)
        await bus.start()
        collector = Collector(bus, config=CollectorConfig(**options), registry=CollectorRegistry())
        await collector.start()
        reader = await bus.consumer(
            [topics.METRICS, topics.PROCESSES, topics.AUDIT], group=f"test-reader-{len(started)}"
        )
        running = Running(collector, bus, EventLog(reader))
        started.append(running)
        return running

    yield start
    for r in started:
        await r.collector.stop()
        await r.log.close()
        await r.bus.stop()
