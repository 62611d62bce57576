"""Fixtures for the sandbox integration tests: a real engine, the in-process bus, managers
labelled with the test's run id and cleaned up whatever happens, and readers of the
host's view of a sandbox (cgroups, inspect)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sandbox import SandboxManager
from sandguard.bus import LocalBus
from schemas import Record, ResourceLimits, SecurityPolicy, decode
from tests.conftest import BUSYBOX_IMAGE

# Short lifetimes and small limits keep the suite fast and the host unbothered.
TEST_LIFETIME_S = 120
RUN_LABEL = "test.run"


def quick_policy(**overrides: Any) -> SecurityPolicy:
    """A small policy; ``limits`` overrides ResourceLimits fields, the rest SecurityPolicy's."""
    limits = {"memory_mb": 64, "cpu_percent": 50.0, "max_processes": 20, "execution_timeout": TEST_LIFETIME_S}
    limits.update(overrides.pop("limits", {}))
    return SecurityPolicy(resource_limits=ResourceLimits(**limits), **overrides)


@pytest.fixture
async def bus() -> AsyncIterator[LocalBus]:
    b = LocalBus()
    await b.start()
    yield b
    await b.stop()


MakeManager = Callable[..., Awaitable[SandboxManager]]


@pytest.fixture
async def make_manager(bus: LocalBus, run_id: str) -> AsyncIterator[MakeManager]:
    """Managers on the busybox image with the run's label; every one is cleaned up."""
    made: list[SandboxManager] = []

    async def make(policy: SecurityPolicy | None = None, **overrides: Any) -> SandboxManager:
        args: dict[str, Any] = {
            "bus": bus,
            "image": BUSYBOX_IMAGE,
            "labels": {RUN_LABEL: run_id},
            "registry": CollectorRegistry(),
        }
        args.update(overrides)
        manager = SandboxManager(policy or quick_policy(), **args)
        made.append(manager)
        await manager.start()
        return manager

    yield make
    for manager in made:
        await manager.cleanup()


@pytest.fixture
async def manager(make_manager: MakeManager) -> SandboxManager:
    return await make_manager()


def cgroup(container_id: str, controller: str, name: str) -> str:
    """A cgroup file of the container, read from the host (v1 cgroupfs or v2)."""
    for path in (
        Path(f"/sys/fs/cgroup/{controller}/docker/{container_id}/{name}"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/{name}"),
        Path(f"/sys/fs/cgroup/docker/{container_id}/{name}"),
    ):
        if path.exists():
            return path.read_text().strip()
    raise FileNotFoundError(f"no cgroup file {controller}/{name} for {container_id[:12]}")


def inspect(docker_client: Any, container_id: str) -> dict[str, Any]:
    info: dict[str, Any] = docker_client.api.inspect_container(container_id)
    return info


async def drain(consumer: Any, topic: str, *, timeout_s: float = 2.0) -> list[tuple[Record, Any]]:
    """Every record of ``topic`` the consumer has now (decoded), waiting up to ``timeout_s``
    for the first."""
    out: list[tuple[Record, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        records = await consumer.getmany(timeout_ms=100)
        out += [(r, decode(r.topic, r.value)) for r in records]
        if (out and not records) or asyncio.get_running_loop().time() > deadline:
            return [(r, e) for r, e in out if r.topic == topic]


async def eventually(check: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "condition") -> None:
    """Waits until ``check()`` holds (bounded); fails with ``what`` otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
