"""A crash at any point neither loses nor repeats an action.

In process, a wrapper around a real part (the engine, the ledger) raises
where the process would die, so each window is hit exactly: after the action before
its result, after the result before the ledger, after the ledger before the commit.
Then the real CLI in a subprocess is killed with SIGKILL in the middle of a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker
import pytest

from enforcer import DockerEngine, DockerPort, ObservedContainer
from schemas import ActionOutcome, EnforcementAction, stable_id
from schemas.topics import ACTIONS
from tests.integration.enforcer.conftest import (
    HOST,
    RUN_LABEL,
    CommandFactory,
    EnforcerFactory,
    Results,
    SandboxFactory,
    host_config,
    publish,
)

A = EnforcementAction
R = ActionOutcome


class SimulatedCrash(Exception):
    """The process dies here: nothing after this point of the batch happens."""


class CrashAfterAction:
    """The real engine; the first ``operation`` lands, then the process 'dies'."""

    def __init__(self, inner: DockerPort, operation: str) -> None:
        self.inner = inner
        self.operation = operation
        self.armed = True

    def _after(self, operation: str) -> None:
        if self.armed and operation == self.operation:
            self.armed = False
            raise SimulatedCrash(operation)

    def inspect(self, container_id: str) -> ObservedContainer:
        return self.inner.inspect(container_id)

    def update(self, container_id: str, resources: Mapping[str, int]) -> None:
        self.inner.update(container_id, resources)
        self._after("update")

    def pause(self, container_id: str) -> None:
        self.inner.pause(container_id)
        self._after("pause")

    def unpause(self, container_id: str) -> None:
        self.inner.unpause(container_id)
        self._after("unpause")

    def stop(self, container_id: str) -> None:
        self.inner.stop(container_id)
        self._after("stop")

    def remove(self, container_id: str) -> None:
        self.inner.remove(container_id)
        self._after("remove")


async def _crash_then_recover(
    first: Any, make_bus: Callable[[], Any], make_enforcer: EnforcerFactory, results: Results
) -> None:
    await first.start()
    with contextlib.suppress(SimulatedCrash):
        await asyncio.wait_for(first.wait(), 30)
    await first.stop()
    assert first.state == "failed"
    async with make_enforcer(await make_bus()):
        await results.wait_for(1)
        await results.settle()


async def test_crash_after_the_action_before_its_result(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox(cpu_quota=80_000)
    command = make_command(box.id, A.THROTTLE)
    bus = await make_bus()
    await publish(bus, command)
    engine = DockerEngine.from_env()
    first = make_enforcer(await make_bus(), docker=CrashAfterAction(engine, "update"))
    await _crash_then_recover(first, make_bus, make_enforcer, results)
    engine.close()
    (result,) = results.seen
    assert result.result is R.APPLIED
    assert (result.details["recovered"], result.details["attempts"]) == (True, 0)
    assert host_config(docker_client, box.id)["CpuQuota"] == 40_000  # once, not 20 ms


async def test_crash_after_the_result_before_the_ledger(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox(cpu_quota=80_000)
    command = make_command(box.id, A.THROTTLE)
    bus = await make_bus()
    await publish(bus, command)
    first = make_enforcer(await make_bus())

    async def crash(*args: Any, **kwargs: Any) -> None:  # the results were delivered, then the process died
        raise SimulatedCrash("before the ledger")

    first.ledger.record_done = crash  # type: ignore[method-assign]
    await _crash_then_recover(first, make_bus, make_enforcer, results)
    # the result went out twice with one event id: a consumer stores it once
    assert [r.result for r in results.seen] == [R.APPLIED, R.APPLIED]
    assert {r.event_id for r in results.seen} == {stable_id(ACTIONS, command.command_id)}
    assert results.seen[1].details["recovered"] is True
    assert host_config(docker_client, box.id)["CpuQuota"] == 40_000


async def test_crash_after_the_ledger_before_the_commit(
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_enforcer: EnforcerFactory,
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
) -> None:
    box = sandbox(cpu_quota=80_000)
    command = make_command(box.id, A.THROTTLE)
    bus = await make_bus()
    await publish(bus, command)
    first = make_enforcer(await make_bus())
    record_done = first.ledger.record_done

    async def crash(*args: Any, **kwargs: Any) -> None:  # the ledger has it, then the process died
        await record_done(*args, **kwargs)
        raise SimulatedCrash("before the commit")

    first.ledger.record_done = crash  # type: ignore[method-assign]
    await _crash_then_recover(first, make_bus, make_enforcer, results)
    assert [r.result for r in results.seen] == [R.APPLIED]  # the redelivery said nothing
    assert host_config(docker_client, box.id)["CpuQuota"] == 40_000


# --- the real process, killed ------------------------------------------------------------

CONTAINERS = 10
COMMAND_SPACING_S = 0.03  # a steady stream, so the kill lands mid-stream, not between bursts


def _start_cli(ns: str, state_dir: Path, bootstrap: str, run_id: str, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "sandguard"
    args = [
        str(exe), "enforcer", "--host", HOST, "--bootstrap", bootstrap, "--namespace", ns,
        "--state-dir", str(state_dir), "--require-label", f"{RUN_LABEL}={run_id}", "--metrics-port", "0",
    ]  # fmt: skip
    env = {**os.environ, "SANDGUARD_LOG_FORMAT": "json"}
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


@pytest.mark.parametrize("when", ["backlog", "stream"])
async def test_sigkill_neither_loses_nor_repeats_an_action(
    when: str,
    sandbox: SandboxFactory,
    make_bus: Callable[[], Any],
    make_command: CommandFactory,
    results: Results,
    docker_client: docker.DockerClient,
    kafka_bootstrap: str,
    topics: str,
    tmp_path: Path,
    run_id: str,
) -> None:
    boxes = [sandbox(cpu_quota=80_000) for _ in range(CONTAINERS)]
    commands = [make_command(b.id, a) for b in boxes for a in (A.THROTTLE, A.PAUSE, A.THROTTLE)]
    order = sorted(commands, key=lambda c: commands.index(c) % 3)  # throttles, pauses, throttles
    bus = await make_bus()
    log = tmp_path / "enforcer.log"
    proc = _start_cli(topics, tmp_path / "state", kafka_bootstrap, run_id, log)
    try:
        # backlog: every command waits on the topic, so the kill lands inside a batch of
        # concurrent lanes; stream: commands arrive one by one once the enforcer answers.
        await publish(bus, make_command("0" * 64, A.PAUSE), *(order if when == "backlog" else ()))
        await results.wait_for(1, timeout_s=60)

        async def stream() -> None:
            for c in order if when == "stream" else ():
                await publish(bus, c)
                await asyncio.sleep(COMMAND_SPACING_S)

        sender = asyncio.create_task(stream())
        await results.wait_for(1 + len(commands) // 6, timeout_s=60)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        killed_after = len(results.seen) - 1
        await sender
        proc = _start_cli(topics, tmp_path / "state", kafka_bootstrap, run_id, log)
        wanted = {c.command_id for c in commands}
        deadline = asyncio.get_running_loop().time() + 90
        while not wanted <= {r.command_id for r in results.seen}:
            assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
            await results.wait_for(len(results.seen) + 1, timeout_s=90)
        await results.settle()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    assert killed_after < len(commands), "the kill came after the stream: nothing was tested"
    for c in commands:
        got = results.for_command(c.command_id)
        assert {r.result for r in got} == {R.APPLIED}, got
        assert {r.event_id for r in got} == {stable_id(ACTIONS, c.command_id)}
    for b in boxes:
        hc = host_config(docker_client, b.id)
        assert hc["CpuQuota"] == 20_000, b.id  # halved exactly twice: 80 -> 40 -> 20 ms
        assert docker_client.api.inspect_container(b.id)["State"]["Paused"] is True
