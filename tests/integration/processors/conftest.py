"""Real Kafka for the processor: Faust workers as subprocesses (so one can be killed),
topics per test namespace, and helpers to publish recorded events and collect outputs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from processors.runner import ProcessorRunner
from sandguard.bus import KafkaBus, LocalBus, ensure_topics
from schemas import Record
from schemas import topics as t

PARTITIONS = 4
OUTPUT_TOPICS = (t.VIOLATIONS, t.ENFORCEMENT, t.DEADLETTER)
# Recorded events: (topic, key, value).
Recorded = list[tuple[str, str, bytes | None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """One ``sandguard processor`` process, with its Prometheus endpoint on loopback."""

    def __init__(self, bootstrap: str, namespace: str, datadir: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        argv = [
            sys.executable, "-c", "from sandguard.cli import main; main()", "processor",
            "--bootstrap", bootstrap, "--namespace", namespace, "--partitions", str(PARTITIONS),
            "--data-dir", str(datadir), "--metrics-port", str(self.port), "--faust-log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, "SANDGUARD_METRICS_ADDR": "127.0.0.1", "SANDGUARD_LOG_LEVEL": "warning"}
        self._out = log.open("ab")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, env=env)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample from the worker's endpoint; 0 until it answers."""
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2).read().decode()
        except OSError:
            return 0.0
        want = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in (labels or {}).items()) + "}" if labels else ""
        )
        total = 0.0
        for line in body.splitlines():
            if line.startswith(want + " ") or (not labels and line.startswith(name + "{")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def events_in(self) -> float:
        return self.metric("sandguard_processor_events_total")

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye (a crashed worker)."""
        self.proc.kill()
        self.proc.wait(30)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._out.close()


@pytest.fixture
def workers(kafka_bootstrap: str, kafka_namespace: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(name: str = "w1") -> Worker:
        w = Worker(kafka_bootstrap, kafka_namespace, tmp_path / f"data-{name}", tmp_path / f"{name}.log")
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


@pytest.fixture
async def bus(kafka_bootstrap: str, kafka_namespace: str) -> AsyncIterator[KafkaBus]:
    """The test's topics, and the workers' changelogs, deleted after it (the shared broker
    has a small heap: thousands of leftover topics ran it out of memory)."""
    await ensure_topics(kafka_bootstrap, namespace=kafka_namespace, partitions=PARTITIONS)
    b = KafkaBus(kafka_bootstrap, namespace=kafka_namespace, partitions=PARTITIONS)
    await b.start()
    yield b
    await b.stop()  # the topics go with kafka_namespace


async def publish(bus: Any, events: Recorded) -> None:
    for topic, key, value in events:
        await bus.publish(topic, key, value)
    await bus.flush()


async def trickle(bus: Any, events: Recorded, *, chunk: int, pause_s: float) -> None:
    """Publishes ``events`` in chunks with pauses: the stream keeps flowing while a test
    kills or adds workers."""
    for i in range(0, len(events), chunk):
        await publish(bus, events[i : i + chunk])
        await asyncio.sleep(pause_s)


async def collect(
    consumer: Any, until: Callable[[list[Record]], bool], *, timeout_s: float = 90, quiet_s: float = 3
) -> list[Record]:
    """Records until ``until`` holds, then ``quiet_s`` more of them (late duplicates)."""
    got: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(got):
        got += await consumer.getmany(timeout_ms=500)
    end = time.monotonic() + quiet_s
    while time.monotonic() < end:
        got += await consumer.getmany(timeout_ms=500)
    return got


async def wait_for(cond: Callable[[], bool], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.25)


def normalise(rec: Record) -> tuple[str, str, bytes]:
    """(id, topic, content without decision wall-clock times): what must match across runs."""
    doc = orjson.loads(rec.value or b"null")
    if rec.topic == t.VIOLATIONS:
        doc.pop("time")
        doc["finding_info"].pop("modified_time")
        return doc["metadata"]["uid"], rec.topic, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    if rec.topic == t.DEADLETTER:
        for k in ("event_id", "time"):
            doc.pop(k)
        return f"{doc['source_topic']}:{doc['partition']}:{doc['offset']}", rec.topic, orjson.dumps(doc)
    return doc["event_id"], rec.topic, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


async def run_embedded(phases: Sequence[Recorded]) -> list[Record]:
    """The same recorded events through the embedded runner on the in-process bus."""
    bus = LocalBus(queue_size=1_000_000)
    await bus.start()
    out = await bus.consumer(OUTPUT_TOPICS, group="observer")
    runner = ProcessorRunner(bus)
    await runner.start(background=False)
    for phase in phases:
        await publish(bus, phase)
        while await runner.run_once(timeout_ms=10):
            pass
    got: list[Record] = []
    while batch := await out.getmany(timeout_ms=10, max_records=100_000):
        got += batch
    await runner.stop()
    await bus.stop()
    return got
