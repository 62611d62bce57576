"""Passwords from files (compose and Kubernetes secrets), never the environment: read once
when the settings are made; an unreadable, empty or doubly-given one is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sandguard.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_PASSWORD", "KAFKA_PASSWORD_FILE", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_PASSWORD_FILE"):
        monkeypatch.delenv(f"SANDGUARD_{name}", raising=False)


def test_the_password_is_read_from_its_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SANDGUARD_KAFKA_PASSWORD_FILE", str(secret))
    settings = Settings()
    secret.write_text("changed\n")  # read at start only: a running component keeps its login
    assert settings.kafka_password is not None and settings.kafka_password.get_secret_value() == "s3cret"


def test_the_clickhouse_password_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "ch"
    secret.write_text("pw")
    monkeypatch.setenv("SANDGUARD_CLICKHOUSE_PASSWORD_FILE", str(secret))
    assert Settings().clickhouse_password == "pw"


def test_an_unreadable_file_names_the_setting_and_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDGUARD_KAFKA_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(
        ValidationError, match=r"SANDGUARD_KAFKA_PASSWORD_FILE .*missing: cannot be read \(No such file"
    ):
        Settings()


@pytest.mark.parametrize(("content", "reason"), [(b"\n", "empty"), (b"x" * 5000, "not a password")])
def test_a_file_that_holds_no_password_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, reason: str
) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(content)
    monkeypatch.setenv("SANDGUARD_KAFKA_PASSWORD_FILE", str(secret))
    with pytest.raises(ValidationError, match=reason):
        Settings()


def test_a_password_given_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("a")
    monkeypatch.setenv("SANDGUARD_KAFKA_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("SANDGUARD_KAFKA_PASSWORD", "b")
    with pytest.raises(
        ValidationError, match="SANDGUARD_KAFKA_PASSWORD and SANDGUARD_KAFKA_PASSWORD_FILE are both set"
    ):
        Settings()
