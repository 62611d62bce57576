"""Churn: 300 short-lived sandboxes created and destroyed over five minutes leave the
collector (the real CLI, in its own process) with its memory, descriptors and tracked
state back at the baseline, and with no read error for containers that vanished."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BUSYBOX_IMAGE, _free_port
from tests.integration.collectors.conftest import RUN_LABEL

CHURN = 300
CHURN_S = 300  # one sandbox a second for five minutes
LIFETIME_S = 3  # each lives ~3 s: ~3-4 alive at a time
WARMUP = 10
# Allowed RSS growth after churn: the allocator keeps some freed arenas; a leak of the
# per-container state (~30 KB each) would be ~9 MB over 300 containers.
RSS_SLACK_BYTES = 6 * 1024 * 1024


class CollectorProcess:
    def __init__(self, run_id: str, namespace: str, bootstrap: str, log_path: Path) -> None:
        self.port = _free_port()
        self.log_path = log_path
        exe = Path(sys.executable).parent / "sandguard"
        args = [str(exe), "collector", "--bootstrap", bootstrap, "--namespace", namespace]
        args += ["--label", f"{RUN_LABEL}={run_id}", "--interval", "0.5", "--metrics-port", str(self.port)]
        args += ["--log-format", "json", "--host", "churn"]
        with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would block the collector
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def wait_ready(self) -> None:
        for _ in range(100):
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("collector did not expose metrics")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=30)


@pytest.fixture
def collector_process(
    run_id: str, kafka_namespace: str, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[CollectorProcess]:
    p = CollectorProcess(run_id, kafka_namespace, kafka_bootstrap, tmp_path / "collector.log")
    try:
        p.wait_ready()
        yield p
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def churn(client: docker.DockerClient, run_id: str, count: int, spacing_s: float) -> None:
    labels = {"sandguard.sandbox": "1", RUN_LABEL: run_id}

    def one(_: int) -> None:
        client.containers.run(
            BUSYBOX_IMAGE,
            f"sleep {LIFETIME_S}",
            labels=labels,
            network_mode="none",
            detach=True,
            auto_remove=True,
        )

    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        for i in range(count):
            time.sleep(max(0.0, start + i * spacing_s - time.monotonic()))
            pool.submit(one, i)


def settle(client: docker.DockerClient, run_id: str, p: CollectorProcess) -> dict[str, float]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # sparse: no inspect per container, which would race with their auto-removal
        alive = client.containers.list(all=True, sparse=True, filters={"label": f"{RUN_LABEL}={run_id}"})
        m = p.metrics()
        if not alive and m["sandguard_collector_containers_watched"] == 0:
            time.sleep(2)  # a few more passes over nothing
            return p.metrics()
        time.sleep(1)
    raise AssertionError("containers or tracked state did not go away")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_churn_returns_to_baseline(
    docker_client: docker.DockerClient, run_id: str, collector_process: CollectorProcess
) -> None:
    p = collector_process
    churn(docker_client, run_id, WARMUP, 0.5)
    settle(docker_client, run_id, p)
    rss0, fds0 = p.rss(), p.fds()

    churn(docker_client, run_id, CHURN, CHURN_S / CHURN)
    m = settle(docker_client, run_id, p)
    rss1, fds1 = p.rss(), p.fds()
    print(f"churn: rss {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB, fds {fds0} -> {fds1}")

    assert m["sandguard_collector_containers_watched"] == 0
    assert m["sandguard_collector_processes_tracked"] == 0
    assert m["sandguard_collector_kept_files"] == 0
    assert m["sandguard_collector_docker_events_total{action=destroy}"] == WARMUP + CHURN
    assert m["sandguard_collector_docker_events_total{action=start}"] == WARMUP + CHURN
    assert sum(v for k, v in m.items() if k.startswith("sandguard_collector_read_errors_total")) == 0
    assert sum(v for k, v in m.items() if k.startswith("sandguard_collector_dropped_total")) == 0
    assert m["sandguard_collector_events_published_total{topic=sandguard.metrics}"] > CHURN
    # Per-container files are closed; Docker connections are pooled (4) and Kafka's reused.
    assert fds1 <= fds0 + 2, (fds0, fds1)
    assert rss1 - rss0 <= RSS_SLACK_BYTES, (rss0, rss1)
    assert p.stop() == 0  # SIGTERM: a clean stop
    logs = p.log_path.read_text()
    assert "Traceback" not in logs and "collector_stopped" in logs
