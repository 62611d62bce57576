"""The distributed mode as a platform team runs it: each component its own OS process
(``sandguard collector``, ``processor`` x2, ``enforcer``, ``sink``) on the shared broker,
in a namespace of the test's own, watching only the test's sandboxes (by its run label)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.processors.conftest import free_port

# A service answers its metrics endpoint within seconds; Faust workers take longest
# (~5-15 s on a loaded 2-core host). 90 s is a wide margin.
READY_S = 90.0
STOP_S = 60.0
PARTITIONS = 4
RUN_LABEL = "test.run"


def sandguard_exe() -> str:
    return str(Path(sys.executable).with_name("sandguard"))


class Service:
    """One ``sandguard <command>`` process, logging to a file, with metrics on loopback."""

    def __init__(self, name: str, args: list[str], stack: Stack) -> None:
        self.name = name
        self.args = args
        self.stack = stack
        self.port = free_port()
        self.log = stack.dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        s = self.stack
        argv = [sandguard_exe(), *self.args, "--bootstrap", s.bootstrap, "--namespace", s.namespace,
                "--metrics-port", str(self.port), "--log-format", "json"]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=s.env)
        return self

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:  # loopback
                return str(r.read().decode())
        except OSError:
            return ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited: {self.tail()}"
            if "sandguard" in self.metrics():
                return
            time.sleep(0.25)
        raise AssertionError(f"{self.name} not ready within {READY_S} s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no flush, no commit (a crash)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(STOP_S)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_S)
            raise AssertionError(f"{self.name} did not stop on SIGTERM within {STOP_S} s") from None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


class Stack:
    """The five processes of one host's distributed deployment, for one test."""

    def __init__(self, bootstrap: str, namespace: str, directory: Path, run_id: str) -> None:
        self.bootstrap = bootstrap
        self.namespace = namespace
        self.dir = directory
        self.run_id = run_id
        self.env = {**os.environ, "SANDGUARD_LOG_LEVEL": "info", "SANDGUARD_METRICS_ADDR": "127.0.0.1"}
        label = f"{RUN_LABEL}={run_id}"
        self.sink_dir = directory / "sink"
        self.collector = Service("collector", ["collector", "--interval", "1", "--label", label], self)
        self.processors = [
            Service(f"processor-{i}", ["processor", "--partitions", str(PARTITIONS),
                                       "--data-dir", str(directory / f"processor-{i}")], self)
            for i in (1, 2)
        ]  # fmt: skip
        self.enforcer = self._enforcer()
        self.sink = Service("sink", ["sink", "--data-dir", str(self.sink_dir)], self)

    def _enforcer(self) -> Service:
        # Only the test's own sandboxes, whatever a command says: the engine is shared.
        own = f"{RUN_LABEL}={self.run_id}"
        args = ["enforcer", "--state-dir", str(self.dir / "enforcer"),
                "--require-label", "sandguard.sandbox=1", "--require-label", own]  # fmt: skip
        return Service("enforcer", args, self)

    @property
    def services(self) -> list[Service]:
        return [*self.processors, self.enforcer, self.sink, self.collector]

    def start(self) -> None:
        """Topics first (the deployment guide's step 1), then every service."""
        self.create_topics()
        for s in self.services:
            s.start()
        for s in self.services:
            s.wait_ready()

    def create_topics(self) -> None:
        subprocess.run(
            [sandguard_exe(), "topics", "create", "--bootstrap", self.bootstrap,
             "--namespace", self.namespace, "--partitions", str(PARTITIONS)],
            check=True, env=self.env, capture_output=True, timeout=120,
        )  # fmt: skip

    def restart_enforcer(self) -> None:
        assert self.enforcer.stop() == 0, self.enforcer.tail()
        self.enforcer = self._enforcer().start()
        self.enforcer.wait_ready()

    def stop(self) -> None:
        for s in self.services:
            s.stop()


@pytest.fixture
def stack(kafka_bootstrap: str, kafka_namespace: str, tmp_path: Path, run_id: str) -> Iterator[Stack]:
    s = Stack(kafka_bootstrap, kafka_namespace, tmp_path, run_id)
    try:
        yield s
    finally:
        s.stop()
