"""Each action on the real engine, verified by inspecting the container (and the kernel)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from typing import Any

import docker
import pytest

from schemas import ActionOutcome, EnforcementAction, ResourceLimits, stable_id
from schemas.topics import ACTIONS
from tests.integration.enforcer.conftest import (
    CommandFactory,
    EnforcerFactory,
    Results,
    SandboxFactory,
    host_config,
    kernel_cpu_quota,
    publish,
    status,
)

A = EnforcementAction
R = ActionOutcome
MIB = 1024 * 1024


async def test_throttle_lowers_the_quota_in_force_by_the_factor(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox(cpu_quota=60_000)
    bus = await make_bus()
    first = make_command(box.id, A.THROTTLE, throttle_factor=0.5, time=1_000)
    second = make_command(box.id, A.THROTTLE, throttle_factor=0.5)
    async with make_enforcer(bus):
        await publish(bus, first, second)
        seen = await results.wait_for(2)
    assert [r.result for r in seen] == [R.APPLIED, R.APPLIED]
    # relative to the quota in force: 60 ms, then 30 ms, then 15 ms
    assert seen[0].details["plan"]["resources"]["CpuQuota"] == 30_000
    assert host_config(docker_client, box.id)["CpuQuota"] == 15_000
    assert kernel_cpu_quota(box) == 15_000
    assert seen[0].event_id == stable_id(ACTIONS, first.command_id)
    assert seen[0].latency_ms is not None and seen[0].latency_ms > 0
    assert seen[0].violation_ids == first.violation_ids
    assert seen[0].host == "host-a"


async def test_throttle_of_a_container_created_with_cpus(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox(cpu_quota=None, cpu_period=None, nano_cpus=500_000_000)
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command(box.id, A.THROTTLE, throttle_factor=0.5))
        (result,) = await results.wait_for(1)
    assert result.result is R.APPLIED, result.reason
    assert host_config(docker_client, box.id)["NanoCpus"] == 250_000_000
    assert kernel_cpu_quota(box) == 25_000


async def test_reapply_limits_restores_drifted_limits(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox()
    # drift: someone loosened the limits after creation
    url = f"{docker_client.api.base_url}/v{docker_client.api.api_version}/containers/{box.id}/update"
    drift = {"Memory": 256 * MIB, "MemorySwap": 512 * MIB, "CpuQuota": 200_000, "PidsLimit": 1000}
    assert docker_client.api.post(url, json=drift).status_code == 200
    limits = ResourceLimits(memory_mb=64, cpu_percent=40.0, max_processes=15)
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command(box.id, A.REAPPLY_LIMITS, limits=limits))
        (result,) = await results.wait_for(1)
    assert result.result is R.APPLIED, result.reason
    assert result.details["before"]["PidsLimit"] == 1000
    hc = host_config(docker_client, box.id)
    assert (hc["Memory"], hc["MemorySwap"]) == (64 * MIB, 64 * MIB)
    assert (hc["CpuQuota"], hc["CpuPeriod"], hc["PidsLimit"]) == (40_000, 100_000, 15)
    assert kernel_cpu_quota(box) == 40_000


async def test_pause_unpause_pause_in_order(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    boxes = [sandbox() for _ in range(3)]
    bus = await make_bus()
    commands = [make_command(b.id, action) for action in (A.PAUSE, A.UNPAUSE, A.PAUSE) for b in boxes]
    async with make_enforcer(bus):
        await publish(bus, *commands)
        seen = await results.wait_for(len(commands))
    assert {r.result for r in seen} == {R.APPLIED}
    for b in boxes:
        per_box = [r.action for r in seen if r.container_id == b.id]
        assert per_box == [A.PAUSE, A.UNPAUSE, A.PAUSE]  # one container's commands, in order
        state = docker_client.api.inspect_container(b.id)["State"]
        assert state["Paused"] is True


async def test_unpause_resumes_the_processes(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox()
    docker_client.api.pause(box.id)
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command(box.id, A.UNPAUSE))
        (result,) = await results.wait_for(1)
    assert result.result is R.APPLIED
    assert status(docker_client, box.id) == "running"
    assert box.exec_run(["true"]).exit_code == 0


async def test_terminate_kills_and_removes(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    running, paused = sandbox(), sandbox()
    docker_client.api.pause(paused.id)
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command(running.id, A.TERMINATE), make_command(paused.id, A.TERMINATE))
        seen = await results.wait_for(2)
    assert [r.result for r in seen] == [R.APPLIED, R.APPLIED]
    for b in (running, paused):
        with pytest.raises(docker.errors.NotFound):
            docker_client.api.inspect_container(b.id)


async def test_terminate_keeping_the_filesystem_stops_and_keeps_the_evidence(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox("echo exfil-attempt > /tmp/evidence.txt; sleep 3600")
    for _ in range(50):
        if box.exec_run(["test", "-f", "/tmp/evidence.txt"]).exit_code == 0:
            break
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command(box.id, A.TERMINATE, keep_filesystem=True))
        (result,) = await results.wait_for(1)
    assert result.result is R.APPLIED
    assert result.details["plan"] == {"operation": "stop"}
    assert status(docker_client, box.id) == "exited"
    stream, _ = docker_client.api.get_archive(box.id, "/tmp/evidence.txt")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile("evidence.txt")
        assert member is not None
        assert member.read() == b"exfil-attempt\n"


async def test_an_unknown_container_is_reported_already_gone(
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
) -> None:
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command("0" * 64, A.TERMINATE))
        (result,) = await results.wait_for(1)
    assert result.result is R.ALREADY_GONE
    assert result.reason == "no such container on this host"


async def test_an_exited_container_is_already_gone_for_a_pause(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox("true")
    box.wait(timeout=30)
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command(box.id, A.PAUSE))
        (result,) = await results.wait_for(1)
    assert (result.result, result.reason) == (R.ALREADY_GONE, "container exited")
