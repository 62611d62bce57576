"""The two bus backends behind ``schemas.Bus``: Kafka (distributed) and in-process (embedded)."""

from sandguard.bus.kafka import KafkaBus, ensure_topics
from sandguard.bus.local import LocalBus

__all__ = ["KafkaBus", "LocalBus", "ensure_topics"]
