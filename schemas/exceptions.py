"""Errors raised while reading contracts, and the base every package's data-carrying errors share.

Tree::

    SchemaError                 root of this package
    ├── PolicyValidationError   a policy document is invalid (carries each field and reason)
    └── EventDecodeError        bytes on a topic are not a valid event of that topic (carries the reason)

    DetailedError               not a root: the base of an error that carries its data (below)
    └── LifecycleError          a long-lived object used out of order (carries state, operation)
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, dataclass_transform


@dataclass_transform(eq_default=False)
class DetailedError(Exception):
    """Base of an error that carries its data (container_id, reason, retry_after ...).

    A subclass declares its fields as annotations, in the order its constructor takes them,
    and its message once, as ``template`` (``str.format`` over the fields, e.g.
    ``"{container_id:.12}: {reason}"``). It is mixed in after the package's root, which
    stays the one every caller catches: ``class StoreQueryError(ReportingError, DetailedError)``.
    """

    template: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The constructor and nothing else: an error compares and prints as an error.
        dataclasses.dataclass(eq=False, repr=False, match_args=False)(cls)

    def __post_init__(self) -> None:
        super().__init__(self.template.format_map(vars(self)))


class LifecycleError(DetailedError):
    """Base of the errors raised when a long-lived object (a collector, an enforcer) is used
    in a state that does not allow it: start twice, wait before start, use after stop."""

    state: str
    operation: str
    template = "cannot {operation} it while it is {state}"


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


class EventDecodeError(SchemaError, DetailedError):
    """Raised when a message does not decode to the event type of its topic."""

    topic: str
    reason: str
    template = "{topic}: {reason}"
