"""The hand-written asyncio HTTP/1.1 Docker client sandbox/engine_http.py held, kept as the
baseline of bench/docker_client.py (aiodocker replaced it: see that benchmark).

Its original rationale:

The Docker SDK is blocking, and a blocking read of an exec's output can be neither
cancelled nor bounded in time: a command that runs past its timeout would hold a
thread until it ends. Here the exec stream is read on the event loop, so a timeout or
a cancelled task acts at once, and no bytes are lost between the upgrade response and
the stream (the SDK reads its socket past its own buffer). One connection per request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, urlsplit


class BaselineUnavailable(Exception):
    pass

# Long enough for any engine answer on a loaded host; execs bound their own streams.
REQUEST_TIMEOUT_S = 60.0
# Header block bound: the engine sends a few hundred bytes.
MAX_HEADER_BYTES = 64 * 1024
STREAM_LIMIT = 1024 * 1024
READ_CHUNK = 64 * 1024


class BaselineEngineError(Exception):
    """The engine answered with an error status; ``status`` and ``message`` are the engine's."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", body[:200].decode(errors="replace")))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")


class EngineHTTP:
    """``base_url``: ``unix:///var/run/docker.sock`` or ``tcp://host:port`` (no TLS)."""

    def __init__(self, base_url: str, api_version: str) -> None:
        url = urlsplit(base_url.replace("http+unix://", "unix://"))
        self._unix_path = url.path if url.scheme == "unix" else None
        self._tcp = (url.hostname or "127.0.0.1", url.port or 2375) if url.scheme in ("tcp", "http") else None
        if self._unix_path is None and self._tcp is None:
            raise BaselineUnavailable(
                f"exec streaming needs a unix or plain tcp engine address, not {base_url}"
            )
        self._prefix = f"/v{api_version}"

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            if self._tcp is not None:
                return await asyncio.open_connection(*self._tcp, limit=STREAM_LIMIT)
            return await asyncio.open_unix_connection(self._unix_path, limit=STREAM_LIMIT)
        except OSError as exc:
            raise BaselineUnavailable(str(exc)) from exc

    def _head(
        self, method: str, path: str, body: bytes, upgrade: bool, kind: str = "application/json"
    ) -> bytes:
        conn = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else "Connection: close\r\n"
        return (
            f"{method} {self._prefix}{path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: sandguard\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n{conn}\r\n"
        ).encode()

    async def request_bytes(self, method: str, path: str, body: bytes = b"") -> bytes:
        """A raw answer to a raw (tar) body: the archive API."""
        reader, writer = await self._connect()
        try:
            writer.write(self._head(method, path, body, False, "application/x-tar") + body)
            await writer.drain()
            status, headers = await _read_head(reader)
            answer = await _read_body(reader, headers)
        finally:
            writer.close()
        if status >= 400:
            raise BaselineEngineError(status, _message(answer))
        return answer

    async def _send(
        self, method: str, path: str, payload: Any, upgrade: bool
    ) -> tuple[int, dict[str, str], asyncio.StreamReader, asyncio.StreamWriter]:
        body = b"" if payload is None else json.dumps(payload).encode()
        reader, writer = await self._connect()
        try:
            writer.write(self._head(method, path, body, upgrade) + body)
            await writer.drain()
            status, headers = await _read_head(reader)
        except BaseException:
            writer.close()
            raise
        return status, headers, reader, writer

    async def request(self, method: str, path: str, payload: Any = None) -> Any:
        """The decoded JSON answer (None when empty); BaselineEngineError on an error status."""
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            status, headers, reader, writer = await self._send(method, path, payload, upgrade=False)
            try:
                body = await _read_body(reader, headers)
            finally:
                writer.close()
        if status >= 400:
            raise BaselineEngineError(status, _message(body))
        return json.loads(body) if body.strip() else None

    async def lines(self, path: str, on_open: Callable[[], None] | None = None) -> AsyncIterator[bytes]:
        """The lines of a streamed answer (the events stream), as they come; no overall
        timeout. ``on_open`` is called once the engine has answered."""
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            status, headers, reader, writer = await self._send("GET", path, None, upgrade=False)
        try:
            if status >= 400:
                raise BaselineEngineError(status, _message(await _read_body(reader, headers)))
            if on_open is not None:
                on_open()
            chunks = (
                _chunks(reader) if headers.get("transfer-encoding", "").lower() == "chunked" else _raw(reader)
            )
            pending = b""
            async for chunk in chunks:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    if line.strip():
                        yield line
        finally:
            writer.close()

    async def upgrade(self, path: str, payload: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The raw stream after an upgrade (exec start); the caller closes the writer."""
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            status, headers, reader, writer = await self._send("POST", path, payload, upgrade=True)
            if status >= 400:
                try:
                    body = await _read_body(reader, headers)
                finally:
                    writer.close()
                raise BaselineEngineError(status, _message(body))
        return reader, writer


def path_param(value: str) -> str:
    return quote(value, safe="")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise BaselineUnavailable(f"malformed engine response: {exc}") from exc
    if len(raw) > MAX_HEADER_BYTES:
        raise BaselineUnavailable("engine response headers too large")
    lines = raw.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise BaselineUnavailable(f"malformed engine status line {lines[0]!r}") from exc
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _read_chunked(reader)
    return await reader.read()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    async for chunk in _chunks(reader):
        out += chunk
    return bytes(out)


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The chunks of a chunked transfer encoding, as they arrive."""
    while True:
        line = await reader.readline()
        if not line:
            return  # cut before the last chunk: the caller sees the stream end
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return
        yield await reader.readexactly(size)
        await reader.readline()


async def _raw(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while data := await reader.read(READ_CHUNK):
        yield data
