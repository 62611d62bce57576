"""Enforcer latency: from publishing a command to the action done, on the real engine and broker.

    .venv/bin/python bench/enforcer.py --json [--samples 40]

The enforcer runs as it does in production: ``sandguard enforcer`` in its own process,
on the local Kafka broker (topics with their declared partition counts) and the local
Docker engine. For each sample, one command is published and the clock stops twice:

* ``command_to_action_ms``: when the engine reports the action done, read from its
  own event stream (``destroy`` for terminate, ``update`` for throttle; the engine's
  timestamps, same host clock as the publisher);
* ``command_to_result_ms``: when the result event is read from sandguard.actions;
* for terminate also ``command_to_processes_dead_ms``: the engine's ``die`` event, when
  the sandbox's processes are gone (before its container is removed).

The command is published with linger 0 (the clock starts when it is sent); the
processors' producers linger up to 20 ms more in production.

Side by side, interleaved sample by sample on the same kind of containers, the bare
engine calls the enforcer makes, timed the same way (from the call to the engine's
event): ``remove(force=True)`` (kill and remove, what terminate does), ``kill``
alone, and ``update`` of the CPU quota. ``overhead_ratio_p50`` is our p50 over the
bare p50. Commands are sent one at a time, so this measures latency, not queueing.
Containers are busybox sandboxes labelled with the run id and removed by that label.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import docker
from aiokafka.admin import AIOKafkaAdminClient

from sandguard.bus import KafkaBus, drop_namespace, ensure_topics
from sandguard.settings import Settings
from schemas import ActionResult, Consumer, EnforcementAction, EnforcementCommand, decode, encode
from schemas.topics import ACTIONS, DEADLETTER, ENFORCEMENT

try:
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    from stats import percentile  # type: ignore[import-not-found,no-redef]

TARGET_TERMINATE_P99_MS = 500
LABEL = "sandguard.bench.enforcer"
IMAGE = "sandguard/busybox:1"
HOST = "bench-host"
TOPICS_USED = (ENFORCEMENT, ACTIONS, DEADLETTER)
# Throttle samples share a few containers: each halves the quota, 8 halvings from 256 ms
# stay above the 1 ms floor (256 / 2^8 = 1), so every throttle really changes the quota.
THROTTLE_CONTAINERS = 8
START_QUOTA_US = 256_000
# A pause between samples lets the previous one settle (no batching of two samples).
GAP_S = 0.05
WAIT_S = 30.0


def _summary(name: str, values: list[float]) -> dict[str, float]:
    return {f"{name}_p50": round(percentile(values, 50), 2), f"{name}_p99": round(percentile(values, 99), 2)}


class EngineEvents:
    """The engine's own record of when each action happened (docker events, in a thread)."""

    def __init__(self, client: docker.DockerClient, run_id: str) -> None:
        self._stream = client.events(decode=True, filters={"label": f"{LABEL}={run_id}"})
        self._seen: dict[tuple[str, str], int] = {}
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for ev in self._stream:
                key = (str(ev.get("Action", "")), str(ev.get("id", "")))
                with self._cond:
                    self._seen.setdefault(key, int(ev["timeNano"]))
                    self._cond.notify_all()
        except Exception:  # the stream is closed at the end of the run
            return

    def clear(self, action: str, container_id: str) -> None:
        with self._cond:
            self._seen.pop((action, container_id), None)

    def wait(self, action: str, container_id: str) -> int:
        """The engine's time (ns) of ``action`` on the container."""
        with self._cond:
            ok = self._cond.wait_for(lambda: (action, container_id) in self._seen, WAIT_S)
            assert ok, f"no {action} event for {container_id[:12]}"
            return self._seen[(action, container_id)]

    def close(self) -> None:
        self._stream.close()


class Bench:
    def __init__(self, bootstrap: str, samples: int) -> None:
        self.bootstrap = bootstrap
        self.samples = samples
        self.run_id = uuid.uuid4().hex[:10]
        self.ns = f"bench-{self.run_id}."
        self.client = docker.from_env(timeout=120)
        self.events = EngineEvents(self.client, self.run_id)
        # linger 0: the clock starts when the command is sent, not when a batch would fill.
        self.bus = KafkaBus(
            bootstrap, namespace=self.ns, create_topics=False, producer_options={"linger_ms": 0}
        )
        self.results: Consumer | None = None
        self.buffer: dict[str, ActionResult] = {}

    def box(self, **options: Any) -> Any:
        return self.client.containers.run(
            IMAGE, ["sleep", "3600"], detach=True, labels={LABEL: self.run_id}, user="1000", cap_drop=["ALL"],
            network_mode="none", mem_limit="64m", memswap_limit="64m", pids_limit=20, **options,
        )  # fmt: skip

    def boxes(self, n: int, **options: Any) -> list[Any]:
        return [self.box(**options) for _ in range(n)]

    async def result_for(self, command_id: str) -> tuple[ActionResult, int]:
        """The result of a command and when it was read (ns)."""
        assert self.results is not None
        deadline = time.monotonic() + WAIT_S
        while command_id not in self.buffer:
            assert time.monotonic() < deadline, f"no result for {command_id}"
            for r in await self.results.getmany(timeout_ms=100):
                res: ActionResult = decode(ACTIONS, r.value)
                self.buffer[res.command_id] = res
            seen_at = time.time_ns()
        return self.buffer.pop(command_id), seen_at

    async def one(self, container_id: str, action: EnforcementAction, *events: str) -> list[float]:
        """Milliseconds from publishing to each engine event, then to the result read."""
        command = EnforcementCommand(
            container_id=container_id, host=HOST, command_id=str(uuid.uuid4()), action=action,
            throttle_factor=0.5, violation_ids=("bench",), rule_ids=("bench",),
        )  # fmt: skip
        for event in events:
            self.events.clear(event, container_id)
        t0 = time.time_ns()
        await self.bus.publish(ENFORCEMENT, container_id, encode(command))
        await self.bus.flush()
        result, seen_at = await self.result_for(command.command_id)
        assert result.result.value == "applied", result
        done = [await asyncio.to_thread(self.events.wait, event, container_id) for event in events]
        return [(t - t0) / 1e6 for t in (*done, seen_at)]

    def bare_call(self, container_id: str, event: str, call: Any, *args: Any, **kwargs: Any) -> float:
        """Milliseconds from a bare engine call to the engine's event for it (as for ours)."""
        self.events.clear(event, container_id)
        t0 = time.time_ns()
        call(container_id, *args, **kwargs)
        return (self.events.wait(event, container_id) - t0) / 1e6

    async def run_terminate(self) -> dict[str, Any]:
        """Ours and the bare calls interleaved, sample by sample, so load changes hit both."""
        api = self.client.api
        ours, bare_rm, bare_kill = [await asyncio.to_thread(self.boxes, self.samples) for _ in range(3)]
        stopped, action, result, removes, kills = [], [], [], [], []
        for mine, rm, kill in zip(ours, bare_rm, bare_kill, strict=True):
            # die: the sandbox's processes are dead; destroy: removed, the action done
            dead, done, seen = await self.one(mine.id, EnforcementAction.TERMINATE, "die", "destroy")
            stopped.append(dead)
            action.append(done)
            result.append(seen)
            removes.append(
                await asyncio.to_thread(
                    self.bare_call, rm.id, "destroy", api.remove_container, v=True, force=True
                )
            )
            kills.append(await asyncio.to_thread(self.bare_call, kill.id, "die", api.kill))
            await asyncio.sleep(GAP_S)
        return (
            _summary("command_to_action_ms", action)
            | _summary("command_to_result_ms", result)
            | _summary("command_to_processes_dead_ms", stopped)
            | _summary("bare_remove_force_ms", removes)
            | _summary("bare_kill_ms", kills)
        )

    async def run_throttle(self) -> dict[str, Any]:
        api = self.client.api
        ours = await asyncio.to_thread(self.boxes, THROTTLE_CONTAINERS, cpu_quota=START_QUOTA_US)
        bare = await asyncio.to_thread(self.boxes, THROTTLE_CONTAINERS, cpu_quota=START_QUOTA_US)
        action, result, updates = [], [], []
        for i in range(self.samples):
            k = i % THROTTLE_CONTAINERS
            done, seen = await self.one(ours[k].id, EnforcementAction.THROTTLE, "update")
            action.append(done)
            result.append(seen)
            quota = START_QUOTA_US >> (1 + i // THROTTLE_CONTAINERS)
            updates.append(
                await asyncio.to_thread(
                    self.bare_call, bare[k].id, "update", api.update_container, cpu_quota=quota
                )
            )
            await asyncio.sleep(GAP_S)
        return (
            _summary("command_to_action_ms", action)
            | _summary("command_to_result_ms", result)
            | _summary("bare_update_ms", updates)
        )

    def cleanup(self) -> None:
        self.events.close()
        for c in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            c.remove(force=True)
        self.client.close()


def _start_enforcer(bench: Bench, state: Path, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "sandguard"
    args = [
        str(exe), "enforcer", "--host", HOST, "--bootstrap", bench.bootstrap, "--namespace", bench.ns,
        "--state-dir", str(state), "--require-label", f"{LABEL}={bench.run_id}", "--metrics-port", "0",
    ]  # fmt: skip
    env = {**os.environ, "SANDGUARD_LOG_FORMAT": "json", "SANDGUARD_LOG_LEVEL": "warning"}
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


async def _ready(bench: Bench) -> None:
    """The enforcer answers (it joined its group): a command for an unknown container."""
    command = EnforcementCommand(
        container_id="0" * 64, host=HOST, command_id=str(uuid.uuid4()), action=EnforcementAction.PAUSE
    )
    await bench.bus.publish(ENFORCEMENT, command.container_id, encode(command))
    await bench.bus.flush()
    await bench.result_for(command.command_id)


async def _topics(bootstrap: str, ns: str) -> None:
    """Creates the topics and waits until the broker serves their metadata."""
    await ensure_topics(bootstrap, namespace=ns, names=TOPICS_USED)
    names = {ns + t for t in TOPICS_USED}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(100):  # 100 x 0.1 s: topic creation takes well under a second
            if names <= set(await admin.list_topics()):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def run(bootstrap: str, samples: int) -> dict[str, Any]:
    bench = Bench(bootstrap, samples)
    await _topics(bootstrap, bench.ns)
    await bench.bus.start()
    bench.results = await bench.bus.consumer([ACTIONS], group="bench-observer", from_beginning=False)
    with tempfile.TemporaryDirectory(prefix="sandguard-bench-") as tmp:
        proc = _start_enforcer(bench, Path(tmp) / "state", Path(tmp) / "enforcer.log")
        try:
            await _ready(bench)
            terminate = await bench.run_terminate()
            throttle = await bench.run_throttle()
        except BaseException:
            sys.stderr.write((Path(tmp) / "enforcer.log").read_text()[-4000:])
            raise
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            await bench.bus.stop()
            await asyncio.to_thread(bench.cleanup)
            await drop_namespace(bootstrap, bench.ns)  # the enforcer process made all 8
    terminate["overhead_ratio_p50"] = round(
        terminate["command_to_action_ms_p50"] / terminate["bare_remove_force_ms_p50"], 2
    )
    throttle["overhead_ratio_p50"] = round(
        throttle["command_to_action_ms_p50"] / throttle["bare_update_ms_p50"], 2
    )
    return {
        "samples": samples,
        "terminate": terminate,
        "throttle": throttle,
        "target_terminate_p99_ms": TARGET_TERMINATE_P99_MS,
        "target_met": terminate["command_to_action_ms_p99"] <= TARGET_TERMINATE_P99_MS,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--samples", type=int, default=40, help="commands per action (bounded: 1..500)")
    parser.add_argument("--bootstrap", default=Settings().kafka_bootstrap)
    args = parser.parse_args()
    if not 1 <= args.samples <= 500:
        parser.error("--samples must be within 1..500")
    out = asyncio.run(run(args.bootstrap, args.samples))
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
