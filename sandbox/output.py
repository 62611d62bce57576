"""Exec output: the engine's multiplexed stream split into stdout and stderr, each capped. Pure.

Without a TTY the engine frames output as an 8-byte header (stream id, three zero bytes,
big-endian payload length) followed by the payload. Output past the cap is counted and
dropped, never buffered: a command printing forever costs no memory.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">BxxxL")
STDOUT = 1
STDERR = 2


class FrameDecoder:
    """Incremental: feed any split of the byte stream, get whole frames back."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        pos = 0
        while len(self._buf) - pos >= HEADER.size:
            stream, length = HEADER.unpack_from(self._buf, pos)
            end = pos + HEADER.size + length
            if end > len(self._buf):
                break
            frames.append((stream, bytes(self._buf[pos + HEADER.size : end])))
            pos = end
        del self._buf[:pos]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame (non-zero at EOF means the stream was cut)."""
        return len(self._buf)


class CappedBuffer:
    """Keeps the first ``limit`` bytes and counts all of them."""

    __slots__ = ("_data", "limit", "total")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._data = bytearray()

    def append(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self._data)
        if room > 0:
            self._data += chunk[:room]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        # A cut may split a UTF-8 sequence; replacement keeps the rest readable.
        return self._data.decode("utf-8", errors="replace")


class ExecOutput:
    """stdout and stderr of one command."""

    __slots__ = ("_decoder", "stderr", "stdout")

    def __init__(self, limit: int) -> None:
        self._decoder = FrameDecoder()
        self.stdout = CappedBuffer(limit)
        self.stderr = CappedBuffer(limit)

    def feed(self, data: bytes) -> None:
        """Raw bytes of the multiplexed stream, in any split."""
        for stream, payload in self._decoder.feed(data):
            self.add(stream, payload)

    def add(self, stream: int, payload: bytes) -> None:
        """One frame already split out of the stream."""
        (self.stderr if stream == STDERR else self.stdout).append(payload)
