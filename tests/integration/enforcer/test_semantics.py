"""Once in effect: duplicates, replays, audit mode, other hosts, containers not ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import pytest

from schemas import ActionOutcome, EnforcementAction
from tests.integration.enforcer.conftest import (
    HOST,
    RUN_LABEL,
    CommandFactory,
    EnforcerFactory,
    Results,
    SandboxFactory,
    host_config,
    publish,
    status,
)

A = EnforcementAction
R = ActionOutcome


async def test_a_duplicated_command_acts_once(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox(cpu_quota=80_000)
    bus = await make_bus()
    command = make_command(box.id, A.THROTTLE)
    async with make_enforcer(bus):
        await publish(bus, command)
        await results.wait_for(1)
        await publish(bus, command)  # a later batch
        await publish(bus, command, command)  # and twice within one batch
        seen = await results.wait_for(4)
    assert [r.result for r in seen] == [R.APPLIED, R.DUPLICATE, R.DUPLICATE, R.DUPLICATE]
    assert seen[1].details["original_event_id"] == seen[0].event_id
    assert host_config(docker_client, box.id)["CpuQuota"] == 40_000  # halved once


async def test_a_replay_of_the_topic_acts_on_nothing_and_says_nothing(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    boxes = [sandbox(cpu_quota=80_000) for _ in range(3)]
    commands = [make_command(b.id, A.THROTTLE) for b in boxes]
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, *commands)
        await results.wait_for(3)
    # an operator resets the offsets (a new group reads the topic from the beginning)
    replayer = make_enforcer(await make_bus(), group="sandguard-enforcer.replay")
    async with replayer:
        await publish(bus, make_command("f" * 64, A.PAUSE))  # a marker after the replayed commands
        seen = await results.wait_for(4)
        await results.settle()
    assert [r.result for r in results.seen[3:]] == [R.ALREADY_GONE]  # only the marker
    assert seen[3].container_id == "f" * 64
    assert (
        replayer.registry.get_sample_value(
            "sandguard_enforcer_commands_ignored_total", {"reason": "redelivered"}
        )
        == 3
    )
    for b in boxes:
        assert host_config(docker_client, b.id)["CpuQuota"] == 40_000


@pytest.mark.parametrize("where", ["global", "command"])
async def test_audit_only_records_what_would_be_done(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
    where: str,
) -> None:
    box = sandbox()
    mode = "audit" if where == "command" else "enforce"
    commands = [make_command(box.id, action, mode=mode) for action in (A.THROTTLE, A.PAUSE, A.TERMINATE)]
    bus = await make_bus()
    async with make_enforcer(bus, audit_only=where == "global"):
        await publish(bus, *commands)
        seen = await results.wait_for(3)
    assert [r.result for r in seen] == [R.AUDIT_ONLY] * 3
    assert seen[0].details["plan"]["resources"]["CpuQuota"] == 25_000
    assert seen[2].details["plan"] == {"operation": "remove"}
    assert status(docker_client, box.id) == "running"
    assert host_config(docker_client, box.id)["CpuQuota"] == 50_000


async def test_commands_for_another_host_are_ignored_and_committed(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox()
    elsewhere = make_command(box.id, A.TERMINATE, host="host-b")
    mine = make_command(box.id, A.PAUSE)  # same key, same partition: read after the other
    bus = await make_bus()
    first = make_enforcer(bus)
    async with first:
        await publish(bus, elsewhere, mine)
        await results.wait_for(1)
    assert [r.command_id for r in results.seen] == [mine.command_id]
    assert status(docker_client, box.id) == "paused"
    sample = first.registry.get_sample_value
    assert sample("sandguard_enforcer_commands_ignored_total", {"reason": "other_host"}) == 1
    # host-b's enforcer, in its own group, does see the command
    other = make_enforcer(await make_bus(), host="host-b", state_dir=first.ledger.path.parent / "b")
    async with other:
        await results.wait_for(2)
    assert results.seen[1].command_id == elsewhere.command_id
    assert results.seen[1].host == "host-b"
    # this host's group committed past it: a restart reads nothing again
    again = make_enforcer(await make_bus())
    async with again:
        await results.settle()
    assert again.registry.get_sample_value(
        "sandguard_enforcer_commands_ignored_total", {"reason": "other_host"}
    ) in (
        None,
        0,
    )
    assert len(results.seen) == 2


async def test_a_container_that_is_not_a_sandbox_is_not_touched(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
    run_id: str,
) -> None:
    bystander = sandbox()  # labelled with the run id only: it stands for someone else's container
    bus = await make_bus()
    guard = {RUN_LABEL: run_id, "sandguard.sandbox": None}
    async with make_enforcer(bus, required_labels=guard):
        await publish(bus, make_command(bystander.id, A.TERMINATE))
        (result,) = await results.wait_for(1)
    assert result.result is R.FAILED
    assert "lacks label sandguard.sandbox" in result.reason
    assert status(docker_client, bystander.id) == "running"


async def test_a_container_named_instead_of_identified_is_refused(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
    run_id: str,
) -> None:
    box = sandbox(name=f"victim-{run_id}")
    bus = await make_bus()
    async with make_enforcer(bus):
        await publish(bus, make_command(f"victim-{run_id}", A.TERMINATE))
        (result,) = await results.wait_for(1)
    assert result.result is R.FAILED
    assert "not a name" in result.reason
    assert status(docker_client, box.id) == "running"


async def test_the_result_carries_the_command_host_and_mode(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
) -> None:
    box = sandbox()
    bus = await make_bus()
    command = make_command(box.id, A.PAUSE, rule_ids=("process.reverse_shell",), violation_ids=("v1", "v2"))
    async with make_enforcer(bus):
        await publish(bus, command)
        (result,) = await results.wait_for(1)
    assert (result.host, result.container_id, result.action) == (HOST, box.id, A.PAUSE)
    assert (result.violation_ids, result.rule_ids) == (("v1", "v2"), ("process.reverse_shell",))
    assert result.details["mode"] == "enforce"
    assert result.details["policy_id"] == "pol-test"
    assert result.command_time == command.time
