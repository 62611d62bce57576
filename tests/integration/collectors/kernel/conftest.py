"""The kernel source of a test, in bpf mode, with what it emitted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.source import KernelSource
from tests.integration.collectors.kernel.test_kernel_source import Seen


@pytest.fixture
async def source() -> AsyncIterator[tuple[KernelSource, Seen]]:
    seen = Seen()
    src = KernelSource(host="test", emit=seen, metrics=KernelMetrics(CollectorRegistry()))
    await src.start()
    assert src.mode == "bpf", src.health()
    yield src, seen
    await src.stop()
