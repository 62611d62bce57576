"""The exec path's HTTP client: responses parsed from recorded bytes, no engine needed."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.engine_http import EngineHTTP, _read_body, _read_head
from sandbox.exceptions import DockerUnavailable


def reader(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


async def test_a_sized_answer() -> None:
    r = reader(
        b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"Id":"x"}'
    )
    status, headers = await _read_head(r)
    assert status == 201 and headers["content-length"] == "10"
    assert await _read_body(r, headers) == b'{"Id":"x"}'


async def test_a_chunked_answer() -> None:
    r = reader(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=1\r\nefg\r\n0\r\n\r\n")
    _status, headers = await _read_head(r)
    assert await _read_body(r, headers) == b"abcdefg"


async def test_bytes_after_an_upgrade_stay_in_the_reader() -> None:
    frame = b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    r = reader(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + frame)
    status, _ = await _read_head(r)
    assert status == 101 and await r.read() == frame


async def test_a_garbled_answer_is_an_unavailable_engine() -> None:
    with pytest.raises(DockerUnavailable):
        await _read_head(reader(b"garbage without an end"))
    with pytest.raises(DockerUnavailable, match="status line"):
        await _read_head(reader(b"HTTP/1.1 abc\r\n\r\n"))


def test_addresses() -> None:
    EngineHTTP("unix:///var/run/docker.sock", "1.41")
    EngineHTTP("http+unix:///run/docker.sock", "1.41")
    EngineHTTP("tcp://127.0.0.1:2375", "1.41")
    with pytest.raises(DockerUnavailable, match="unix or plain tcp"):
        EngineHTTP("https://docker.example:2376", "1.41")


async def test_a_missing_socket_is_an_unavailable_engine(tmp_path: object) -> None:
    http = EngineHTTP(f"unix://{tmp_path}/no.sock", "1.41")
    with pytest.raises(DockerUnavailable):
        await http.request("GET", "/_ping")
