"""Errors of the bus backends.

Tree::

    BusError                    root of this package (a RuntimeError)
    ├── BusClosedError          publish on a bus that was stopped (carries the topic)
    ├── BusNotStartedError      publish or consumer before start() (carries the operation)
    ├── BusUnavailableError     start() could not reach the brokers in time (carries the
    │                           bootstrap servers and the cause)
    ├── DeliveryError           flush found records the broker did not acknowledge (carries
    │                           how many failed and the first error); retry the records
    ├── KafkaSecurityError      security settings that cannot work: TLS not trusted, SASL
    │                           login refused, a setting missing (carries what, endpoint)
    └── TopicCreationError      the broker refused to create a declared topic (carries topic,
                                Kafka error code and message)
"""

from __future__ import annotations

from schemas.exceptions import DetailedError


class BusError(RuntimeError):
    """Root of the bus errors."""


class BusClosedError(BusError, DetailedError):
    """Raised by publish after stop()."""

    topic: str
    template = "bus stopped; cannot publish to {topic}"


class BusNotStartedError(BusError, DetailedError):
    """Raised when a bus is used before start()."""

    operation: str
    template = "{operation}: call start() first"


class BusUnavailableError(BusError, DetailedError):
    """Raised by start() when the brokers do not answer within its timeout."""

    bootstrap: str
    cause: str
    timeout_s: float
    template = (
        "Kafka at {bootstrap} cannot be reached (waited up to {timeout_s:g} s): {cause}; "
        "check the bootstrap servers (SANDGUARD_KAFKA_BOOTSTRAP) and that the broker is up"
    )


class DeliveryError(BusError):
    """Raised by flush when records published since the previous flush were not delivered."""

    def __init__(self, failed: int, first: BaseException) -> None:
        self.failed = failed
        self.first = first
        super().__init__(f"{failed} record(s) not delivered: {type(first).__name__}: {first}")


class TopicCreationError(BusError):
    """Raised by ensure_topics when the broker refuses a topic (other than: it exists)."""

    def __init__(self, topic: str, code: int, message: str | None) -> None:
        self.topic = topic
        self.code = code
        self.message = message
        super().__init__(f"cannot create topic {topic}: error {code} {message or ''}".rstrip())


class KafkaSecurityError(BusError, DetailedError):
    """Raised at start when the Kafka security settings cannot work: a setting missing or
    unreadable, the broker's certificate not trusted, or the SASL login refused. Carries what
    failed (``what``: "settings", "tls" or "sasl") and where (``endpoint``: host:port or the
    setting's variable); a retry cannot help, so components fail instead of retrying."""

    what: str
    endpoint: str
    reason: str
    template = "Kafka {what} failed ({endpoint}): {reason}"
