"""Errors raised while reading contracts.

Tree::

    SchemaError                 root of this package
    ├── PolicyValidationError   a policy document is invalid (carries each field and reason)
    └── EventDecodeError        bytes on a topic are not a valid event of that topic (carries the reason)
"""

from __future__ import annotations


class SchemaError(ValueError):
    """Root of the contract errors; a ValueError so callers that validate input catch it."""


class PolicyValidationError(SchemaError):
    """Raised by the policy loaders when a document is not a valid SecurityPolicy.

    ``errors`` holds ``(field_path, reason)`` pairs, one per problem, so a CLI or an
    API can show every problem at once.
    """

    def __init__(self, errors: list[tuple[str, str]], source: str = "policy") -> None:
        self.errors = errors
        self.source = source
        lines = "\n".join(f"  {field}: {reason}" for field, reason in errors)
        super().__init__(f"invalid {source}:\n{lines}")


class EventDecodeError(SchemaError):
    """Raised when a message does not decode to the event type of its topic."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"{topic}: {reason}")
