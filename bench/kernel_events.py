"""Kernel event source: exec events per second at the fastest exec loop, events lost,
traced/untraced wall time of an exec-heavy workload, the tracer's CPU per exec, and
exec-to-kill latency of a blocked program.

``python -m bench.kernel_events --json`` (root; Docker engine; deploy/local/kernel.sh).
Traced and untraced runs alternate (the machine is shared and noisy: the best of each is
compared). Loops are bounded in count; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from typing import Any

from prometheus_client import CollectorRegistry

from collectors.docker_port import ContainerInfo
from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.source import KernelSource
from schemas import ActionResult, ExecEvent, decode, labels

IMAGE = "sandguard/busybox:1"
# 3,000 execs: ~2 s at the ~1,500-2,000 execs/s one busybox loop runs here.
LOOP_EXECS = 3_000
ROUNDS = 3
BLOCKED_RUNS = 300
TICKS = os.sysconf("SC_CLK_TCK")


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _loop(cid: str, n: int, prog: str = "/bin/true") -> float:
    t0 = time.perf_counter()
    script = f"i=0; while [ $i -lt {n} ]; do {prog}; i=$((i+1)); done"
    subprocess.run(["docker", "exec", cid, "sh", "-c", script], capture_output=True, check=False)
    return time.perf_counter() - t0


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Round:
    def __init__(self, cid: str, pid: int) -> None:
        self.cid, self.pid, self.raw, self.lost = cid, pid, list[tuple[str, bytes]](), 0

    async def traced(self, n: int, blocked_runs: int) -> tuple[float, float, float]:
        """(wall s, tracer CPU s, reader CPU s) of one traced loop."""
        src = KernelSource(host="bench", emit=lambda out: self.raw.extend((t, v) for t, _, v in out),
                           metrics=KernelMetrics(CollectorRegistry()))  # fmt: skip
        await src.start()
        policy = {labels.MODE: "enforce", labels.BLOCKED: "rm"}
        src.add(ContainerInfo(id=self.cid, pid=self.pid, labels=policy))
        await src.sync()
        tracer0, reader0 = _cpu_s(src.tracer_pid), time.process_time()
        wall = await asyncio.to_thread(_loop, self.cid, n)
        await src.sync(30.0)
        tracer, reader = _cpu_s(src.tracer_pid) - tracer0, time.process_time() - reader0
        if blocked_runs:
            await asyncio.to_thread(_loop, self.cid, blocked_runs, "/bin/rm -f /nonexistent")
            await src.sync(30.0)
        self.lost += src.lost
        await src.stop()
        return wall, tracer, reader


async def run(n: int, rounds: int) -> dict[str, Any]:
    cid = _docker("run", "-d", "--rm", "--network", "none", IMAGE, "sleep", "600")
    try:
        r = Round(cid, int(_docker("inspect", "-f", "{{.State.Pid}}", cid)))
        untraced, traced = [], []
        for i in range(rounds):
            untraced.append(await asyncio.to_thread(_loop, cid, n))
            traced.append(await r.traced(n, BLOCKED_RUNS if i == 0 else 0))
    finally:
        _docker("rm", "-f", cid)
    seen = [decode(t, v) for t, v in r.raw]
    execs = [e for e in seen if isinstance(e, ExecEvent) and e.argv == ("/bin/true",)]
    kills = sorted(a.details["exec_to_kill_us"] for a in seen if isinstance(a, ActionResult))
    best = min(traced)
    return {
        "exec_loop_count": n, "rounds": rounds,
        "exec_events_per_s": round(n / best[0], 1),
        "exec_events_seen": len(execs), "exec_events_expected": rounds * n,
        "exec_events_lost": r.lost + max(0, rounds * n - len(execs)),
        "exec_overhead_ratio": round(best[0] / min(untraced), 3),
        "untraced_s": [round(u, 3) for u in untraced], "traced_s": [round(t[0], 3) for t in traced],
        "tracer_cpu_us_per_exec": round(min(t[1] for t in traced) / n * 1e6, 1),
        "reader_cpu_us_per_exec": round(min(t[2] for t in traced) / n * 1e6, 1),
        "blocked_runs": BLOCKED_RUNS, "blocked_killed": len(kills),
        "exec_to_kill_us_p50": kills[len(kills) // 2] if kills else None,
        "exec_to_kill_us_p99": kills[max(0, int(len(kills) * 0.99) - 1)] if kills else None,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--execs", type=int, default=LOOP_EXECS)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    args = ap.parse_args()
    result = asyncio.run(run(args.execs, args.rounds))
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
