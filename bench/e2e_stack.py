"""The distributed components of one host as separate processes, for bench/e2e_latency.py:
``sandguard collector``, ``processor``, ``enforcer`` on the local broker, in a namespace of
the run's own, watching and acting only on the run's sandboxes (by their run label)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Faust workers answer their metrics endpoint within ~5-15 s on a loaded 2-core host.
READY_S = 90.0
STOP_S = 60.0
PARTITIONS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, bootstrap: str, namespace: str, directory: Path, label: str) -> None:
        self.bootstrap, self.namespace, self.dir, self.label = bootstrap, namespace, directory, label
        self.procs: list[tuple[str, subprocess.Popen[bytes], int]] = []

    def _run(self, name: str, *args: str) -> None:
        exe = str(Path(sys.executable).with_name("sandguard"))
        port = _free_port()
        argv = [exe, *args, "--bootstrap", self.bootstrap, "--namespace", self.namespace,
                "--metrics-port", str(port)]  # fmt: skip
        env = {**os.environ, "SANDGUARD_LOG_FORMAT": "json", "SANDGUARD_LOG_LEVEL": "warning"}
        with (self.dir / f"{name}.log").open("wb") as out:
            self.procs.append(
                (name, subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env), port)
            )

    def start(self) -> None:
        exe = str(Path(sys.executable).with_name("sandguard"))
        topics = [exe, "topics", "create", "--bootstrap", self.bootstrap, "--namespace", self.namespace,
                  "--partitions", str(PARTITIONS)]  # fmt: skip
        subprocess.run(topics, check=True, capture_output=True, timeout=120)
        self._run(
            "processor", "processor", "--partitions", str(PARTITIONS), "--data-dir", str(self.dir / "p")
        )
        self._run("enforcer", "enforcer", "--state-dir", str(self.dir / "enforcer"),
                  "--require-label", "sandguard.sandbox=1", "--require-label", self.label)  # fmt: skip
        self._run("collector", "collector", "--interval", "1", "--label", self.label)
        for name, proc, port in self.procs:
            self._ready(name, proc, port)

    def _ready(self, name: str, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.dir / name}.log")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2):  # loopback only
                    return
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"{name} not ready within {READY_S} s")

    def stop(self) -> None:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc, _ in self.procs:
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_S)
