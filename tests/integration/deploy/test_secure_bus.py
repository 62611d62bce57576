"""The secured pipeline on the real secured broker that the test command starts
(deploy/local/kafka.sh with SANDGUARD_KAFKA_SECURE=1: SASL_SSL with SCRAM-SHA-512 on
127.0.0.1:9192, a CA and SCRAM users of its own, ACLs by StandardAuthorizer):

- a wrong password and an untrusted certificate fail at start, naming what failed;
- the collector's identity cannot publish an enforcement command or a policy (the ACLs);
- a fork flood goes collector -> processor -> enforcer through it, each component on its
  own identity, and the sandbox is terminated; the processor starts last, so it judges a
  backlog (the sandbox's policy and its samples in one fetch). On a failure the message
  carries each topic's end offsets and the violations and commands decided, with the
  policy each was judged by.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from prometheus_client import CollectorRegistry

from sandguard import SandboxManager
from sandguard.bus import (
    DeliveryError,
    KafkaBus,
    KafkaSecurity,
    KafkaSecurityError,
    drop_namespace,
    ensure_topics,
)
from sandguard.bus.acls import ROLES, apply_acls
from sandguard.demo import FORK_BOMB
from sandguard.settings import KafkaProtocol
from schemas import decode
from schemas import topics as t
from tests.conftest import BUSYBOX_IMAGE
from tests.integration.deploy.test_stack import flood_policy

CLIENT_JSON = (
    Path(os.environ.get("SANDGUARD_SECURE_KAFKA_DIR", "/var/lib/sandguard/kafka-9192")) / "client.json"
)
USERS = {role: f"sandguard-{role}" for role in ROLES}
# A start that fails on credentials fails within the 10 s verify timeout, plus the import.
FAIL_FAST_S = 60
TERMINATED_WITHIN_S = 120.0
PARTITIONS = 2  # of every topic of a test's namespace


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    ca_file: Path
    passwords: dict[str, str]

    @classmethod
    def from_client_json(cls, path: Path) -> SecureBroker:
        """What deploy/local/kafka-secure.sh's client_json wrote (kafka.sh, stack.sh --secure)."""
        assert path.exists(), f"{path}: start the secured broker (deploy/local/test.sh does)"
        raw = json.loads(path.read_text())
        return cls(raw["bootstrap"], Path(raw["ca_file"]), raw["users"])

    def security(
        self, user: str, *, password: str | None = None, ca_file: Path | None = None
    ) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=KafkaProtocol.SASL_SSL,
            username=user,
            password=password or self.passwords[user],
            ca_file=ca_file or self.ca_file,
        )

    def env(self, role: str, namespace: str, **extra: str) -> dict[str, str]:
        """A component's environment: its own identity and nothing else."""
        user = USERS[role]
        return {
            **os.environ,
            "SANDGUARD_KAFKA_BOOTSTRAP": self.bootstrap,
            "SANDGUARD_KAFKA_NAMESPACE": namespace,
            "SANDGUARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "SANDGUARD_KAFKA_USERNAME": user,
            "SANDGUARD_KAFKA_PASSWORD": self.passwords[user],
            "SANDGUARD_KAFKA_CA_FILE": str(self.ca_file),
            "SANDGUARD_LOG_FORMAT": "json",
            **extra,
        }


@pytest.fixture(scope="session")
def secure_broker() -> SecureBroker:
    return SecureBroker.from_client_json(CLIENT_JSON)


@pytest.fixture
async def secured_namespace(secure_broker: SecureBroker) -> AsyncIterator[str]:
    """Fresh topics made by the admin identity, and each role's ACLs on them."""
    ns = f"t-{uuid.uuid4().hex[:10]}."
    admin = secure_broker.security("admin")
    await ensure_topics(secure_broker.bootstrap, namespace=ns, partitions=PARTITIONS, security=admin)
    await apply_acls(secure_broker.bootstrap, admin, USERS, namespace=ns)
    yield ns
    await drop_namespace(secure_broker.bootstrap, ns, security=admin)


@pytest.fixture
def rogue_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the broker's certificate."""
    key, crt = tmp_path / "rogue.key", tmp_path / "rogue.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rogue-ca",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return crt


def _probe(broker: SecureBroker) -> AIOKafkaConsumer:
    """A reader with the admin identity, of no group (it commits nothing)."""
    return AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, **broker.security("admin").client_options())


async def _read(probe: AIOKafkaConsumer, ns: str, *names: str) -> list[tuple[str, Any]]:
    """Every record of the namespace's ``names`` so far, decoded, from the beginning."""
    parts = [TopicPartition(ns + name, p) for name in names for p in range(PARTITIONS)]
    probe.assign(parts)
    await probe.seek_to_beginning(*parts)
    ends = await probe.end_offsets(parts)
    out: list[tuple[str, Any]] = []
    while [tp for tp, end in ends.items() if await probe.position(tp) < end]:
        for ms in (await probe.getmany(timeout_ms=1000)).values():
            out += [(m.topic[len(ns) :], decode(m.topic[len(ns) :], m.value)) for m in ms]
    return out


async def _flood_hit_its_limit(broker: SecureBroker, ns: str) -> None:
    """Until a sample on the metrics topic shows a process creation refused at pids.max."""
    probe = _probe(broker)
    await probe.start()
    try:
        while not any(getattr(ev, "pids_max_events_total", 0) for _, ev in await _read(probe, ns, t.METRICS)):
            await asyncio.sleep(0.5)
    finally:
        await probe.stop()


async def _bus_state(broker: SecureBroker, ns: str) -> dict[str, Any]:
    """What a failed round trip shows: where the events stopped (each topic's end offsets)
    and what the processor decided (its violations and commands, with their policy)."""
    probe = _probe(broker)
    await probe.start()
    try:
        names = [n for n in await probe.topics() if n.startswith(ns)]
        ends = await probe.end_offsets([TopicPartition(n, p) for n in names for p in range(PARTITIONS)])
        decided = await _read(probe, ns, t.VIOLATIONS, t.ENFORCEMENT)
        return {
            "end": {f"{tp.topic[len(ns) :]}/{tp.partition}": off for tp, off in ends.items() if off},
            "decided": [
                (topic, getattr(ev, "rule_id", None) or getattr(ev, "action", None), ev.policy_id)
                for topic, ev in decided
            ],
        }
    finally:
        await probe.stop()


def _sandguard() -> str:
    return str(Path(sys.executable).with_name("sandguard"))


async def test_wrong_password_fails_at_start(secure_broker: SecureBroker) -> None:
    bus = KafkaBus(
        secure_broker.bootstrap, security=secure_broker.security("sandguard-collector", password="x")
    )
    with pytest.raises(KafkaSecurityError) as caught:
        await bus.start()
    assert caught.value.what == "sasl" and caught.value.endpoint == secure_broker.bootstrap
    assert "'sandguard-collector'" in str(caught.value) and "SCRAM-SHA-512" in str(caught.value)


async def test_untrusted_certificate_fails_at_start(secure_broker: SecureBroker, rogue_ca: Path) -> None:
    bus = KafkaBus(
        secure_broker.bootstrap, security=secure_broker.security("sandguard-collector", ca_file=rogue_ca)
    )
    with pytest.raises(KafkaSecurityError) as caught:
        await bus.start()
    assert caught.value.what == "tls" and str(rogue_ca) in str(caught.value)
    assert "not trusted" in str(caught.value)


@pytest.mark.parametrize("command", ["collector", "enforcer", "processor", "sink"])
def test_components_exit_at_start_on_a_wrong_password(
    secure_broker: SecureBroker, command: str, tmp_path: Path
) -> None:
    env = secure_broker.env(
        "collector", "t-never.", SANDGUARD_KAFKA_PASSWORD="wrong", SANDGUARD_DATA_DIR=str(tmp_path)
    )
    done = subprocess.run(
        [_sandguard(), command], env=env, capture_output=True, text=True, timeout=FAIL_FAST_S, check=False
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert any(line.startswith("Error: Kafka sasl failed (127.0.0.1:9192)") for line in lines), lines[-20:]
    assert "Traceback" not in done.stderr


def test_a_component_exits_at_start_on_an_untrusted_certificate(
    secure_broker: SecureBroker, rogue_ca: Path, tmp_path: Path
) -> None:
    env = secure_broker.env(
        "enforcer", "t-never.", SANDGUARD_KAFKA_CA_FILE=str(rogue_ca), SANDGUARD_DATA_DIR=str(tmp_path)
    )
    done = subprocess.run(
        [_sandguard(), "enforcer"], env=env, capture_output=True, text=True, timeout=FAIL_FAST_S, check=False
    )
    assert done.returncode == 1
    assert "Kafka tls failed (127.0.0.1:9192): the broker's certificate is not trusted" in done.stderr


async def collector_cannot_command_or_loosen(broker: SecureBroker, namespace: str = "") -> None:
    """The collector's identity publishes metrics, and is refused on the enforcement and
    policies topics (of ``namespace``) by the broker's ACLs."""
    bus = KafkaBus(
        broker.bootstrap,
        namespace=namespace,
        create_topics=False,
        security=broker.security("sandguard-collector"),
    )
    await bus.start()
    try:
        await bus.publish(t.METRICS, "c1", b"{}")  # its own job: allowed
        await bus.flush()
        for forbidden in (t.ENFORCEMENT, t.POLICIES):
            with pytest.raises((DeliveryError, TopicAuthorizationFailedError)) as caught:
                await bus.publish(forbidden, "c1", b'{"action": "terminate"}')
                await bus.flush()
            assert "TopicAuthorizationFailed" in repr(caught.value) or "Authorization" in str(caught.value)
    finally:
        await bus.stop()


async def test_collector_identity_cannot_command_or_loosen(
    secure_broker: SecureBroker, secured_namespace: str
) -> None:
    await collector_cannot_command_or_loosen(secure_broker, secured_namespace)


async def test_sink_identity_cannot_publish_a_command(
    secure_broker: SecureBroker, secured_namespace: str
) -> None:
    bus = KafkaBus(
        secure_broker.bootstrap,
        namespace=secured_namespace,
        create_topics=False,
        security=secure_broker.security("sandguard-sink"),
    )
    await bus.start()
    try:
        with pytest.raises((DeliveryError, TopicAuthorizationFailedError)):
            await bus.publish(t.ENFORCEMENT, "c1", b"{}")
            await bus.flush()
    finally:
        await bus.stop()


@dataclass
class Components:
    """This test's services, each on its own identity, watching only its sandboxes (label
    test.run=<run_id>); started one by one, stopped together."""

    broker: SecureBroker
    namespace: str
    run_id: str
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"secure-{self.run_id}"

    def start(self, role: str) -> None:
        label = f"test.run={self.run_id}"
        argv = {
            "collector": ["collector", "--label", label],
            "processor": ["processor", "--partitions", str(PARTITIONS), "--faust-log-level", "info"],
            "enforcer": ["enforcer", "--require-label", "sandguard.sandbox=1", "--require-label", label],
        }[role]
        env = self.broker.env(
            role, self.namespace, SANDGUARD_HOST=self.host, SANDGUARD_DATA_DIR=str(self.logs / role)
        )
        with (self.logs / f"{role}.log").open("wb") as out:
            self.procs.append(subprocess.Popen([_sandguard(), *argv], env=env, stdout=out, stderr=out))

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def components(
    secure_broker: SecureBroker, secured_namespace: str, tmp_path: Path, run_id: str
) -> Iterator[Components]:
    c = Components(secure_broker, secured_namespace, run_id, tmp_path)
    try:
        yield c
    finally:
        c.stop()


async def test_round_trip_through_sasl_ssl(
    secure_broker: SecureBroker, secured_namespace: str, components: Components, tmp_path: Path
) -> None:
    """The processor starts last, once the flood has hit its limit: it catches up on a
    backlog that holds the sandbox's policy and its samples in one fetch. (This was the
    flaky case: judged before its policy, the flood's one pids event counted against the
    default threshold of 5 under the container's own limits, and busybox sh exits at its
    first refused fork, so nothing more came. The policies now go first in a fetch.)"""
    host, run_id = components.host, components.run_id
    components.start("collector")
    components.start("enforcer")
    bus = KafkaBus(
        secure_broker.bootstrap,
        namespace=secured_namespace,
        create_topics=False,
        security=secure_broker.security("sandguard-manager"),
    )
    await bus.start()
    manager = SandboxManager(
        flood_policy(), bus=bus, image=BUSYBOX_IMAGE, host=host, labels={"test.run": run_id},
        registry=CollectorRegistry(),
    )  # fmt: skip
    try:
        await manager.start()
        sid = await manager.create_sandbox()
        flood = asyncio.create_task(manager.execute(sid, FORK_BOMB, timeout=TERMINATED_WITHIN_S))
        await asyncio.wait_for(_flood_hit_its_limit(secure_broker, secured_namespace), TERMINATED_WITHIN_S)
        components.start("processor")

        async def terminated() -> None:
            while (t_ := manager.sandbox(sid).record.termination) is None or t_.source != "enforcer":
                await asyncio.sleep(0.5)

        try:
            await asyncio.wait_for(terminated(), timeout=TERMINATED_WITHIN_S)
        except TimeoutError:
            logs = {p.name: p.read_text()[-1500:] for p in tmp_path.glob("*.log")}
            state = await _bus_state(secure_broker, secured_namespace)
            raise AssertionError(
                f"not terminated in {TERMINATED_WITHIN_S} s; bus: {state}; logs: {logs}"
            ) from None
        await asyncio.gather(flood, return_exceptions=True)
        termination = manager.sandbox(sid).record.termination
        assert termination is not None and termination.action == "terminate"
        assert any(rule.startswith(("pids.", "process")) for rule in termination.rule_ids), termination
    finally:
        await manager.cleanup()
        await bus.stop()
