"""The one ClickHouse client factory: the embedded engine (chdb) by default, a server by URL.

The same SQL runs on both: statements use bare table names and the client's default
database is sandguard's. chdb allows one engine (one data directory) per process and
its handle is not safe for concurrent use, so calls are serialised by a lock; the
HTTP client gets the same lock, which also keeps its session from being shared.
Inserts have connections of their own (``insert_lanes`` of them, each with its lock):
two inserts run at once, and a long insert never holds up a report's queries.

Lifecycle: ``open()`` connects and applies the migrations, ``close()`` releases the
engine. A closed store, or a server that does not answer, raises
``StoreUnavailableError``, which callers (the sink) retry with backoff.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import clickhouse_connect
import structlog
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError, ProgrammingError

from reporting.exceptions import StoreQueryError, StoreUnavailableError
from reporting.migrate import apply_migrations
from schemas.clickhouse import DEFAULT_USER, HISTORY_TTL_DAYS, METRICS_TTL_DAYS

log = structlog.get_logger(__name__)

DEFAULT_DATABASE = "sandguard"
DEFAULT_DATA_DIR = Path("/var/lib/sandguard/data/clickhouse")  # under Settings.data_dir's default
# Server connections fail fast (2 s) so an outage turns into retries, not hung inserts;
# a large insert still has 300 s to complete.
CONNECT_TIMEOUT_S = 2
SEND_RECEIVE_TIMEOUT_S = 300
# Two insert connections: while one insert parses its JSON the other sorts and writes its
# part, so the engine uses both cores (measured: 4 x 100k metric rows, 250k rows/s on one
# connection, up to 400k rows/s on two with idle cores; the sink keeps two inserts in flight).
INSERT_LANES = 2


class _Lane:
    """One insert connection; its lock is held for the whole insert (one call per handle)."""

    __slots__ = ("client", "lock")

    def __init__(self) -> None:
        self.client: Any = None
        self.lock = threading.Lock()


class ClickHouseStore:
    """``schemas.Store`` on ClickHouse. Keyword-only options; call ``open()`` before use.

    A server's credentials are given (sandguard's Settings reads them from the
    environment); the store reads no environment of its own."""

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        database: str = DEFAULT_DATABASE,
        username: str = DEFAULT_USER,
        password: str = "",
        metrics_ttl_days: int = METRICS_TTL_DAYS,
        history_ttl_days: int = HISTORY_TTL_DAYS,
        migrate: bool = True,
        insert_lanes: int = INSERT_LANES,
        ca_file: str | Path | None = None,
        verify: bool = True,
    ) -> None:
        if insert_lanes < 1:
            raise ValueError(f"insert_lanes must be at least 1, not {insert_lanes}")
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (embedded engine) or url (server)")
        self.path = Path(path) if path is not None else None
        self.url = url
        self.database = database
        self.metrics_ttl_days = metrics_ttl_days
        self.history_ttl_days = history_ttl_days
        self._migrate = migrate
        # A server's login and transport. An https:// server: its certificate checked against
        # ca_file (None: the system's CAs). The scheme is passed as the interface: clickhouse-connect
        # ignores a DSN's scheme and would speak plain HTTP (the password in clear) to https://host:8123.
        self._server: dict[str, Any] = {"username": username, "password": password, "verify": verify}
        if ca_file:
            self._server["ca_cert"] = str(ca_file)
        if url is not None and url.split("://", 1)[0] in ("http", "https"):
            self._server["interface"] = url.split("://", 1)[0]
        self._client: Any = None
        self._wanted = False
        self._lock = threading.RLock()
        self._lanes = [_Lane() for _ in range(insert_lanes)]
        self._free_lanes: queue.SimpleQueue[_Lane] = queue.SimpleQueue()
        for lane in self._lanes:
            self._free_lanes.put(lane)

    @property
    def target(self) -> str:
        """Where the data lives, without credentials (for logs and errors)."""
        return f"chdb:{self.path}" if self.path is not None else str(self.url).split("@")[-1]

    @property
    def embedded(self) -> bool:
        return self.path is not None

    @property
    def is_open(self) -> bool:
        return self._wanted and self._client is not None

    def open(self) -> ClickHouseStore:
        """Connects (creating the database) and brings the schema up to date; idempotent.

        Raises StoreUnavailableError when the engine cannot be reached; the store stays
        open-wanted and every later call tries to connect again (a server that comes back).
        """
        with self._lock:
            self._wanted = True
            self._ensure_connected()
        return self

    def _ensure_connected(self) -> Any:
        if self._client is None:
            self._client = self._connect()
            log.info("store_opened", target=self.target, database=self.database)
        if self._migrate:
            self._migrate = False  # the migration's own statements come back through _call
            try:
                apply_migrations(
                    self, metrics_ttl_days=self.metrics_ttl_days, history_ttl_days=self.history_ttl_days
                )
            except BaseException:
                self._migrate = True
                raise
        return self._client

    def _connect(self) -> Any:
        try:
            client = self._new_client(None)
            client.command(f"CREATE DATABASE IF NOT EXISTS {_ident(self.database)}")
            client.close()
            return self._new_client(self.database)
        except (OperationalError, OSError) as exc:
            raise StoreUnavailableError(self.target, str(exc).splitlines()[0]) from exc

    def _new_client(self, database: str | None) -> Any:
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            return clickhouse_connect.get_client(interface="chdb", path=str(self.path), database=database)
        return clickhouse_connect.get_client(
            dsn=self.url,
            database=database,
            connect_timeout=CONNECT_TIMEOUT_S,
            send_receive_timeout=SEND_RECEIVE_TIMEOUT_S,
            autogenerate_session_id=False,
            **self._server,
        )

    def close(self) -> None:
        """Releases the engine; calls raise StoreUnavailableError until ``open()`` again."""
        with self._lock:
            self._wanted = False
            if self._client is not None:
                self._client.close()
                self._client = None
                log.info("store_closed", target=self.target)
        for lane in self._lanes:  # after an insert in progress, never under the main lock
            with lane.lock:
                if lane.client is not None:
                    lane.client.close()
                    lane.client = None

    def __enter__(self) -> ClickHouseStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schemas.Store ---------------------------------------------------------------

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self._call(sql, lambda c: c.command(sql, parameters=parameters))

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._call(sql, lambda c: c.query(sql, parameters=parameters))
        return [tuple(r) for r in result.result_rows]

    def query_dicts(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self._call(sql, lambda c: c.query(sql, parameters=parameters))
        return list(result.named_results())

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        if not rows:
            return
        self._insert_call(
            f"INSERT INTO {table}",
            lambda c: c.insert(table, rows, column_names=list(column_names), settings=dict(settings or {})),
        )

    def insert_columns(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        if not columns or not columns[0]:
            return
        self._insert_call(
            f"INSERT INTO {table}",
            lambda c: c.insert(
                table,
                columns,
                column_names=list(column_names),
                column_oriented=True,
                settings=dict(settings or {}),
            ),
        )

    def insert_raw(
        self,
        table: str,
        data: bytes | Iterable[bytes],
        *,
        fmt: str,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        if not data:
            return
        self._insert_call(
            f"INSERT INTO {table} FORMAT {fmt}",
            lambda c: c.raw_insert(table, insert_block=data, fmt=fmt, settings=dict(settings or {})),
        )

    def _call(self, sql: str, fn: Any) -> Any:
        with self._lock:
            if not self._wanted:
                raise StoreUnavailableError(self.target, "store is closed")
            return self._run(sql, fn, self._ensure_connected)

    def _insert_call(self, sql: str, fn: Any) -> Any:
        """``_call`` on a free insert connection (waiting for one when all are busy)."""
        if self._client is None or self._migrate:
            self._call("", lambda client: None)  # the database and its schema come first
        lane = self._free_lanes.get()
        try:
            with lane.lock:
                if not self._wanted:
                    raise StoreUnavailableError(self.target, "store is closed")
                return self._run(sql, fn, lambda: self._lane_client(lane))
        finally:
            self._free_lanes.put(lane)

    def _lane_client(self, lane: _Lane) -> Any:
        if lane.client is None:
            try:
                lane.client = self._new_client(self.database)
            except (OperationalError, OSError) as exc:
                raise StoreUnavailableError(self.target, str(exc).splitlines()[0]) from exc
        return lane.client

    def _run(self, sql: str, fn: Any, client: Any) -> Any:
        """``fn(client())`` with the driver's errors as ours: unavailable (retry) or refused."""
        try:
            return fn(client())
        except OperationalError as exc:
            raise StoreUnavailableError(self.target, str(exc).splitlines()[0]) from exc
        except ProgrammingError as exc:
            if "closed" in str(exc):
                raise StoreUnavailableError(self.target, str(exc)) from exc
            raise StoreQueryError(sql, str(exc)) from exc
        except DatabaseError as exc:
            raise StoreQueryError(sql, str(exc)) from exc


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def open_store(
    url: str | None = None,
    *,
    data_dir: str | Path | None = None,
    database: str = DEFAULT_DATABASE,
    metrics_ttl_days: int = METRICS_TTL_DAYS,
    history_ttl_days: int = HISTORY_TTL_DAYS,
) -> ClickHouseStore:
    """An open store: a server when ``url`` is given, else the embedded engine in ``data_dir``."""
    if url:
        store = ClickHouseStore(
            url=url, database=database, metrics_ttl_days=metrics_ttl_days, history_ttl_days=history_ttl_days
        )
    else:
        path = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
        store = ClickHouseStore(
            path=path, database=database, metrics_ttl_days=metrics_ttl_days, history_ttl_days=history_ttl_days
        )
    return store.open()
