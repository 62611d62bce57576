"""Factories for the enforcer's unit tests: commands, container states, a handler on the fake."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from enforcer import CommandHandler, EnforcerMetrics, FakeDocker, HandlerOptions, Ledger, ObservedContainer
from schemas import EnforcementAction, EnforcementCommand, ResourceLimits

HOST = "host-a"

CommandFactory = Callable[..., EnforcementCommand]
StateFactory = Callable[..., ObservedContainer]


def container_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


@pytest.fixture
def make_command() -> CommandFactory:
    def make(**overrides: Any) -> EnforcementCommand:
        fields: dict[str, Any] = {
            "container_id": container_id(),
            "host": HOST,
            "command_id": str(uuid.uuid4()),
            "action": EnforcementAction.THROTTLE,
            "violation_ids": ("v-1",),
            "rule_ids": ("cpu.throttled",),
            "reason": "CPU pinned at its quota",
            "policy_id": "pol-test",
            "limits": ResourceLimits(memory_mb=64, cpu_percent=50.0, max_processes=20),
            "throttle_factor": 0.5,
            "first_violation_time": 1_000,
            "time": 2_000,
        }
        fields.update(overrides)
        return EnforcementCommand(**fields)

    return make


@pytest.fixture
def make_state() -> StateFactory:
    def make(**overrides: Any) -> ObservedContainer:
        fields: dict[str, Any] = {
            "id": container_id(),
            "name": "sandbox",
            "status": "running",
            "labels": {"sandguard.sandbox": "1"},
            "cpu_quota_us": 50_000,
            "cpu_period_us": 100_000,
            "memory_bytes": 64 * 1024 * 1024,
            "memory_swap_bytes": 64 * 1024 * 1024,
            "pids_limit": 20,
        }
        fields.update(overrides)
        return ObservedContainer(**fields)

    return make


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    await ledger.open()
    yield ledger
    await ledger.close()


@pytest.fixture
def fake_docker() -> FakeDocker:
    return FakeDocker()


HandlerFactory = Callable[..., CommandHandler]


@pytest.fixture
def make_handler(fake_docker: FakeDocker, ledger: Ledger) -> HandlerFactory:
    """A handler on the fake engine (decision logic only; the real engine is in integration)."""

    def make(**options: Any) -> CommandHandler:
        opts: dict[str, Any] = {"host": HOST, "host_cpus": 2}
        opts.update(options)
        clock = opts.pop("clock", lambda: 5_000)
        metrics = EnforcerMetrics(CollectorRegistry())
        return CommandHandler(fake_docker, ledger, HandlerOptions(**opts), metrics, clock=clock)

    return make
