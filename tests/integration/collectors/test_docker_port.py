"""The Docker seam against the real engine: inspect, listing by label, bounded connections."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from collectors.docker_port import NUM_POOLS, DockerSdkPort
from tests.integration.collectors.conftest import RUN_LABEL


def sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue  # the descriptor of the listing itself, already closed
    return n


def test_inspect_and_running(sandbox: Callable[..., Any], run_id: str) -> None:
    c = sandbox("sleep 1000", tmpfs={"/scratch": "size=1m"}, labels={"sandguard.extra": "x"})
    port = DockerSdkPort()
    info = port.inspect(c.id)
    assert info is not None and info.running and info.pid > 0
    assert info.disk_mounts == ("/scratch",) and info.labels["sandguard.extra"] == "x"
    assert info.image == "sandguard/busybox:1" and info.name == c.name
    assert port.running(f"{RUN_LABEL}={run_id}") == [c.id]
    c.stop(timeout=0)
    stopped = port.inspect(c.id)
    assert stopped is not None and not stopped.running
    c.remove()
    assert port.inspect(c.id) is None
    port.close()


def test_connections_stay_bounded() -> None:
    before = sockets()
    port = DockerSdkPort()
    for i in range(40):
        assert port.inspect(f"gone{i:04d}") is None  # one URL per container id
    assert sockets() - before <= NUM_POOLS
    port.close()
