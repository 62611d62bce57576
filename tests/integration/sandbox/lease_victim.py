"""A manager process for the lease test: makes two sandboxes (one with a Docker network),
prints what it made as one JSON line, then waits to be killed with -9. An optional third
argument is its workspace directory (the loop images; the default's otherwise)."""

from __future__ import annotations

import asyncio
import json
import sys

from prometheus_client import CollectorRegistry

from sandbox import SandboxManager
from sandbox.workspace import DEFAULT_ROOT as DEFAULT_WORKSPACE_ROOT
from sandguard.bus import LocalBus
from schemas import NetworkPolicy, ResourceLimits, SecurityPolicy

LIFETIME_S = 600


async def main(lease_dir: str, run_id: str, workspace_dir: str = DEFAULT_WORKSPACE_ROOT) -> None:
    bus = LocalBus()
    await bus.start()
    limits = ResourceLimits(memory_mb=64, max_processes=20, execution_timeout=LIFETIME_S)
    manager = SandboxManager(
        SecurityPolicy(resource_limits=limits),
        bus=bus,
        image="sandguard/busybox:1",
        labels={"test.run": run_id},
        registry=CollectorRegistry(),
        lease_directory=lease_dir,
        workspace_dir=workspace_dir,
        watch_enforcement=False,
    )
    await manager.start()
    internal = SecurityPolicy(resource_limits=limits, network_policy=NetworkPolicy.INTERNAL)
    made = [await manager.create_sandbox(), await manager.create_sandbox(policy=internal)]
    print("MADE " + json.dumps({"manager_id": manager.manager_id, "sandboxes": made}), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
