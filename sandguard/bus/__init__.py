"""The two bus backends behind ``schemas.Bus``: Kafka (distributed) and in-process (embedded)."""

from sandguard.bus.exceptions import (
    BusClosedError,
    BusError,
    BusNotStartedError,
    BusUnavailableError,
    DeliveryError,
    KafkaSecurityError,
    TopicCreationError,
)
from sandguard.bus.kafka import KafkaBus, drop_namespace, ensure_topics, topic_partitions
from sandguard.bus.local import LocalBus
from sandguard.bus.security import KafkaSecurity

__all__ = [
    "BusClosedError",
    "BusError",
    "BusNotStartedError",
    "BusUnavailableError",
    "DeliveryError",
    "KafkaBus",
    "KafkaSecurity",
    "KafkaSecurityError",
    "LocalBus",
    "TopicCreationError",
    "drop_namespace",
    "ensure_topics",
    "topic_partitions",
]
