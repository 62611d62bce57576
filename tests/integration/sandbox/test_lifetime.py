"""A lifetime the sandbox cannot stop, and what a killed manager leaves reclaimed (issue 17).

On main the lifetime timer ran as the sandbox user, so code inside could SIGSTOP it;
after a ``kill -9`` of the manager that sandbox stayed up, a sibling stayed as an
exited container with its volumes, and a new manager's cleanup() removed neither.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from sandbox import SandboxManager
from sandbox.gc import Reclaimer
from sandbox.labels import EXPIRES_AT, HOST, LEASE, MANAGER, SANDBOX
from sandbox.lease import Lease
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.sandbox.conftest import RUN_LABEL, MakeManager, quick_policy

ROOT = Path(__file__).resolve().parents[3]
VICTIM = Path(__file__).with_name("lease_victim.py")
SHORT_LIFE_S = 6
# The timer ends the sandbox at its lifetime; the engine reports the stop within seconds.
STOP_DEADLINE_S = SHORT_LIFE_S + 15
RECLAIM_DEADLINE_S = 30


async def _until(check: Any, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(0.5)
    return False


@pytest.mark.parametrize("image", [PYTHON_IMAGE, BUSYBOX_IMAGE])
async def test_the_sandbox_user_cannot_stop_its_lifetime(
    make_manager: MakeManager, docker_client: Any, image: str
) -> None:
    policy = quick_policy(blocked_commands=set(), limits={"execution_timeout": SHORT_LIFE_S})
    manager = await make_manager(policy, image=image)
    sid = await manager.create_sandbox()
    stop = await manager.execute(sid, "kill -STOP 1; kill -STOP $(pidof sleep)", timeout=5)
    assert stop.exit_code != 0 and "not permitted" in stop.stderr.lower(), stop
    who = await manager.execute(sid, "id -u", timeout=5)
    assert who.stdout.strip() == "1000"

    def stopped() -> bool:
        return not docker_client.api.inspect_container(sid)["State"]["Running"]

    assert await _until(stopped, STOP_DEADLINE_S), "the sandbox outlived its lifetime"


def _made_line(victim: subprocess.Popen[bytes]) -> str:
    """The victim's report line (its logs go to the same stream)."""
    assert victim.stdout is not None
    for raw in victim.stdout:
        if raw.startswith(b"MADE "):
            return raw.decode()
    raise AssertionError(f"the victim exited ({victim.wait()}) before it reported")


def _owned(client: Any, manager_id: str) -> dict[str, list[str]]:
    label = {"label": f"{MANAGER}={manager_id}"}
    return {
        "containers": [c["Id"] for c in client.api.containers(all=True, filters=label)],
        "volumes": [v["Name"] for v in client.api.volumes(filters=label).get("Volumes") or []],
        "networks": [n["Id"] for n in client.api.networks(filters=label)],
    }


@pytest.mark.slow
async def test_a_new_manager_reclaims_what_a_killed_manager_left(
    make_manager: MakeManager, docker_client: Any, run_id: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    victim = subprocess.Popen(
        [sys.executable, str(VICTIM), str(tmp_path), run_id], stdout=subprocess.PIPE, env=env, cwd=ROOT
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(_made_line, victim), 60)
        made = json.loads(line.removeprefix("MADE "))
        left = _owned(docker_client, made["manager_id"])
        assert len(left["containers"]) == 2 and len(left["volumes"]) == 4 and len(left["networks"]) == 1, left
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert victim.stdout is not None
        victim.stdout.close()
    manager: SandboxManager = await make_manager(lease_directory=str(tmp_path))

    def reclaimed() -> bool:
        return not any(_owned(docker_client, made["manager_id"]).values())

    assert await _until(reclaimed, RECLAIM_DEADLINE_S), _owned(docker_client, made["manager_id"])
    assert manager.list_sandboxes() == []


async def test_gc_never_touches_what_was_made_without_a_lease(
    docker_client: docker.DockerClient, run_id: str, tmp_path: Path
) -> None:
    """Sandboxes of managers without leases (other versions run on the same engine) are
    left alone, even expired and with a manager that is long gone."""
    labels = {
        SANDBOX: "1",
        MANAGER: "gone0000",
        HOST: socket.gethostname(),
        EXPIRES_AT: "1",
        RUN_LABEL: run_id,
    }
    container = docker_client.containers.run(
        BUSYBOX_IMAGE, ["sleep", "60"], detach=True, network_disabled=True, labels=labels
    )
    try:
        report = await asyncio.to_thread(Reclaimer(docker_client.api, tmp_path, socket.gethostname()).run)
        assert container.id not in report.containers + report.killed
        container.reload()
        assert container.status == "running"
    finally:
        container.remove(force=True)


async def test_any_reclaimer_ends_a_sandbox_past_its_lifetime(
    docker_client: docker.DockerClient, run_id: str, tmp_path: Path
) -> None:
    """Expiry is enforced by whoever runs a reclaimer, not only by the sandbox's own
    manager: a leased sandbox of a live manager, still running past its end, is killed."""
    Lease(tmp_path, "owner0001").take()  # its manager is alive (this process)
    ended = str(int(time.time()) - 60)
    labels = {
        SANDBOX: "1", MANAGER: "owner0001", HOST: socket.gethostname(), LEASE: str(tmp_path),
        EXPIRES_AT: ended, RUN_LABEL: run_id,
    }  # fmt: skip
    container = docker_client.containers.run(
        BUSYBOX_IMAGE, ["sleep", "60"], detach=True, network_disabled=True, labels=labels
    )
    try:
        report = await asyncio.to_thread(Reclaimer(docker_client.api, tmp_path, socket.gethostname()).run)
        assert container.id in report.killed and container.id not in report.containers
        container.reload()
        assert container.status == "exited"  # killed, and left to its live owner to remove
    finally:
        container.remove(force=True)
