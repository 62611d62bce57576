"""Several processes on one host: the embedded engine's data directory has one owner, and a
second process is told who and what to do; the supported way, one host pipeline
(``sandguard run --bus kafka``) that every process's SandboxManager joins, works with 4
worker processes creating and using sandboxes at once, and the reports see all of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import BUSYBOX_IMAGE
from tests.integration.distributed.conftest import sandguard_exe
from tests.integration.processors.conftest import free_port

WORKERS = 4
WAIT_S = 90.0
RUN_LABEL = "test.run"

# One worker process of an agent platform: joins the host pipeline on Kafka, runs a
# sandbox, is refused one command (an audit event), prints the sandbox id.
WORKER = textwrap.dedent("""
    import asyncio, sys
    from prometheus_client import CollectorRegistry
    from sandguard import CommandDeniedError, SandboxManager, SecurityPolicy
    from sandguard.bus import KafkaBus

    async def main(bootstrap, namespace, image, run_id):
        bus = KafkaBus(bootstrap, namespace=namespace)
        manager = SandboxManager(security_policy=SecurityPolicy(), bus=bus, image=image,
                                 labels={"test.run": run_id}, registry=CollectorRegistry())
        async with manager:
            sid = await manager.create_sandbox()
            out = await manager.execute(sid, "echo hello from $HOSTNAME", timeout=30)
            assert out.exit_code == 0, out
            try:
                await manager.execute(sid, "sudo id", timeout=10)
            except CommandDeniedError:
                pass
            print("SANDBOX", sid, flush=True)

    asyncio.run(main(*sys.argv[1:]))
""")

# A process that wants a default embedded manager on a directory another process owns.
SECOND = textwrap.dedent("""
    import asyncio, sys
    from prometheus_client import CollectorRegistry
    from sandguard import SandboxManager

    async def main(data_dir):
        manager = SandboxManager(data_dir=data_dir, registry=CollectorRegistry())
        try:
            await manager.start()
        finally:
            await manager.cleanup()

    asyncio.run(main(sys.argv[1]))
""")


def _metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:  # loopback only
            return str(r.read().decode())
    except OSError:
        return ""


def _wait(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {WAIT_S} s")


def _counter(text: str, name: str, topic: str) -> float:
    prefix = f'{name}{{topic="{topic}"}} '
    return next((float(x[len(prefix) :]) for x in text.splitlines() if x.startswith(prefix)), 0.0)


class HostPipeline:
    """``sandguard run`` as its own process, logging to a file."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.log = tmp / "run.log"
        env = {**os.environ, "SANDGUARD_DATA_DIR": str(tmp / "data"), "SANDGUARD_LOG_FORMAT": "json"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sandguard_exe(), "run", "--metrics-port", str(self.port), *args],
                env=env, stdout=subprocess.DEVNULL, stderr=out,
            )  # fmt: skip
        _wait(lambda: "sandguard" in _metrics(self.port) or self.proc.poll() is not None, "sandguard run up")
        assert self.proc.poll() is None, self.log.read_text()[-3000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def test_a_second_process_is_told_who_owns_the_data_dir(tmp_path: Path, run_id: str) -> None:
    run = HostPipeline(tmp_path, "--label", f"{RUN_LABEL}={run_id}")
    try:
        second = subprocess.run(
            [sys.executable, "-c", SECOND, str(tmp_path / "data")],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        assert run.stop() == 0
    assert second.returncode != 0
    assert f"in use by process {run.proc.pid}" in second.stderr
    assert "data directory of its own" in second.stderr and "sandguard run --bus kafka" in second.stderr


def test_four_worker_processes_join_one_host_pipeline(
    tmp_path: Path, kafka_bootstrap: str, kafka_namespace: str, run_id: str
) -> None:
    run = HostPipeline(
        tmp_path, "--bus", "kafka", "--bootstrap", kafka_bootstrap, "--namespace", kafka_namespace,
        "--label", f"{RUN_LABEL}={run_id}",
    )  # fmt: skip
    try:
        argv = [sys.executable, "-c", WORKER, kafka_bootstrap, kafka_namespace, BUSYBOX_IMAGE, run_id]
        workers = [
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(WORKERS)
        ]
        outputs = [w.communicate(timeout=180) for w in workers]
        assert all(w.returncode == 0 for w in workers), [e.decode()[-2000:] for _, e in outputs]
        ids = [
            line.split()[1]
            for o, _ in outputs
            for line in o.decode().splitlines()
            if line.startswith("SANDBOX ")
        ]
        assert len(set(ids)) == WORKERS
        # Each worker: policy, lifecycle (create, destroy) and 2 exec audits at least.
        _wait(lambda: _counter(_metrics(run.port), "sandguard_sink_records_total", "sandguard.audit")
              >= 4 * WORKERS, "the workers' audit events stored")  # fmt: skip
    finally:
        assert run.stop() == 0
    for sid in ids:
        out = subprocess.run(
            [sandguard_exe(), "report", "--data-dir", str(tmp_path / "data"), "--sandbox", sid, "--json"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        report = json.loads(out.stdout)["sandbox"]
        assert report["known"] is True, sid
        assert report["violations_by_rule"].get("command.denied", 0) >= 1, (sid, report["violations_by_rule"])
