"""Kafka security settings and the ACLs of each role, without a broker (the broker tests are
in tests/integration/deploy/test_secure_bus.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from sandguard.bus import KafkaSecurity, KafkaSecurityError
from sandguard.bus.acls import ROLES, AclOperation, Resource, bindings, kafka_acls_commands
from sandguard.settings import KafkaProtocol, Settings
from schemas import topics as t


def _writers(topic: str) -> set[str]:
    return {
        role
        for role in ROLES
        for b in bindings(role)
        if b.resource is Resource.TOPIC
        and b.name == topic
        and b.operation in (AclOperation.WRITE, AclOperation.ALL)
    }


def test_only_processors_can_command_the_enforcer() -> None:
    assert _writers(t.ENFORCEMENT) == {"processor"}


def test_only_managers_can_set_policies() -> None:
    assert _writers(t.POLICIES) == {"manager"}


def test_the_collector_writes_only_observations() -> None:
    written = {b.name for b in bindings("collector") if b.operation is AclOperation.WRITE}
    assert written == {t.METRICS, t.PROCESSES, t.AUDIT, t.KERNEL, t.ACTIONS}
    assert t.ENFORCEMENT not in written and t.POLICIES not in written


def test_the_sink_writes_only_dead_letters() -> None:
    assert {b.name for b in bindings("sink") if b.operation is not AclOperation.READ and b.operation is not
            AclOperation.DESCRIBE} == {t.DEADLETTER}  # fmt: skip


def test_no_role_holds_all_on_sandguard_topics() -> None:
    for role in ROLES:
        owned = [b for b in bindings(role) if b.operation is AclOperation.ALL]
        assert all(not b.name.startswith("sandguard.") for b in owned), role


def test_namespace_prefixes_every_name() -> None:
    assert all(b.name.startswith("t-1.") for role in ROLES for b in bindings(role, "t-1."))


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role 'admin'"):
        bindings("admin")


def test_kafka_acls_lines_name_the_principal() -> None:
    lines = kafka_acls_commands("enforcer", "sandguard-enforcer")
    assert any("--operation Write --topic sandguard.actions" in line for line in lines)
    assert all("User:sandguard-enforcer" in line for line in lines)


def test_sasl_without_password_names_the_variable() -> None:
    with pytest.raises(KafkaSecurityError, match="SANDGUARD_KAFKA_PASSWORD"):
        KafkaSecurity(protocol=KafkaProtocol.SASL_SSL, username="u")


def test_certificate_without_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KafkaSecurityError, match="CERT_FILE"):
        KafkaSecurity(protocol=KafkaProtocol.SSL, cert_file=tmp_path / "c.pem")


def test_unreadable_ca_names_the_setting(tmp_path: Path) -> None:
    sec = KafkaSecurity(protocol=KafkaProtocol.SSL, ca_file=tmp_path / "missing.pem")
    with pytest.raises(KafkaSecurityError, match="SANDGUARD_KAFKA_CA_FILE"):
        sec.client_options()


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDGUARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SANDGUARD_KAFKA_USERNAME", "sandguard-sink")
    monkeypatch.setenv("SANDGUARD_KAFKA_PASSWORD", "s3cret")
    monkeypatch.setenv("SANDGUARD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    settings = Settings()
    assert "s3cret" not in repr(settings)
    options = KafkaSecurity.from_settings(settings).client_options()
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "sandguard-sink" and options["sasl_plain_password"] == "s3cret"
    ctx = options["ssl_context"]
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_bad_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDGUARD_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        Settings()


def test_plaintext_by_default() -> None:
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity().faust_credentials() is None
