"""Runtime settings, from the environment (``SANDGUARD_*``) or arguments; one place for all.

The embedded mode needs none of them; the distributed mode needs the Kafka
bootstrap servers and a ClickHouse URL (credentials from the environment too).
Security (docs/deployment.md, "Security"): Kafka over TLS with SASL/SCRAM
(``SANDGUARD_KAFKA_SECURITY_PROTOCOL=SASL_SSL``, ``_USERNAME``, ``_PASSWORD``, ``_CA_FILE``),
ClickHouse over HTTPS (an ``https://`` URL, ``SANDGUARD_CLICKHOUSE_CA_FILE``).
"""

from __future__ import annotations

import socket
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    kafka_ca_file: Path | None = Field(None, description="PEM CA of the brokers; None: the system's")
    kafka_cert_file: Path | None = Field(None, description="PEM client certificate (mutual TLS), optional")
    kafka_key_file: Path | None = None
    kafka_check_hostname: bool = Field(True, description="the broker's name must match its certificate")
    clickhouse_url: str | None = Field(None, description="http(s)://host:port/db; None: embedded engine")
    # The one place the server's credentials are read (SANDGUARD_CLICKHOUSE_USER, _PASSWORD);
    # the store is given them, it reads no environment.
    clickhouse_user: str = DEFAULT_USER
    clickhouse_password: str = ""
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

    def load_default_policy(self) -> SecurityPolicy:
        """The policy of containers that have none: ``default_policy``'s file, else the seed defaults."""
        return load_policy(self.default_policy) if self.default_policy else SecurityPolicy()
