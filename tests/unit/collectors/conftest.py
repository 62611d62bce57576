"""Fixtures for the collector's unit tests: recorded cgroup/proc trees copied to a tmp dir
(so a test may change them: a pid that vanished, a cgroup removed), and a sampler
context over such a tree with an injected clock."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collectors.cgroups import CgroupLocator
from collectors.docker_port import ContainerInfo
from collectors.errors import ErrorReporter
from collectors.files import FdBudget
from collectors.ids import EventIds
from collectors.metrics import CollectorMetrics
from collectors.processes import fd_counter
from collectors.sampler import SamplerContext

TESTDATA = Path(__file__).parent / "testdata"
# Recorded with record_v1.py from a sandguard/python:3 container (3 processes, 7 TCP
# sockets on loopback, 1 UDP socket, 5 files open on a tmpfs, 20 MiB allocated).
V1_ID = "14d3588cf8fc00c9d77e26be3136cf0f6150bfb355ca48462721fcb5e4d41084"
V1_SYSTEMD_ID = "c3a1f5e7d9b2c4a6e8f0d1b3a5c7e9f1d3b5a7c9e1f3d5b7a9c1e3f5d7b9a1c3"
V2_ID = "5f0e2b7c9a41d3e8b6c2a0f4e1d9c7b5a3f1e0d2c4b6a8f0e2d4c6b8a0f2e4d6"
TREES = {"v1_cgroupfs": V1_ID, "v1_systemd": V1_SYSTEMD_ID, "v2_systemd": V2_ID}
INIT_PID = 4487
PIDS = (4487, 4518, 4519)
BOOT_S = 1795815841


class FakeClock:
    """An injected clock the test moves by hand."""

    def __init__(self, mono: float = 1000.0, wall_ms: int = 1_800_000_000_000) -> None:
        self.mono = mono
        self.wall_ms = wall_ms

    def monotonic(self) -> float:
        return self.mono

    def time_ms(self) -> int:
        return self.wall_ms

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall_ms += int(seconds * 1000)


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[str], Path]:
    """tree(name) -> a private copy of a recorded tree."""

    def make(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(TESTDATA / name, dest, symlinks=True)
        return dest

    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> CollectorMetrics:
    return CollectorMetrics(CollectorRegistry())


@pytest.fixture
def make_ctx(clock: FakeClock, metrics: CollectorMetrics) -> Callable[..., SamplerContext]:
    def make(root: Path, **overrides: Any) -> SamplerContext:
        proc = str(root / "proc")
        options: dict[str, Any] = {
            "host": "test-host",
            "locator": CgroupLocator(proc_root=proc, host_root=str(root)),
            "budget": FdBudget(1000),
            "errors": ErrorReporter(counter=metrics.read_errors, clock=clock),
            "ids": EventIds(),
            "boot_ms": BOOT_S * 1000,
            "ticks_per_s": 100,
            "count_fds": fd_counter(proc),
            "full_every": 30,
            "limits_every": 5,
            "limits_heartbeat_every": 60,
            "disk_every": 5,
            "tcp_states_every": 0,
        }
        options.update(overrides)
        return SamplerContext(**options)

    return make


def info(container_id: str, pid: int = INIT_PID, **overrides: Any) -> ContainerInfo:
    return ContainerInfo(id=container_id, pid=pid, **overrides)


def cgroup_dir(root: Path, name: str, controller: str) -> Path:
    cid = TREES[name]
    if name == "v1_cgroupfs":
        return root / "sys/fs/cgroup" / controller / "docker" / cid
    if name == "v1_systemd":
        sub = "cpu,cpuacct" if controller in ("cpu", "cpuacct") else controller
        return root / "sys/fs/cgroup" / sub / f"system.slice/docker-{cid}.scope"
    return root / f"sys/fs/cgroup/system.slice/docker-{cid}.scope"
