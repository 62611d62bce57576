"""Reporting: the ClickHouse history (store, sink) and the reports built on it.

Imports only ``schemas`` and third-party packages; ``sandguard`` wires it to a bus.
"""

from reporting.exceptions import (
    MigrationError,
    ReportingError,
    SinkAbandonedError,
    StoreQueryError,
    StoreUnavailableError,
    UnknownSandboxError,
)
from reporting.replay import replay
from reporting.reports import HistoryReports
from reporting.sink import Sink
from reporting.store import ClickHouseStore, open_store

__all__ = [
    "ClickHouseStore",
    "HistoryReports",
    "MigrationError",
    "ReportingError",
    "Sink",
    "SinkAbandonedError",
    "StoreQueryError",
    "StoreUnavailableError",
    "UnknownSandboxError",
    "open_store",
    "replay",
]
