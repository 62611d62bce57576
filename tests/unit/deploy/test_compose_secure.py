"""deploy/compose.secure.yaml: every component of compose.yaml gets its own identity from an
env file and waits for bus-init, bus-init grants every role its ACLs, and no password is
written in a compose file (they are made per stack by stack.sh --secure)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml

from sandguard.bus.acls import ROLES
from sandguard.cli.topics import parse_grants

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
PLAIN = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
SECURE = yaml.safe_load((DEPLOY / "compose.secure.yaml").read_text())["services"]
COMPONENTS = {name for name, s in PLAIN.items() if name != "kafka" and "profiles" not in s}


def test_every_component_has_its_identity_and_waits_for_bus_init() -> None:
    assert {"collector", "enforcer", "processor-1", "processor-2", "sink"} == COMPONENTS
    for name in COMPONENTS:
        service = SECURE[name]
        role = name.split("-")[0]
        assert service["env_file"] == [f"${{SANDGUARD_STACK_SECRETS}}/{role}.env"], name
        assert service["environment"]["SANDGUARD_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert service["depends_on"]["bus-init"] == {"condition": "service_completed_successfully"}, name


def test_bus_init_grants_every_role_to_its_own_user() -> None:
    argv = SECURE["bus-init"]["command"]
    grants = parse_grants(tuple(argv[i + 1] for i, a in enumerate(argv) if a == "--acl"))
    assert grants == {role: f"sandguard-{role}" for role in ROLES}


def test_kafka_takes_sasl_ssl_only() -> None:
    env = SECURE["kafka"]["environment"]
    protocols = {pair.split(":")[1] for pair in env["KAFKA_SECURITY_PROTOCOL_MAP"].split(",")}
    assert protocols == {"SASL_SSL"} and env["KAFKA_CONTROLLER_PROTOCOL"] == "SSL"


def test_no_password_in_a_compose_file() -> None:
    for name in ("compose.yaml", "compose.secure.yaml"):
        assert not re.search(r"PASSWORD\s*[:=]", (DEPLOY / name).read_text()), name


@pytest.mark.parametrize("bad", ["collector", "collector=", "root=admin", "=x"])
def test_a_bad_acl_grant_is_refused_naming_the_option(bad: str) -> None:
    with pytest.raises(click.BadParameter) as caught:
        parse_grants((bad,))
    assert caught.value.param_hint == "--acl" and repr(bad) in caught.value.message
