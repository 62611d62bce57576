"""Runtime settings, from the environment (``SANDGUARD_*``) or arguments; one place for all.

The embedded mode needs none of them; the distributed mode needs the Kafka
bootstrap servers and a ClickHouse URL (credentials from the environment too).
Security (docs/deployment.md, "Security"): Kafka over TLS with SASL/SCRAM
(``SANDGUARD_KAFKA_SECURITY_PROTOCOL=SASL_SSL``, ``_USERNAME``, ``_PASSWORD``, ``_CA_FILE``),
ClickHouse over HTTPS (an ``https://`` URL, ``SANDGUARD_CLICKHOUSE_CA_FILE``).
A password may come from a file instead (``SANDGUARD_KAFKA_PASSWORD_FILE``,
``SANDGUARD_CLICKHOUSE_PASSWORD_FILE``: a compose or Kubernetes secret), so it is never in
the process's environment: read once, when the settings are made; a file that cannot be
read, or one given beside the password itself, is a clear error naming the setting.
"""

from __future__ import annotations

import socket
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import SecurityPolicy, load_policy
from schemas.clickhouse import DEFAULT_USER, HISTORY_TTL_DAYS, METRICS_TTL_DAYS


class Mode(StrEnum):
    EMBEDDED = "embedded"
    DISTRIBUTED = "distributed"


class KafkaProtocol(StrEnum):
    """Kafka's security.protocol values."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    PLAIN = "PLAIN"


# A secret file holds one line; a password longer than 4 KiB is not a password (a wrong path).
SECRET_MAX_BYTES = 4096


def read_secret(name: str, given: SecretStr | None, path: Path) -> str:
    """The password in ``path`` (its trailing newline stripped), for setting ``name``."""
    env = f"SANDGUARD_{name.upper()}"
    if given is not None:
        raise ValueError(f"{env} and {env}_FILE are both set: give one")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{env}_FILE {path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > SECRET_MAX_BYTES:
        raise ValueError(f"{env}_FILE {path}: {len(data)} bytes, not a password (at most {SECRET_MAX_BYTES})")
    text = data.decode("utf-8", "strict").rstrip("\r\n")
    if not text:
        raise ValueError(f"{env}_FILE {path}: empty")
    return text


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDGUARD_", extra="ignore")

    mode: Mode = Mode.EMBEDDED
    host: str = Field(default_factory=socket.gethostname, description="this host's name in events")
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_namespace: str = Field("", description="prefix of every topic and group on the wire")
    kafka_security_protocol: KafkaProtocol = Field(
        KafkaProtocol.PLAINTEXT, description="SASL_SSL in production"
    )
    kafka_sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    kafka_username: str | None = Field(None, description="this component's own SCRAM identity")
    kafka_password: SecretStr | None = None
    kafka_password_file: Path | None = Field(None, description="the password, from a file (a secret)")
    kafka_ca_file: Path | None = Field(None, description="PEM CA of the brokers; None: the system's")
    kafka_cert_file: Path | None = Field(None, description="PEM client certificate (mutual TLS), optional")
    kafka_key_file: Path | None = None
    kafka_check_hostname: bool = Field(True, description="the broker's name must match its certificate")
    clickhouse_url: str | None = Field(None, description="http(s)://host:port/db; None: embedded engine")
    # The one place the server's credentials are read (SANDGUARD_CLICKHOUSE_USER, _PASSWORD);
    # the store is given them, it reads no environment.
    clickhouse_user: str = DEFAULT_USER
    clickhouse_password: str = ""
    clickhouse_password_file: Path | None = Field(None, description="the password, from a file (a secret)")
    clickhouse_ca_file: Path | None = Field(None, description="PEM CA of an https:// server")
    clickhouse_verify: bool = Field(True, description="verify an https:// server's certificate")
    metrics_ttl_days: int = Field(
        METRICS_TTL_DAYS, ge=1, description="retention of raw metric samples in ClickHouse"
    )
    history_ttl_days: int = Field(
        HISTORY_TTL_DAYS, ge=1, description="retention of everything else in ClickHouse"
    )
    data_dir: Path = Path("/var/lib/sandguard/data")
    kernel_events: bool = Field(True, description="the embedded pipeline's kernel layer; 0: off")
    workspace: Literal["disk", "tmpfs"] = Field(
        "disk", description="/work and /tmp: disk (ext4 images, full is ENOSPC) or tmpfs (memory)"
    )
    workspace_dir: Path = Field(Path("/var/lib/sandguard/workspaces"), description="the disk images")
    default_policy: Path | None = Field(None, description="policy for containers with none")
    metrics_addr: str = "127.0.0.1"
    metrics_port: int = Field(0, description="Prometheus endpoint; 0: off")
    log_format: str = Field("console", description="console or json")
    log_level: str = "info"

    @model_validator(mode="after")
    def _passwords_from_files(self) -> Self:
        if self.kafka_password_file is not None:
            self.kafka_password = SecretStr(
                read_secret("kafka_password", self.kafka_password, self.kafka_password_file)
            )
        if self.clickhouse_password_file is not None:
            given = SecretStr(self.clickhouse_password) if self.clickhouse_password else None
            self.clickhouse_password = read_secret(
                "clickhouse_password", given, self.clickhouse_password_file
            )
        return self

    def load_default_policy(self) -> SecurityPolicy:
        """The policy of containers that have none: ``default_policy``'s file, else the seed defaults."""
        return load_policy(self.default_policy) if self.default_policy else SecurityPolicy()
