"""Exec output: the engine's frames (split by the streaming client) kept per stream, each
capped. Pure. Output past the cap is counted and dropped, never buffered: a command
printing forever costs no memory.
"""

from __future__ import annotations

# Stream ids of the engine's frames without a TTY.
STDOUT = 1
STDERR = 2


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

    __slots__ = ("stderr", "stdout")

    def __init__(self, limit: int) -> None:
        self.stdout = CappedBuffer(limit)
        self.stderr = CappedBuffer(limit)

    def add(self, stream: int, payload: bytes) -> None:
        """One frame of the engine's stream (STDOUT or STDERR)."""
        (self.stderr if stream == STDERR else self.stdout).append(payload)
