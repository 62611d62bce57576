"""Fixtures for KafkaBus tests on the shared broker, each test in its own namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sandguard.bus import KafkaBus


@pytest.fixture
async def make_bus(kafka_bootstrap: str, kafka_namespace: str) -> AsyncIterator[Callable[..., Any]]:
    """make_bus(**options) -> a started KafkaBus in this test's namespace (2 partitions)."""
    made: list[KafkaBus] = []

    async def make(**options: Any) -> KafkaBus:
        bus = KafkaBus(kafka_bootstrap, namespace=kafka_namespace, **{"partitions": 2, **options})
        await bus.start()
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.stop()
