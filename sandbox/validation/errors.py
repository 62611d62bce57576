"""Denials of command and path validation.

They subclass ``PermissionError`` because the original API raised it, so code written
against the original keeps catching them. Each carries the data a caller needs to report
the denial as an audit event: the subject, the reason and the violation type.

Tree::

    PermissionError                 (builtin) what the original API raised
    └── ValidationDenied            root: an operation refused before it reached the sandbox
        ├── CommandDeniedError      a command word is blocked, not allowed, or cannot be
        │                           resolved before it runs (permission_violation)
        └── PathDeniedError         a path is malformed, outside the allowed roots, blocked,
            │                       or has an extension that is not allowed (file_access_violation)
            └── FileTooLargeError   a read or write is over max_file_size_mb
"""

from __future__ import annotations

from typing import Any, ClassVar

from schemas import SecurityViolationType


class ValidationDenied(PermissionError):
    """Root of the validation denials; ``subject`` is the command or the path as given."""

    violation_type: ClassVar[SecurityViolationType] = SecurityViolationType.PERMISSION_VIOLATION

    def __init__(self, subject: str, reason: str, message: str | None = None) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(message or f"{subject!r} denied: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # OSError pickles as cls(*args), which would not match these constructors.
        return (_rebuild, (type(self), self.__dict__, str(self)))


def _rebuild(cls: type[ValidationDenied], state: dict[str, Any], message: str) -> ValidationDenied:
    exc = cls.__new__(cls)
    PermissionError.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class CommandDeniedError(ValidationDenied):
    """Raised by ``validate_command`` when a command must not run.

    ``word`` is the command word that was denied (as resolved, e.g. ``rm`` for ``/bin/r\\m``,
    or the source text of a word that cannot be resolved, e.g. ``$X``); it is None when
    the command could not be parsed at all.
    """

    violation_type: ClassVar[SecurityViolationType] = SecurityViolationType.PERMISSION_VIOLATION

    def __init__(self, command: str, word: str | None, reason: str) -> None:
        self.command = command
        self.word = word
        where = f"at {word!r}" if word is not None else "(not parsed)"
        super().__init__(command, reason, f"command denied {where}: {reason}")


class PathDeniedError(ValidationDenied):
    """Raised by path validation; ``normalized`` is the absolute path it resolved to, or
    None when the path was refused before it could be normalised (NUL, empty, overlong)."""

    violation_type: ClassVar[SecurityViolationType] = SecurityViolationType.FILE_ACCESS_VIOLATION

    def __init__(self, path: str, normalized: str | None, reason: str) -> None:
        self.path = path
        self.normalized = normalized
        shown = normalized if normalized is not None else path
        super().__init__(path, reason, f"path denied {shown!r}: {reason}")


class FileTooLargeError(PathDeniedError):
    """Raised when the size of a read or write (given by the caller) is over the policy's
    ``max_file_size_mb``; ``size`` and ``limit`` are in bytes."""

    def __init__(
        self, path: str, normalized: str | None, size: int, limit: int, source: str = "max_file_size_mb"
    ) -> None:
        self.size = size
        self.limit = limit
        reason = f"{size} bytes is over the limit of {limit} bytes ({source})"
        super().__init__(path, normalized, reason)
