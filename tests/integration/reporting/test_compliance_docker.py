"""CIS checks on real containers of this Docker engine: a hardened sandbox passes, a weak one fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from reporting.compliance import FAIL, check_container, host_security
from sandguard.cli.report import inspect_compliance
from tests.conftest import BUSYBOX_IMAGE

LABEL = "sandguard.test.run"
MB = 1024 * 1024


@pytest.fixture
def containers(docker_client: docker.DockerClient, run_id: str) -> Iterator[dict[str, Any]]:
    common: dict[str, Any] = {"image": BUSYBOX_IMAGE, "command": ["sleep", "60"], "labels": {LABEL: run_id}}
    made = {
        "hardened": docker_client.containers.create(
            **common, user="1000", cap_drop=["ALL"], read_only=True, security_opt=["no-new-privileges"],
            mem_limit=256 * MB, memswap_limit=256 * MB, nano_cpus=500_000_000, pids_limit=50,
            ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024)], network_mode="none",
        ),
        "weak": docker_client.containers.create(
            **common, privileged=True, pid_mode="host", cap_add=["NET_ADMIN"],
            volumes={"/etc": {"bind": "/host-etc", "mode": "ro"},
                     "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
            security_opt=["seccomp=unconfined"], restart_policy={"Name": "always"},
        ),
    }  # fmt: skip
    try:
        yield {name: c.id for name, c in made.items()}
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
            c.remove(force=True)


def _failed(docker_client: docker.DockerClient, cid: str) -> set[str]:
    host = host_security(docker_client.info())
    inspect = docker_client.api.inspect_container(cid)
    return {r.check_id for r in check_container(inspect, host) if r.status == FAIL}


def test_the_hardened_sandbox_passes(docker_client: docker.DockerClient, containers: dict[str, str]) -> None:
    assert _failed(docker_client, containers["hardened"]) == set()


def test_the_weak_container_fails_the_right_checks(
    docker_client: docker.DockerClient, containers: dict[str, str]
) -> None:
    assert _failed(docker_client, containers["weak"]) == {
        "4.1", "5.3", "5.4", "5.5", "5.10", "5.11", "5.12", "5.14", "5.15", "5.18", "5.21", "5.25", "5.28",
        "5.29", "5.31",
    }  # fmt: skip


def test_the_report_command_inspects_live_containers(containers: dict[str, str]) -> None:
    result = inspect_compliance([containers["hardened"], containers["weak"], "no-such-container"])
    assert [c["compliant"] for c in result["containers"]] == [True, False]
    assert result["not_found"] == ["no-such-container"]
