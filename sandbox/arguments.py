"""The public API's arguments, checked for their type before anything reads them. Pure.

A caller (or an agent driving the API) may pass anything: ``b"rm x"`` as a command, an
int as a path, ``5`` as a file's content (``bytes(5)`` is five NUL bytes). Each is an
InvalidSandboxRequest naming the argument and what it must be, never a TypeError from
deep inside, a silent conversion, or a file written with what the caller did not mean.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.exceptions import InvalidSandboxRequest

_BINARY = (bytes, bytearray, memoryview)


def command(value: object) -> str | tuple[str, ...]:
    """A shell command line (str) or an argv (a list or tuple of str)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(arg, str) for arg in value):
        return tuple(value)
    raise InvalidSandboxRequest(
        "command", f"must be a string (a command line) or a list of strings (an argv), not {_kind(value)}"
    )


def path(value: object, field: str = "path") -> str:
    if not isinstance(value, str):
        raise InvalidSandboxRequest(field, f"must be a string, not {_kind(value)}")
    return value


def data(value: object) -> bytes:
    """A file's content: bytes as they are, text as UTF-8."""
    if isinstance(value, _BINARY):
        return bytes(value)
    if not isinstance(value, str):
        raise InvalidSandboxRequest("data", f"must be bytes or a string, not {_kind(value)}")
    try:
        return value.encode()
    except UnicodeEncodeError as exc:
        raise InvalidSandboxRequest(
            "data", "text with a lone surrogate cannot be written as UTF-8; pass bytes"
        ) from exc


def env(value: object) -> Mapping[str, str] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise InvalidSandboxRequest("env", f"must be a mapping of names to values, not {_kind(value)}")


def limit(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSandboxRequest("limit", f"must be a positive integer, not {value!r}")
    return value


def _kind(value: object) -> str:
    return "None" if value is None else type(value).__name__
