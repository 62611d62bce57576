"""Exec to finding, on the embedded pipeline with kernel events on.

    python bench/kernel_detection.py --json [--execs 200]

A busybox sandbox (workspace exec allowed) runs ``--execs`` scripts written to /work,
one every 20 ms: each exec is a ``process.written_exec`` finding of its own (its
subject is the path), published by the rule engine on the in-process bus. Prints:

* ``exec_to_finding_ms_p50/p99/max``: the bench's receipt of the finding on the bus
  (CLOCK_MONOTONIC) minus the exec's own kernel time (``ktime_ns``, the same clock);
  target p99 <= 100 ms;
* ``exec_to_event_ms_p99``: the same up to the receipt of the kernel event (the tracer,
  the collector's reader and its publishing), so the rest is the engine's share;
* ``findings``/``execs``: how many of the execs gave their finding (target: all).

Every loop is bounded in count and time; the sandbox has no network.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import docker
from prometheus_client import CollectorRegistry

from collectors import Collector, CollectorConfig
from processors.runner import ProcessorRunner
from sandbox import SandboxManager
from sandguard.bus import LocalBus
from schemas import ExecEvent, ResourceLimits, SecurityPolicy, Violation, decode, labels
from schemas import topics as t

try:
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    from stats import percentile  # type: ignore[import-not-found,no-redef]

IMAGE = "sandguard/busybox:1"
EXECS = 200
# 20 ms apart: 50 execs/s, a busy agent; 200 of them take 4 s.
SPACING_S = 0.02
TARGET_P99_MS = 100.0
# The last finding is in within a second of the last exec; 30 s is for a loaded machine.
DRAIN_TIMEOUT_S = 30.0
RULE = "process.written_exec"


class Clocked:
    """What the bench received, each with its CLOCK_MONOTONIC receipt time (ns)."""

    def __init__(self) -> None:
        self.execs: dict[str, tuple[ExecEvent, int]] = {}
        self.findings: dict[str, tuple[Violation, int]] = {}

    def add(self, event: Any, at: int) -> None:
        if isinstance(event, ExecEvent):
            self.execs[event.event_id] = (event, at)
        elif isinstance(event, Violation) and event.rule_id == RULE and event.activity.value == "create":
            self.findings.setdefault(event.message, (event, at))


async def _read(bus: LocalBus, seen: Clocked) -> None:
    consumer = await bus.consumer((t.KERNEL, t.VIOLATIONS), group="bench-reader")
    while True:
        for r in await consumer.getmany(timeout_ms=50):
            seen.add(decode(r.topic, r.value), time.monotonic_ns())


def _policy() -> SecurityPolicy:
    limits = ResourceLimits(memory_mb=128, cpu_percent=100.0, max_processes=64, execution_timeout=300)
    return SecurityPolicy(resource_limits=limits, allow_workspace_exec=True, violation_threshold=1_000_000,
                          auto_terminate_on_violation=False, blocked_commands=frozenset())  # fmt: skip


def _script(n: int) -> str:
    return (
        f"i=0; while [ $i -lt {n} ]; do printf '#!/bin/sh\\n:\\n' > /work/t$i; chmod +x /work/t$i; "
        "i=$((i+1)); done; "
        f"i=0; while [ $i -lt {n} ]; do /work/t$i 2>/dev/null; sleep {SPACING_S}; i=$((i+1)); done"
    )


def _docker_exec(cid: str, argv: list[str]) -> None:
    """The loop as code inside the sandbox would run it (validation would refuse `$f` as a
    command word, rightly: it cannot be checked)."""
    client = docker.from_env(timeout=120)
    try:
        client.containers.get(cid).exec_run(argv, workdir="/work")
    finally:
        client.close()


def _latencies(seen: Clocked) -> tuple[list[float], list[float]]:
    """(exec -> finding, exec -> kernel event) in ms, for each finding whose exec was seen."""
    to_finding, to_event = [], []
    for v, at in seen.findings.values():
        event_id = (v.evidence.samples or [{}])[0].get("event_id")
        pair = seen.execs.get(str(event_id))
        if pair is None:
            continue
        ev, ev_at = pair
        to_finding.append((at - ev.ktime_ns) / 1e6)
        to_event.append((ev_at - ev.ktime_ns) / 1e6)
    return to_finding, to_event


def _p(values: list[float], q: float) -> float:
    """The q-quantile (0..1) in ms, NaN when nothing was measured (bench.stats' definition)."""
    return round(percentile(values, q * 100), 2) if values else float("nan")


async def run(n: int) -> dict[str, Any]:
    bus = LocalBus()
    await bus.start()
    seen = Clocked()
    reader = asyncio.create_task(_read(bus, seen))
    registry = CollectorRegistry()
    runner = ProcessorRunner(bus, default_policy=_policy(), registry=registry, group="bench-processor")
    await runner.start()
    manager = SandboxManager(_policy(), bus=bus, image=IMAGE, labels={"bench": "kernel-detection"},
                             registry=registry)  # fmt: skip
    await manager.start()
    config = CollectorConfig(host=manager.host, label=labels.manager_selector(manager.manager_id),
                             kernel_events=True)  # fmt: skip
    collector = Collector(bus, config=config, registry=registry)
    await collector.start()
    try:
        sid = await manager.create_sandbox()
        await asyncio.to_thread(_docker_exec, sid, ["sh", "-c", _script(n)])
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while len(seen.findings) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        mode = collector.kernel_mode
    finally:
        await collector.stop()
        await manager.cleanup()
        await runner.stop()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await bus.stop()
    return _result(seen, n, mode)


def _result(seen: Clocked, n: int, mode: str) -> dict[str, Any]:
    to_finding, to_event = _latencies(seen)
    return {
        "kernel_mode": mode,
        "execs": n,
        "findings": len(to_finding),
        "findings_published": len(seen.findings),
        "written_exec_events": sum(1 for ev, _ in seen.execs.values() if ev.exe_writable),
        "exec_to_finding_ms_p50": _p(to_finding, 0.5),
        "exec_to_finding_ms_p99": _p(to_finding, 0.99),
        "exec_to_finding_ms_max": _p(to_finding, 1.0),
        "exec_to_finding_ms_mean": round(sum(to_finding) / len(to_finding), 2) if to_finding else None,
        "exec_to_event_ms_p99": _p(to_event, 0.99),
        "target_p99_ms": TARGET_P99_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--execs", type=int, default=EXECS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.execs <= 2000:
        parser.error("--execs must be 1..2000")
    result = asyncio.run(run(args.execs))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    sys.exit(0 if result["findings"] == args.execs else 1)


if __name__ == "__main__":
    main()
