"""Errors of the reporting component.

Tree::

    ReportingError               root of this package
    ├── StoreUnavailableError    the engine is closed or the server does not answer (retryable)
    ├── StoreQueryError          the engine refused a statement (carries the SQL and the reason)
    ├── MigrationError           a recorded migration differs from the released one
    ├── SinkAbandonedError       the sink was stopped while the store was down (nothing committed)
    └── UnknownSandboxError      a report was asked for a sandbox the history never saw
"""

from __future__ import annotations

from schemas.exceptions import DetailedError


class ReportingError(Exception):
    """Root of the reporting errors."""


class StoreUnavailableError(ReportingError, DetailedError):
    """Raised by the store when it is closed or cannot reach its engine; retry later."""

    target: str
    reason: str
    template = "store {target} unavailable: {reason}"


class StoreQueryError(ReportingError, DetailedError):
    """Raised by the store when the engine rejects a statement (a bug or bad data, not an outage)."""

    sql: str
    reason: str
    template = "{reason}\n  in: {sql:.300}"


class MigrationError(ReportingError, DetailedError):
    """Raised at start when a migration already applied was changed after its release."""

    version: int
    name: str
    reason: str
    template = "migration {version:04d}_{name}: {reason}"


class SinkAbandonedError(ReportingError, DetailedError):
    """Raised by ``Sink.flush`` when asked to stop while the store is unavailable.

    The batch's offsets are not committed, so on Kafka its records are delivered again
    to the next sink of the group; nothing is lost.
    """

    records: int
    template = "stopped with {records} records not stored (not committed)"


class UnknownSandboxError(ReportingError, DetailedError):
    """Raised by reports that need a sandbox's history when there is none at all."""

    container_id: str
    template = "no history for sandbox {container_id}"
