"""The store interface: SQL over ClickHouse, embedded (chdb) or a server; same SQL for both.

Blocking by nature (clickhouse-connect is synchronous): async callers run it with
``asyncio.to_thread``. The implementation lives in ``reporting.store``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None: ...

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def query_dicts(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None: ...

    def insert_columns(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Like ``insert`` with the data column by column (the sink's batches; no row objects)."""
        ...

    def insert_raw(
        self,
        table: str,
        data: bytes | Iterable[bytes],
        *,
        fmt: str,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Inserts data already encoded in a ClickHouse input format (e.g. JSONEachRow); an
        iterable is sent chunk by chunk (no copy of the whole batch in one piece)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ReportSource(Protocol):
    """What the sandbox manager asks the history for (implemented by reporting)."""

    def security_report(self, container_id: str) -> dict[str, Any]: ...
