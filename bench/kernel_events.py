"""Kernel event source: exec events per second at the fastest exec loop, events lost,
traced/untraced wall time of an exec-heavy workload, and exec-to-kill latency.

``python -m bench.kernel_events --json`` (root; Docker engine; deploy/local/kernel.sh).
Loops are bounded in count; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from typing import Any

from prometheus_client import CollectorRegistry

from collectors.docker_port import ContainerInfo
from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.source import KernelSource
from schemas import ActionResult, ExecEvent, decode, labels

IMAGE = "sandguard/busybox:1"
# 5,000 execs: ~2.5 s at the ~2,000 execs/s one busybox loop runs here.
LOOP_EXECS = 5_000
BLOCKED_RUNS = 300


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def _loop(cid: str, n: int, prog: str = "/bin/true") -> float:
    t0 = time.perf_counter()
    script = f"i=0; while [ $i -lt {n} ]; do {prog}; i=$((i+1)); done"
    subprocess.run(["docker", "exec", cid, "sh", "-c", script], capture_output=True, check=False)
    return time.perf_counter() - t0


async def run(n: int) -> dict[str, Any]:
    cid = _docker("run", "-d", "--rm", "--network", "none", IMAGE, "sleep", "600")
    try:
        untraced = min(_loop(cid, n) for _ in range(2))
        seen: list[Any] = []
        src = KernelSource(host="bench", emit=lambda out: seen.extend(decode(t, v) for t, _, v in out),
                           metrics=KernelMetrics(CollectorRegistry()))  # fmt: skip
        await src.start()
        pid = int(_docker("inspect", "-f", "{{.State.Pid}}", cid))
        src.add(ContainerInfo(id=cid, pid=pid, labels={labels.MODE: "enforce", labels.BLOCKED: "rm"}))
        traced = min([await asyncio.to_thread(_loop, cid, n), await asyncio.to_thread(_loop, cid, n)])
        await asyncio.to_thread(_loop, cid, BLOCKED_RUNS, "/bin/rm -f /nonexistent")
        await src.sync()
        await asyncio.sleep(1.0)
        await src.stop()
    finally:
        _docker("rm", "-f", cid)
    execs = [e for e in seen if isinstance(e, ExecEvent) and e.argv == ("/bin/true",)]
    kills = sorted(a.details["exec_to_kill_us"] for a in seen if isinstance(a, ActionResult))
    return {
        "exec_loop_count": n,
        "exec_events_per_s": round(len(execs) / 2 / traced, 1),
        "exec_events_seen": len(execs),
        "exec_events_expected": 2 * n,
        "exec_events_lost": src.lost + max(0, 2 * n - len(execs)),
        "exec_overhead_ratio": round(traced / untraced, 3),
        "untraced_s": round(untraced, 3),
        "traced_s": round(traced, 3),
        "blocked_runs": BLOCKED_RUNS,
        "blocked_killed": len(kills),
        "exec_to_kill_us_p50": kills[len(kills) // 2] if kills else None,
        "exec_to_kill_us_p99": kills[int(len(kills) * 0.99) - 1] if kills else None,
        "tracer_attach_s": round(src.started_at, 2),
        "mode": src.mode,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--execs", type=int, default=LOOP_EXECS)
    args = ap.parse_args()
    result = asyncio.run(run(args.execs))
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
