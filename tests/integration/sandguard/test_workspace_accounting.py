"""Honest accounting of the workspace (issue 15), end to end on the embedded default: the
collector samples the disk use, disk.level warns near the quota and acts on nothing, and
the report shows the use beside the quota."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sandguard import ResourceLimits, SandboxManager, SecurityPolicy

BUSYBOX = "sandguard/busybox:1"
DISK_MB = 128  # /work 88 MiB + /tmp 32 MiB: a quota of 120 MiB, disk.level over 108 MiB
# The collector reads disk every 5th sample of 1 s; the sink writes within a second or two.
REPORT_POLLS = 120
REPORT_POLL_S = 0.5


async def _report_with_disk_level(manager: SandboxManager, sid: str) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for _ in range(REPORT_POLLS):
        report = await manager.get_security_report(sid)
        if report.get("violations_by_rule", {}).get("disk.level") and (report.get("disk") or {}).get(
            "usage_mb"
        ):
            return report
        await asyncio.sleep(REPORT_POLL_S)
    raise AssertionError(f"no disk.level in the report: {report.get('violations_by_rule')}")


async def test_a_nearly_full_workspace_is_reported_and_left_running(embedded_data_dir: Path) -> None:
    policy = SecurityPolicy(
        # A whole CPU: dd and cat at a 50 % quota are throttled in most periods, and
        # cpu.throttled would then (rightly) act at this threshold of 1.
        resource_limits=ResourceLimits(
            memory_mb=64, cpu_percent=100.0, disk_mb=DISK_MB, execution_timeout=300
        ),
        violation_threshold=1,  # anything that escalated would act at once
        auto_terminate_on_violation=True,
    )
    manager = SandboxManager(policy, data_dir=embedded_data_dir, image=BUSYBOX)
    try:
        sid = await manager.create_sandbox()
        filled = await manager.execute(sid, "dd if=/dev/zero of=/work/data bs=1M count=80", timeout=60)
        assert filled.exit_code == 0, filled
        more = await manager.execute(sid, "dd if=/dev/zero of=/tmp/data bs=1M count=30", timeout=60)
        assert more.exit_code == 0, more  # 110 MiB of the 120: over the level
        report = await _report_with_disk_level(manager, sid)
        disk = report["disk"]
        assert disk["quota_mb"] == 120 and 108 < disk["usage_mb"] <= 120 and disk["used_percent"] > 90
        assert report["actions"] == []  # informs only
        still = await manager.execute(sid, "cat /work/data | wc -c", timeout=30)
        assert still.exit_code == 0 and int(still.stdout) == 80 * 1024 * 1024
    finally:
        await manager.cleanup()
