"""Kafka client security, from the settings, for every client of one component: aiokafka's
producer, consumers and admin client, and Faust's workers.

``KafkaSecurity.from_settings(settings)`` reads ``SANDGUARD_KAFKA_SECURITY_PROTOCOL``,
``_SASL_MECHANISM``, ``_USERNAME``, ``_PASSWORD``, ``_CA_FILE`` (and ``_CERT_FILE``,
``_KEY_FILE`` for mutual TLS). ``verify(bootstrap)`` runs at start: aiokafka reports a bad
password or an untrusted certificate as "Unable to bootstrap", the same as a broker that
is down, and a component would retry forever; verify names what failed and where
(``KafkaSecurityError``), and the component exits instead.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError

from sandguard.bus.exceptions import KafkaSecurityError
from sandguard.settings import KafkaProtocol, Settings

# The start-up check waits this long per broker: a TLS handshake and a SCRAM exchange are a
# few round trips; 10 s covers a loaded broker without hiding a dead one for long.
VERIFY_TIMEOUT_S = 10.0
_TLS = {KafkaProtocol.SSL, KafkaProtocol.SASL_SSL}
_SASL = {KafkaProtocol.SASL_PLAINTEXT, KafkaProtocol.SASL_SSL}


@dataclass(frozen=True)
class KafkaSecurity:
    """How this component's Kafka clients authenticate and encrypt. The default is
    PLAINTEXT with no login (a loopback test broker)."""

    protocol: KafkaProtocol = KafkaProtocol.PLAINTEXT
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.sasl and not (self.username and self.password):
            missing = "SANDGUARD_KAFKA_USERNAME" if not self.username else "SANDGUARD_KAFKA_PASSWORD"
            raise KafkaSecurityError("settings", missing, f"{self.protocol} needs a username and a password")
        if (self.cert_file is None) != (self.key_file is None):
            raise KafkaSecurityError(
                "settings", "SANDGUARD_KAFKA_CERT_FILE", "a client certificate needs its key file too"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        password = settings.kafka_password
        return cls(
            protocol=settings.kafka_security_protocol,
            mechanism=settings.kafka_sasl_mechanism.value,
            username=settings.kafka_username,
            password=password.get_secret_value() if password is not None else None,
            ca_file=settings.kafka_ca_file,
            cert_file=settings.kafka_cert_file,
            key_file=settings.kafka_key_file,
            check_hostname=settings.kafka_check_hostname,
        )

    @property
    def tls(self) -> bool:
        return self.protocol in _TLS

    @property
    def sasl(self) -> bool:
        return self.protocol in _SASL

    def ssl_context(self) -> ssl.SSLContext | None:
        """Certificates verified (against ca_file, else the system's CAs), TLS 1.2 at least."""
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None and self.key_file is not None:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise KafkaSecurityError("settings", "SANDGUARD_KAFKA_CA_FILE/CERT_FILE", str(exc)) from exc
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = self.check_hostname
        return ctx

    def client_options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments (producer, consumer, admin client)."""
        options: dict[str, Any] = {"security_protocol": self.protocol.value}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(
                sasl_mechanism=self.mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials`` (None: plaintext)."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password,
                mechanism=self.mechanism,
                ssl_context=self.ssl_context(),
            )
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None

    async def verify(self, bootstrap: str) -> None:
        """Connects to the first broker that answers with these settings. Raises
        KafkaSecurityError when TLS or the SASL login fails; a broker that does not answer
        at all is not a security error (the caller's own retries handle that)."""
        if self.protocol is KafkaProtocol.PLAINTEXT:
            return
        options = self.client_options()
        for endpoint in bootstrap.split(","):
            host, _, port = endpoint.strip().rpartition(":")
            if await self._try(host, int(port), options):
                return

    async def _try(self, host: str, port: int, options: dict[str, Any]) -> bool:
        where = f"{host}:{port}"
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(VERIFY_TIMEOUT_S * 1000), **options),
                VERIFY_TIMEOUT_S,
            )
        except ssl.SSLCertVerificationError as exc:
            ca = self.ca_file or "the system's CAs"
            raise KafkaSecurityError(
                "tls", where, f"the broker's certificate is not trusted by {ca}: {exc.verify_message}"
            ) from exc
        except ssl.SSLError as exc:
            raise KafkaSecurityError("tls", where, f"handshake failed: {exc}") from exc
        except (KafkaConnectionError, OSError, TimeoutError):
            return False  # not reachable: not ours to judge
        except KafkaError as exc:  # SaslAuthenticationFailed, UnsupportedSaslMechanism, ...
            raise KafkaSecurityError(
                "sasl", where, f"{self.mechanism} login of user {self.username!r} refused: {exc}"
            ) from exc
        conn.close()
        return True
