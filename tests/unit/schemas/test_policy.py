from __future__ import annotations

import json
from pathlib import Path

import pytest

import schemas
from schemas import (
    NetworkPolicy,
    PolicyValidationError,
    ResourceLimits,
    SecurityPolicy,
    load_policy,
    parse_policy,
    policy_from_dict,
)


def test_seed_defaults() -> None:
    r = ResourceLimits()
    assert (r.memory_mb, r.cpu_percent, r.disk_mb, r.max_processes) == (512, 50.0, 1024, 50)
    assert (r.max_open_files, r.max_network_connections, r.execution_timeout) == (1024, 10, 300)
    p = SecurityPolicy()
    assert p.network_policy is NetworkPolicy.NONE
    assert {"rm", "sudo", "lsof", "iptables", "kill"} <= p.blocked_commands
    assert len(p.blocked_commands) == 28
    assert p.allowed_file_extensions == {".txt", ".py", ".js", ".json", ".yaml", ".yml", ".md", ".csv"}
    assert "/etc/" in p.blocked_file_patterns and len(p.blocked_file_patterns) == 10
    assert (p.max_file_size_mb, p.enable_monitoring, p.violation_threshold) == (10, True, 5)
    assert p.auto_terminate_on_violation is True


def test_seed_example_constructs() -> None:
    p = SecurityPolicy(
        resource_limits=ResourceLimits(memory_mb=256, cpu_percent=25.0, max_processes=10),
        network_policy=NetworkPolicy.NONE,
        blocked_commands={"rm", "sudo", "kill"},
        enable_monitoring=True,
        violation_threshold=3,
    )
    assert p.blocked_commands == frozenset({"rm", "sudo", "kill"})
    assert p.resource_limits.memory_mb == 256


def test_policy_id_is_stable_and_content_based() -> None:
    a = SecurityPolicy(blocked_commands={"rm", "sudo", "kill"})
    b = SecurityPolicy(blocked_commands={"kill", "sudo", "rm"})
    assert a.policy_id == b.policy_id
    assert a.policy_id.startswith("pol-") and len(a.policy_id) == 20
    assert a.policy_id != SecurityPolicy(blocked_commands={"rm"}).policy_id
    assert parse_policy(a.canonical_json(), fmt="json").policy_id == a.policy_id


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        ({"resource_limits": {"memory_mb": -1}}, "resource_limits.memory_mb", "greater than or equal to 6"),
        ({"resource_limits": {"cpu_percent": 10_000}}, "resource_limits.cpu_percent", "CPUs allow"),
        ({"resource_limits": {"cpu_percent": 0}}, "resource_limits.cpu_percent", "greater than 0"),
        ({"network_policy": "open"}, "network_policy", "'none', 'internal', 'restricted' or 'full'"),
        ({"surprise": True}, "surprise", "unknown field"),
        ({"resource_limits": {"nope": 1}}, "resource_limits.nope", "unknown field"),
        ({"blocked_commands": ["/bin/rm"]}, "blocked_commands", "bare words"),
        ({"allowed_file_extensions": ["txt"]}, "allowed_file_extensions", "'.txt'"),
        ({"blocked_file_patterns": ["etc/"]}, "blocked_file_patterns", "absolute"),
        ({"immediate_rules": ["no.such.rule"]}, "immediate_rules", "unknown rule ids"),
        ({"allowed_ports": [0]}, "allowed_ports", "1..65535"),
        ({"violation_threshold": 0}, "violation_threshold", "greater than or equal to 1"),
        ({"detection": {"min_samples": 0}}, "detection.min_samples", "greater than or equal to 1"),
        ({"mode": "yolo"}, "mode", "'enforce' or 'audit'"),
    ],
)
def test_invalid_policies_name_field_and_reason(doc: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(PolicyValidationError) as info:
        policy_from_dict(doc, host_cpus=2)
    fields = dict(info.value.errors)
    assert field in fields, info.value.errors
    assert reason in fields[field]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(PolicyValidationError) as info:
        policy_from_dict({"resource_limits": {"memory_mb": 0, "max_processes": 0}, "x": 1})
    assert {f for f, _ in info.value.errors} == {
        "resource_limits.memory_mb",
        "resource_limits.max_processes",
        "x",
    }


def test_cpu_limit_follows_host_cpus() -> None:
    assert policy_from_dict({"resource_limits": {"cpu_percent": 350}}, host_cpus=4)
    with pytest.raises(PolicyValidationError):
        policy_from_dict({"resource_limits": {"cpu_percent": 350}}, host_cpus=2)


def test_load_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "p.yaml"
    y.write_text("network_policy: restricted\nresource_limits:\n  memory_mb: 128\nallowed_ports: [443, 53]\n")
    p = load_policy(y)
    assert p.network_policy is NetworkPolicy.RESTRICTED and p.allowed_ports == (53, 443)
    j = tmp_path / "p.json"
    j.write_text(json.dumps(p.model_dump(mode="json")))
    assert load_policy(j) == p


def test_unparseable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PolicyValidationError, match="not valid json"):
        load_policy(bad)
    with pytest.raises(PolicyValidationError, match=r"\(file\)"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(PolicyValidationError, match="expected a mapping"):
        parse_policy("- a\n- b\n")


def test_policies_are_immutable() -> None:
    p = SecurityPolicy()
    with pytest.raises(ValueError, match="frozen"):
        p.violation_threshold = 1  # type: ignore[misc]
    assert p.model_copy(update={"violation_threshold": 1}).violation_threshold == 1


def test_public_surface_is_pinned() -> None:
    assert "SecurityPolicy" in schemas.__all__
    assert sorted(schemas.__all__) == schemas.__all__ or set(schemas.__all__) == set(dir(schemas)) & set(
        schemas.__all__
    )
    for name in schemas.__all__:
        assert hasattr(schemas, name), name
