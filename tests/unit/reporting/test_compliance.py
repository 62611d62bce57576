"""CIS checks on recorded ``docker inspect`` JSON (recorded from real containers on this engine)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reporting.compliance import CHECKS, FAIL, NA, PASS, check_container, compliance_report, host_security

DATA = Path(__file__).parent / "testdata"
HOST = host_security(json.loads((DATA / "docker_info.json").read_text()))
# What the deliberately weak container was created with (see testdata): every one must fail.
WEAK_FAILS = {
    "4.1", "5.3", "5.4", "5.5", "5.7", "5.10", "5.11", "5.12", "5.13", "5.14", "5.15", "5.16", "5.17",
    "5.18", "5.20", "5.21", "5.25", "5.28", "5.29", "5.31",
}  # fmt: skip


@pytest.fixture
def hardened() -> dict[str, Any]:
    return dict(json.loads((DATA / "inspect_hardened.json").read_text()))


@pytest.fixture
def weak() -> dict[str, Any]:
    return dict(json.loads((DATA / "inspect_weak.json").read_text()))


def _status(inspect: dict[str, Any], host: frozenset[str] = HOST) -> dict[str, str]:
    return {r.check_id: r.status for r in check_container(inspect, host)}


def test_host_features_come_from_docker_info() -> None:
    assert host_security({"SecurityOptions": ["name=seccomp,profile=default", "name=cgroupns"]}) == {
        "seccomp", "cgroupns",
    }  # fmt: skip


def test_the_hardened_sandbox_passes_every_applicable_check(hardened: dict[str, Any]) -> None:
    status = _status(hardened)
    assert {k for k, v in status.items() if v == FAIL} == set()
    assert status["5.1"] == NA and status["5.21"] == PASS  # this host: seccomp yes, AppArmor no


def test_the_weak_container_fails_exactly_the_weaknesses_it_was_given(weak: dict[str, Any]) -> None:
    assert {k for k, v in _status(weak).items() if v == FAIL} == WEAK_FAILS


def test_mounts_listed_twice_are_reported_once(weak: dict[str, Any]) -> None:
    detail = {r.check_id: r.detail for r in check_container(weak, HOST)}
    assert detail["5.31"] == "mounts ['/var/run/docker.sock']"


@pytest.mark.parametrize(
    ("path", "value", "check"),
    [
        (("HostConfig", "NetworkMode"), "host", "5.9"),
        (("HostConfig", "UsernsMode"), "host", "5.30"),
        (("HostConfig", "CgroupParent"), "/custom", "5.24"),
        (("HostConfig", "RestartPolicy"), {"Name": "on-failure", "MaximumRetryCount": 9}, "5.14"),
        (("Config", "User"), "0:0", "4.1"),
        (("HostConfig", "SecurityOpt"), ["seccomp:unconfined", "no-new-privileges"], "5.21"),
        (("Mounts",), [{"Type": "bind", "Source": "/usr/lib", "Destination": "/x", "Propagation": "rshared"}],
         "5.19"),
    ],
)  # fmt: skip
def test_one_weakness_fails_its_check_only(
    hardened: dict[str, Any], path: tuple[str, ...], value: Any, check: str
) -> None:
    bad = copy.deepcopy(hardened)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    failed = {k for k, v in _status(bad).items() if v == FAIL}
    assert check in failed
    assert failed <= {check, "5.5"}  # a mount of /usr/lib is also sensitive


def test_sensitive_dirs_are_matched_by_path_not_prefix(hardened: dict[str, Any]) -> None:
    for src, bad in (("/etcetera", False), ("/etc/ssl", True), ("/", True), ("/work/data", False)):
        case = copy.deepcopy(hardened)
        case["Mounts"] = [{"Type": "bind", "Source": src, "Destination": "/m"}]
        assert (_status(case)["5.5"] == FAIL) is bad, src


def test_apparmor_applies_when_the_host_has_it(hardened: dict[str, Any]) -> None:
    assert _status(hardened, frozenset({"apparmor", "seccomp"}))["5.1"] == FAIL
    hardened["AppArmorProfile"] = "docker-default"
    assert _status(hardened, frozenset({"apparmor", "seccomp"}))["5.1"] == PASS


def test_the_report_counts_per_container(hardened: dict[str, Any], weak: dict[str, Any]) -> None:
    r = compliance_report([hardened, weak], HOST)
    assert r["summary"] == {"containers": 2, "compliant": 1, "failed_checks": len(WEAK_FAILS)}
    assert [c["name"] for c in r["containers"]] == ["sg-cis-hardened", "sg-cis-weak"]
    assert len(r["containers"][0]["checks"]) == len(CHECKS)
