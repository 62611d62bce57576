"""Fixtures for the enforcer against the real engine and the real broker.

Every container is a busybox sandbox labelled with the test's run id, removed by that
label only; every enforcer here requires that label, so even a wrong command cannot
touch anything the test did not create. Topics live in the test's own namespace and
are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from prometheus_client import CollectorRegistry

from enforcer import DockerEngine, Enforcer
from sandguard.bus import KafkaBus, ensure_topics
from schemas import (
    ActionResult,
    Bus,
    Consumer,
    EnforcementAction,
    EnforcementCommand,
    ResourceLimits,
    decode,
    encode,
)
from schemas.topics import ACTIONS, DEADLETTER, ENFORCEMENT
from tests.conftest import BUSYBOX_IMAGE

RUN_LABEL = "sandguard.test.enforcer"
HOST = "host-a"
TOPICS_USED = (ENFORCEMENT, ACTIONS, DEADLETTER)
# Two partitions: enough to spread containers over partitions, cheap to create and delete.
PARTITIONS = 2
SandboxFactory = Callable[..., Any]
CommandFactory = Callable[..., EnforcementCommand]


@pytest.fixture
def sandbox(docker_client: docker.DockerClient, run_id: str) -> Iterator[SandboxFactory]:
    """Creates running busybox containers labelled with the run id; removes them after."""

    def make(command: str = "sleep 3600", **options: Any) -> Any:
        opts: dict[str, Any] = {
            "user": "1000",
            "cap_drop": ["ALL"],
            "network_mode": "none",
            "cpu_quota": 50_000,
            "cpu_period": 100_000,
            "mem_limit": "64m",
            "memswap_limit": "64m",
            "pids_limit": 20,
        }
        opts.update(options)
        labels = {RUN_LABEL: run_id, **opts.pop("labels", {})}
        return docker_client.containers.run(
            BUSYBOX_IMAGE, ["sh", "-c", command], detach=True, labels=labels, **opts
        )

    yield make
    for c in docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
        c.remove(force=True)


def host_config(docker_client: docker.DockerClient, container_id: str) -> dict[str, Any]:
    return dict(docker_client.api.inspect_container(container_id)["HostConfig"])


def status(docker_client: docker.DockerClient, container_id: str) -> str:
    return str(docker_client.api.inspect_container(container_id)["State"]["Status"])


def kernel_cpu_quota(container: Any) -> int:
    """The CFS quota the kernel holds for the container (cgroup v1 or v2), read inside it."""
    code, out = container.exec_run(
        [
            "sh",
            "-c",
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max",
        ]
    )
    assert code == 0, out
    return int(out.decode().strip())


@pytest.fixture
def make_command(run_id: str) -> CommandFactory:
    def make(container_id: str, action: EnforcementAction, **overrides: Any) -> EnforcementCommand:
        fields: dict[str, Any] = {
            "container_id": container_id,
            "host": HOST,
            "command_id": str(uuid.uuid4()),
            "action": action,
            "violation_ids": (f"v-{run_id}",),
            "rule_ids": ("cpu.throttled",),
            "reason": "integration test",
            "policy_id": "pol-test",
            "limits": ResourceLimits(memory_mb=64, cpu_percent=50.0, max_processes=20),
            "throttle_factor": 0.5,
        }
        fields.update(overrides)
        fields.setdefault("first_violation_time", fields.get("time"))
        if fields["first_violation_time"] is None:
            del fields["first_violation_time"]
        return EnforcementCommand(**fields)

    return make


@pytest.fixture
async def topics(kafka_bootstrap: str, kafka_namespace: str) -> AsyncIterator[str]:
    """The namespace, with the three topics the enforcer uses (deleted with kafka_namespace)."""
    await ensure_topics(kafka_bootstrap, namespace=kafka_namespace, partitions=PARTITIONS, names=TOPICS_USED)
    yield kafka_namespace


BusFactory = Callable[[], Any]


@pytest.fixture
async def make_bus(kafka_bootstrap: str, topics: str) -> AsyncIterator[Callable[[], Any]]:
    """Started KafkaBuses in the test's namespace (each enforcer run gets its own, like a process)."""
    made: list[KafkaBus] = []

    async def make() -> KafkaBus:
        bus = KafkaBus(kafka_bootstrap, namespace=topics, create_topics=False)
        await bus.start()
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.stop()


EnforcerFactory = Callable[..., Enforcer]


@pytest.fixture
def make_enforcer(tmp_path: Path, run_id: str) -> Iterator[EnforcerFactory]:
    engines: list[DockerEngine] = []

    def make(bus: Bus, **options: Any) -> Enforcer:
        engine = options.pop("docker", None)
        if engine is None:
            engine = DockerEngine.from_env()
            engines.append(engine)
        opts: dict[str, Any] = {
            "host": HOST,
            "state_dir": tmp_path / "state",
            "registry": CollectorRegistry(),
            "required_labels": {RUN_LABEL: run_id},
        }
        opts.update(options)
        return Enforcer(bus, engine, **opts)

    yield make
    for e in engines:
        e.close()


async def publish(bus: Bus, *commands: EnforcementCommand) -> None:
    for c in commands:
        await bus.publish(ENFORCEMENT, c.container_id, encode(c))
    await bus.flush()


class Results:
    """Everything published on sandguard.actions, read by an observer group."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self.seen: list[ActionResult] = []

    async def wait_for(self, n: int, timeout_s: float = 30.0) -> list[ActionResult]:
        """Waits until at least ``n`` results in all were seen (fails after the timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.seen) < n:
            assert loop.time() < deadline, f"{len(self.seen)} of {n} results after {timeout_s}s: {self.seen}"
            self.seen += [decode(ACTIONS, r.value) for r in await self._consumer.getmany(timeout_ms=200)]
        return self.seen

    async def settle(self, quiet_s: float = 1.5) -> list[ActionResult]:
        """Reads until nothing new arrives for ``quiet_s`` (to show that nothing more comes)."""
        while True:
            more = [
                decode(ACTIONS, r.value) for r in await self._consumer.getmany(timeout_ms=int(quiet_s * 1000))
            ]
            if not more:
                return self.seen
            self.seen += more

    def for_command(self, command_id: str) -> list[ActionResult]:
        return [r for r in self.seen if r.command_id == command_id]


@pytest.fixture
async def results(make_bus: Callable[[], Any]) -> Results:
    bus = await make_bus()
    return Results(await bus.consumer([ACTIONS], group="observer"))
