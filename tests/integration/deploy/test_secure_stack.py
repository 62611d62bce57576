"""The secured compose stack (deploy/compose.yaml + compose.secure.yaml) brought up by
``deploy/local/stack.sh up --secure`` on the real engine: Kafka on SASL_SSL only, each
component on its own SCRAM identity with its role's ACLs (applied by the one-shot bus-init).
Every service healthy, the demo's fork flood terminated through it (the host's
SandboxManager on the manager identity, from the generated client.json), the collector's
identity refused on the enforcement and policies topics, the secrets private, and ``down``
leaving no container, network, volume or secret behind. The machinery is test_stack.py's."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from sandguard.bus import KafkaBus, KafkaSecurityError
from tests.integration.deploy.test_secure_bus import SecureBroker, collector_cannot_command_or_loosen
from tests.integration.deploy.test_stack import (
    SERVICES,
    UP_TIMEOUT_S,
    Stack,
    fork_flood_is_terminated,
    left_behind,
)

PROJECT = "sgstack-secure-test"
# Not 19092/19192 (the plain stacks) nor 9092/9192 (the test brokers).
KAFKA_PORT = 19292
pytestmark = pytest.mark.timeout(UP_TIMEOUT_S + 300)
# Python's SSL shutdown timeout (asyncio's default) and a margin.
TLS_CLOSE_S = 35.0
# What make_secrets writes that holds a key or a password: readable by its owner only.
PRIVATE = (
    "*.env",
    "*.password",
    "kafka-scram",
    "kafka-secure.properties",
    "client.json",
    "tls/*.key",
    "tls/broker.pem",
)


@dataclass(frozen=True)
class SecureStack:
    services: dict[str, str]
    broker: SecureBroker  # its Kafka from the host, with the generated identities
    secrets: Path


def stack_of(secrets: Path) -> Stack:
    return Stack(PROJECT, KAFKA_PORT, secure=True, env={"SANDGUARD_STACK_SECRETS": str(secrets)})


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureStack]:
    secrets = tmp_path_factory.mktemp("secure-stack") / "secrets"
    run = stack_of(secrets)
    try:
        out = run("up", timeout_s=UP_TIMEOUT_S)
        services = json.loads(out.strip().splitlines()[-1])["services"]
        yield SecureStack(services, SecureBroker.from_client_json(secrets / "client.json"), secrets)
    finally:
        run("down")
        assert left_behind(PROJECT) == ""
        assert not secrets.exists(), sorted(p.name for p in secrets.rglob("*"))


def test_every_service_is_healthy_after_bus_init(secure_stack: SecureStack) -> None:
    assert secure_stack.services == {**dict.fromkeys(SERVICES, "healthy"), "bus-init": "completed"}


def test_secrets_are_private(secure_stack: SecureStack) -> None:
    private = [p for pattern in PRIVATE for p in secure_stack.secrets.glob(pattern)]
    assert len(private) >= len(PRIVATE)
    assert {p.name: stat.filemode(p.stat().st_mode) for p in private} == {
        p.name: "-rw-------" for p in private
    }


def test_no_password_is_in_any_containers_environment(secure_stack: SecureStack) -> None:
    """Passwords reach the components as secret files (SANDGUARD_KAFKA_PASSWORD_FILE), read
    once at start: ``docker inspect`` (or /proc/<pid>/environ) shows none of them."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    inspected = json.loads(
        subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    )
    envs = {c["Name"]: c["Config"]["Env"] or [] for c in inspected}
    secrets = set(secure_stack.broker.passwords.values())
    leaks = {
        name: [v.split("=")[0] for v in env if any(p in v for p in secrets)] for name, env in envs.items()
    }
    assert not any(leaks.values()), leaks
    with_file = [
        n for n, env in envs.items() if "SANDGUARD_KAFKA_PASSWORD_FILE=/run/secrets/kafka-password" in env
    ]
    assert len(with_file) == len(SERVICES - {"kafka"}) + 1, envs  # every component, and bus-init


async def login_is_refused(broker: SecureBroker, user: str, password: str) -> None:
    """``user`` with ``password`` is refused at start (sasl). aiokafka closes the refused
    connection, but TLS closes it only once the broker answered the close (a few loop turns;
    Python's own bound is 30 s): wait for it, so no open socket outlives this test."""
    bus = KafkaBus(broker.bootstrap, create_topics=False, security=broker.security(user, password=password))
    with pytest.raises(KafkaSecurityError) as caught:
        await bus.start()
    assert caught.value.what == "sasl" and repr(user) in str(caught.value)
    deadline = time.monotonic() + TLS_CLOSE_S
    while _connected_to(KAFKA_PORT) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not _connected_to(KAFKA_PORT)


def _connected_to(port: int) -> bool:
    """This process holds a TCP connection to 127.0.0.1:port."""
    return any(c.raddr and c.raddr.port == port for c in psutil.Process().net_connections("tcp"))


async def test_a_wrong_password_is_refused(secure_stack: SecureStack) -> None:
    await login_is_refused(secure_stack.broker, "sandguard-manager", "x")


async def test_collector_identity_cannot_command_or_loosen(secure_stack: SecureStack) -> None:
    await collector_cannot_command_or_loosen(secure_stack.broker)


async def test_fork_flood_is_terminated_by_the_secure_stack(secure_stack: SecureStack) -> None:
    broker = secure_stack.broker
    bus = KafkaBus(broker.bootstrap, create_topics=False, security=broker.security("sandguard-manager"))
    await bus.start()
    try:
        await fork_flood_is_terminated(bus, PROJECT)
    finally:
        await bus.stop()


async def test_rotating_a_password(secure_stack: SecureStack) -> None:
    """``stack.sh rotate collector``: the old password is refused, the new one (client.json)
    works, and the recreated collector is healthy on it."""
    old = secure_stack.broker
    out = stack_of(secure_stack.secrets)("rotate", "collector")
    assert json.loads(out.strip().splitlines()[-1])["services"]["collector"] == "healthy"
    new = SecureBroker.from_client_json(secure_stack.secrets / "client.json")
    assert new.passwords["sandguard-collector"] != old.passwords["sandguard-collector"]
    assert new.passwords["sandguard-manager"] == old.passwords["sandguard-manager"]
    await login_is_refused(old, "sandguard-collector", old.passwords["sandguard-collector"])
    await collector_cannot_command_or_loosen(new)
