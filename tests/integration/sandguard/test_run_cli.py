"""``sandguard run``: the embedded pipeline as a host service, driven as a user would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import docker

BUSYBOX = "sandguard/busybox:1"
# A real reverse shell over loopback inside the container (no network): busybox nc -e puts
# the socket on sh's stdin/stdout, which the kernel events show. The first sleep lets the
# collector watch the new container before anything runs in it; the payload comes through
# the environment so the container's own argv does not spell it (that would be the argv
# hint, racing the first kernel event).
REVERSE_SHELL = ["sh", "-c", 'sleep 5; eval "$PAYLOAD"']
PAYLOAD = "(sleep 120 | nc -l -p 4444 &); sleep 1; nc 127.0.0.1 4444 -e /bin/sh; sleep 120"
WAIT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sandguard() -> str:
    return str(Path(sys.executable).with_name("sandguard"))


def _wait(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {WAIT_S} s")


def _metrics(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:  # loopback only
            return str(r.read().decode())
    except OSError:
        return ""


def _gone(client: docker.DockerClient, cid: str) -> bool:
    try:
        client.containers.get(cid)
    except docker.errors.NotFound:
        return True
    return False


def test_run_watches_judges_enforces_and_stores(
    tmp_path: Path, docker_client: docker.DockerClient, run_id: str
) -> None:
    port = _free_port()
    env = {**os.environ, "SANDGUARD_DATA_DIR": str(tmp_path), "SANDGUARD_LOG_FORMAT": "json"}
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        # Only this test's container: the engine is shared with other tests (and pipelines).
        [_sandguard(), "run", "--metrics-port", str(port), "--host", "run-test",
         "--label", f"test.run={run_id}"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    container = None
    try:
        _wait(lambda: "sandguard" in _metrics(port), "metrics endpoint")
        container = docker_client.containers.run(
            BUSYBOX, REVERSE_SHELL, detach=True, network_mode="none", user="1000:1000",
            environment={"PAYLOAD": PAYLOAD},
            labels={"sandguard.sandbox": "1", "test.run": run_id},
        )  # fmt: skip
        _wait(lambda: _gone(docker_client, container.id), "the reverse shell terminated")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        if container is not None and not _gone(docker_client, container.id):
            container.remove(force=True)
    out = subprocess.run(
        [_sandguard(), "report", "--sandbox", container.id, "--json", "--data-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)["sandbox"]
    # No manager published a policy for it, so the default policy applies: its limits were
    # not in force (drift: re-applied), and the reverse shell was terminated at once; nc is a
    # suspicious tool of its own.
    assert report["violations_by_rule"] == {
        "limits.drift": 1,
        "process.reverse_shell": 1,
        "process.suspicious": 1,
    }
    actions = [(a["action"], a["result"]) for a in report["actions"]]
    assert ("terminate", "applied") in actions
