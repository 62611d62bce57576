"""Errors of the sandbox package.

Tree::

    PermissionError
    └── ValidationDenied               (sandbox.validation) refused before it ran; always audited
        ├── CommandDeniedError          a command word is blocked or outside the allowlist
        │                               (permission_violation): execute()
        ├── PathDeniedError             a path is outside the roots, blocked, or has a refused
        │   │                           extension (file_access_violation): file operations, workdir
        │   ├── FileTooLargeError       the data or the file is over max_file_size_mb
        │   └── SymlinkEscapeError      the path resolves, inside the sandbox, through a symlink
        │                               to a denied place
        └── EnvironmentDeniedError      an exec environment variable that would change how the
                                        shell or the loader runs the command

    SandboxError                        root of this package's own errors
    ├── SandboxNotFound (LookupError)   no such sandbox in this manager (never made, or destroyed)
    ├── SandboxUnavailable              the sandbox exists but runs nothing now
    │   ├── SandboxTerminated           stopped by the enforcer or outside the manager: when, why
    │   ├── SandboxExpired              its execution_timeout is over
    │   └── SandboxPaused               paused by the enforcer: when, why
    ├── SandboxCreateError              the engine refused or failed to create or start it
    │   └── KernelCoverageError         policy mode enforce, and the kernel layer did not say in
    │                                   time that it watches the new sandbox (removed, audited)
    ├── SandboxOperationError           the engine failed an exec or a file operation
    │   └── WorkspaceFullError          a write refused for space (ENOSPC; also an OSError);
    │                                   audited
    ├── SandboxFileError                a file operation that cannot be done as asked (a
    │   │                               directory where a file is needed, or the reverse)
    │   └── SandboxFileNotFound         read or list of a path that does not exist (also a
    │                                   FileNotFoundError)
    ├── NetworkSetupError               host rules or Docker networks could not be set up
    ├── DockerUnavailable               the engine does not answer (also a ConnectionError)
    ├── InvalidSandboxRequest           bad arguments: reserved labels, a policy a sandbox cannot
    │                                   hold, a timeout out of range (also a ValueError)
    └── ManagerClosed                   the manager was used after cleanup()
"""

from __future__ import annotations

import errno
from datetime import datetime
from typing import ClassVar

from sandbox.results import Termination
from sandbox.validation import (
    CommandDeniedError,
    FileTooLargeError,
    PathDeniedError,
    ValidationDenied,
)
from schemas import SecurityViolationType
from schemas.exceptions import DetailedError

__all__ = [
    "CommandDeniedError",
    "DockerUnavailable",
    "EnvironmentDeniedError",
    "FileTooLargeError",
    "InvalidSandboxRequest",
    "ManagerClosed",
    "NetworkSetupError",
    "PathDeniedError",
    "SandboxCreateError",
    "SandboxError",
    "SandboxExpired",
    "SandboxFileError",
    "SandboxFileNotFound",
    "SandboxNotFound",
    "SandboxOperationError",
    "SandboxPaused",
    "SandboxTerminated",
    "SandboxUnavailable",
    "SymlinkEscapeError",
    "ValidationDenied",
    "WorkspaceFullError",
]


class SymlinkEscapeError(PathDeniedError):
    """Raised by file operations when the path, resolved inside the sandbox, goes through a
    symlink to a place the policy denies; ``target`` is where it leads."""

    def __init__(self, path: str, normalized: str, target: str, reason: str) -> None:
        self.target = target
        super().__init__(
            path, normalized, f"resolves through a symlink to {target!r}, which is denied: {reason}"
        )


class EnvironmentDeniedError(ValidationDenied):
    """Raised by execute() for an environment variable that would change how the validated
    command runs (the loader's LD_*, the shell's ENV/BASH_ENV/IFS, PATH, our own)."""

    violation_type: ClassVar[SecurityViolationType] = SecurityViolationType.PERMISSION_VIOLATION

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__(name, reason, f"environment variable {name!r} denied: {reason}")


class SandboxError(Exception):
    """Root of the sandbox package's own errors (denials are PermissionErrors, see above)."""


class SandboxNotFound(SandboxError, LookupError, DetailedError):
    """Raised when an id names no sandbox of this manager; ``reason`` says if it was destroyed."""

    sandbox_id: str
    reason: str = "no sandbox with this id in this manager"
    template = "sandbox {sandbox_id:.12}: {reason}"


class SandboxUnavailable(SandboxError, DetailedError):
    """Raised when an operation targets a sandbox that cannot run anything now."""

    sandbox_id: str
    state: str
    message: str
    template = "{message}"


class SandboxTerminated(SandboxUnavailable):
    """Raised by operations on a sandbox the enforcer terminated, or that stopped outside the
    manager (killed, OOM-killed as a whole, removed): ``at`` and ``reason`` say when and why."""

    def __init__(self, sandbox_id: str, termination: Termination) -> None:
        self.termination = termination
        self.at = termination.at
        self.reason = termination.reason
        self.rule_ids = termination.rule_ids
        self.violation_ids = termination.violation_ids
        super().__init__(
            sandbox_id, "terminated", f"sandbox {sandbox_id[:12]} was terminated {termination.describe()}"
        )


class SandboxExpired(SandboxUnavailable):
    """Raised by operations on a sandbox whose execution_timeout (its lifetime) is over."""

    def __init__(self, sandbox_id: str, expired_at: datetime, lifetime_seconds: int) -> None:
        self.expired_at = expired_at
        self.lifetime_seconds = lifetime_seconds
        super().__init__(
            sandbox_id,
            "expired",
            f"sandbox {sandbox_id[:12]} expired at {expired_at.isoformat()} "
            f"(execution_timeout {lifetime_seconds}s)",
        )


class SandboxPaused(SandboxUnavailable):
    """Raised by operations on a sandbox the enforcer paused (until it is unpaused)."""

    def __init__(self, sandbox_id: str, at: datetime, reason: str) -> None:
        self.at = at
        self.reason = reason
        super().__init__(
            sandbox_id, "paused", f"sandbox {sandbox_id[:12]} was paused at {at.isoformat()}: {reason}"
        )


class SandboxCreateError(SandboxError, DetailedError):
    """Raised by create_sandbox() when the engine refuses or fails; nothing is left behind."""

    image: str
    reason: str
    template = "cannot create a sandbox from {image}: {reason}"


class KernelCoverageError(SandboxCreateError):
    """Raised by create_sandbox() in policy mode enforce when the exec gate did not open: the
    kernel layer did not say in time that it watches the new sandbox (no collector, or one
    whose kernel layer is off). The sandbox is removed and the refusal audited
    (``kernel_uncovered``)."""


class SandboxOperationError(SandboxError, DetailedError):
    """Raised when the engine fails an exec or file operation for a reason other than the
    sandbox's state (which raises SandboxUnavailable) or a denial (a PermissionError)."""

    sandbox_id: str
    operation: str
    reason: str
    template = "sandbox {sandbox_id:.12}: {operation} failed: {reason}"


class WorkspaceFullError(SandboxOperationError, OSError):
    """Raised by write_file() when the sandbox's workspace has no space left for the file
    (errno ENOSPC): the disk quota held, the sandbox runs on. Audited."""

    def __init__(self, sandbox_id: str, path: str) -> None:
        super().__init__(sandbox_id, "write", f"no space left on device for {path}")
        self.errno = errno.ENOSPC
        self.path = path


class SandboxFileError(SandboxError, DetailedError):
    """Raised when a file operation cannot be done as asked: a directory where a file is
    needed or the reverse (never done by replacing what is there)."""

    path: str
    reason: str
    template = "{path}: {reason}"


class SandboxFileNotFound(SandboxFileError, FileNotFoundError):
    """Raised by read_file() and list_files() for a path that does not exist in the sandbox."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "no such file or directory")


class NetworkSetupError(SandboxError, DetailedError):
    """Raised when a network policy cannot be put in force (host rules, Docker networks);
    the sandbox is not started without its network policy."""

    network_policy: str
    reason: str
    template = "cannot enforce network policy {network_policy}: {reason}"


class DockerUnavailable(SandboxError, ConnectionError, DetailedError):
    """Raised when the Docker engine does not answer."""

    reason: str
    template = "Docker engine unavailable: {reason}"


class InvalidSandboxRequest(SandboxError, ValueError, DetailedError):
    """Raised for arguments that can never succeed, naming the argument and the reason."""

    field: str
    reason: str
    template = "{field}: {reason}"


class ManagerClosed(SandboxError, DetailedError):
    """Raised when a manager is used after cleanup()."""

    manager_id: str
    template = "sandbox manager {manager_id} was cleaned up; create a new one"
