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


class ReportingError(Exception):
    """Root of the reporting errors."""


class StoreUnavailableError(ReportingError):
    """Raised by the store when it is closed or cannot reach its engine; retry later."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"store {target} unavailable: {reason}")


class StoreQueryError(ReportingError):
    """Raised by the store when the engine rejects a statement (a bug or bad data, not an outage)."""

    def __init__(self, sql: str, reason: str) -> None:
        self.sql = sql
        self.reason = reason
        super().__init__(f"{reason}\n  in: {sql[:300]}")


class MigrationError(ReportingError):
    """Raised at start when a migration already applied was changed after its release."""

    def __init__(self, version: int, name: str, reason: str) -> None:
        self.version = version
        self.name = name
        self.reason = reason
        super().__init__(f"migration {version:04d}_{name}: {reason}")


class SinkAbandonedError(ReportingError):
    """Raised by ``Sink.flush`` when asked to stop while the store is unavailable.

    The batch's offsets are not committed, so on Kafka its records are delivered again
    to the next sink of the group; nothing is lost.
    """

    def __init__(self, records: int) -> None:
        self.records = records
        super().__init__(f"stopped with {records} records not stored (not committed)")


class UnknownSandboxError(ReportingError):
    """Raised by reports that need a sandbox's history when there is none at all."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"no history for sandbox {container_id}")
