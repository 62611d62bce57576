"""The distributed mode end to end, against the embedded mode on the same scenario.

The demo's sandboxes run under ``SandboxManager(policy, bus=KafkaBus(...))`` as the README
shows, while a collector, two processor workers, an enforcer and a sink run as separate
processes. Mid-scenario one processor is killed with SIGKILL and the enforcer restarted:
the violations and actions per sandbox and rule must still be the embedded mode's, no
command may be acted on twice, and the sink's history must hold the actions taken.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sandguard import SandboxManager
from sandguard.bus import KafkaBus
from sandguard.demo import demo_policy
from tests.integration.distributed import scenario as sc
from tests.integration.distributed.conftest import PARTITIONS, RUN_LABEL, Stack, sandguard_exe

# The chaos starts 1 s into the misbehaviour: while samples flow and before most findings.
CHAOS_AFTER_S = 1.0
# The sink stores what was published within a batch delay (1 s) after it consumed it.
SINK_CATCH_UP_S = 60.0


async def run_embedded(data_dir: Path, run_id: str) -> dict[str, Any]:
    manager = SandboxManager(
        demo_policy(), data_dir=data_dir, labels={RUN_LABEL: run_id}, registry=CollectorRegistry()
    )
    async with manager:
        assert manager.pipeline is not None
        watch = await sc.Watch.on(manager.pipeline.bus, "e2e-watch")
        try:
            ids = await sc.create(manager)
            behaved = await sc.behave(manager, ids)
            await sc.wait_settled(watch, ids, sc.start_misbehaving(manager, ids))
        finally:
            await watch.stop()
    return {"behaved": behaved, "outcome": sc.outcome(watch.seen, ids)}


async def run_distributed(stack: Stack, run_id: str) -> tuple[dict[str, str], dict[str, Any], sc.Seen]:
    bus = KafkaBus(stack.bootstrap, namespace=stack.namespace, partitions=PARTITIONS)
    manager = SandboxManager(demo_policy(), bus=bus, labels={RUN_LABEL: run_id}, registry=CollectorRegistry())
    async with manager:  # starts the bus, stops it at the end
        watch = await sc.Watch.on(bus, "e2e-watch")
        try:
            ids = await sc.create(manager)
            behaved = await sc.behave(manager, ids)
            hogs = sc.start_misbehaving(manager, ids)
            await asyncio.sleep(CHAOS_AFTER_S)
            stack.processors[0].kill()
            await asyncio.to_thread(stack.restart_enforcer)
            await sc.wait_settled(watch, ids, hogs)
        finally:
            await watch.stop()
    assert not bus.is_running
    return ids, behaved, watch.seen


def sink_caught_up(stack: Stack, results: int) -> None:
    """Until the sink consumed every action result published (bounded)."""
    name = 'sandguard_sink_records_total{topic="sandguard.actions"} '
    deadline = time.monotonic() + SINK_CATCH_UP_S
    while time.monotonic() < deadline:
        text = stack.sink.metrics()
        line = next((x for x in text.splitlines() if x.startswith(name)), "")
        if line and float(line.rsplit(" ", 1)[1]) >= results:
            return
        time.sleep(0.5)
    raise AssertionError(f"sink did not consume {results} action results: {stack.sink.tail()}")


def stored_report(data_dir: Path, sandbox_id: str) -> dict[str, Any]:
    """The sandbox's report from the sink's store, as ``sandguard report`` prints it."""
    out = subprocess.run(
        [sandguard_exe(), "report", "--data-dir", str(data_dir), "--sandbox", sandbox_id, "--json"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(out.stdout)["sandbox"]
    return report


async def test_distributed_mode_acts_like_the_embedded_mode_through_crashes(
    stack: Stack, embedded_data_dir: Path, run_id: str
) -> None:
    embedded = await run_embedded(embedded_data_dir, run_id)
    await asyncio.to_thread(stack.start)
    ids, behaved, seen = await run_distributed(stack, run_id)

    assert behaved == embedded["behaved"]
    assert sc.outcome(seen, ids) == embedded["outcome"]
    assert sc.duplicate_actions(seen) == {}
    # The collector waited for its bus: nothing was published before it was up.
    assert not [e for e in stack.collector.log_events() if e.get("event") == "publish_failed"]

    results = sum(len(r) for r in seen.results.values())
    await asyncio.to_thread(sink_caught_up, stack, results)
    assert stack.sink.stop() == 0, stack.sink.tail()
    for role, cid in ids.items():
        report = await asyncio.to_thread(stored_report, stack.sink_dir, cid)
        stored = sorted((a["command_id"], a["action"], a["result"]) for a in report["actions"])
        taken = sorted((r.command_id, r.action.value, r.result.value) for r in seen.results[cid])
        assert stored == taken, role
        assert set(report["violations_by_rule"]) == set(embedded["outcome"][role]["rules"]), role
