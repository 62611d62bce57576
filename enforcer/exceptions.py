"""Errors of the enforcer.

Tree::

    EnforcerError                   root of this package
    ├── DockerPortError             the Docker engine could not do what was asked
    │   ├── ContainerNotFoundError  the container does not exist (any more) on this engine
    │   ├── EngineUnavailableError  the engine did not answer (socket refused, timeout)
    │   └── DockerActionError       the engine answered with an error (carries status and reason)
    ├── CommandRefusedError         a command the enforcer will not carry out (carries the reason)
    │   ├── InvalidCommandError     the command is incomplete or out of range (no limits, bad factor, bad id)
    │   ├── RelaxRefusedError       the command would loosen a limit in force (carries the fields)
    │   └── NotASandboxError        the container lacks the labels that mark it as a sandguard sandbox
    ├── LedgerError                 the idempotency ledger cannot be opened or written
    ├── ResultPublishError          results could not be delivered to the bus (nothing is committed)
    └── EnforcerStateError          a lifecycle method called in the wrong state (e.g. start twice)
"""

from __future__ import annotations

from schemas.exceptions import DetailedError, LifecycleError


class EnforcerError(Exception):
    """Root of the enforcer's errors."""


class DockerPortError(EnforcerError, DetailedError):
    """Raised by a ``DockerPort`` when the engine could not carry out an operation."""

    container_id: str
    operation: str
    reason: str
    template = "{operation} {container_id:.12}: {reason}"


class ContainerNotFoundError(DockerPortError):
    """Raised when the container does not exist on this engine (never created, or removed)."""

    def __init__(self, container_id: str, operation: str = "inspect") -> None:
        super().__init__(container_id, operation, "no such container")


class EngineUnavailableError(DockerPortError):
    """Raised when the engine's API does not answer; the enforcer retries until it does."""


class DockerActionError(DockerPortError):
    """Raised when the engine answered an operation with an error status (4xx/5xx)."""

    def __init__(self, container_id: str, operation: str, status: int | None, reason: str) -> None:
        self.status = status
        super().__init__(container_id, operation, f"{status}: {reason}" if status else reason)

    @property
    def transient(self) -> bool:
        """Server-side errors (5xx) may pass on a retry; client errors (4xx) will not."""
        return self.status is None or self.status >= 500


class CommandRefusedError(EnforcerError, DetailedError):
    """Raised when a command is not carried out by design; reported as a failed action."""

    container_id: str
    reason: str
    template = "{container_id:.12}: {reason}"


class InvalidCommandError(CommandRefusedError):
    """Raised when a command lacks what its action needs or carries a value out of range."""


class RelaxRefusedError(CommandRefusedError):
    """Raised when a command would loosen a limit the container holds: no automatic action
    relaxes a sandbox (a policy that was unknown or stale must never raise its limits)."""

    def __init__(self, container_id: str, looser: dict[str, tuple[int, int]]) -> None:
        self.looser = looser
        what = ", ".join(f"{k} {held} -> {wanted}" for k, (held, wanted) in sorted(looser.items()))
        super().__init__(container_id, f"refused: would relax limits in force ({what})")


class NotASandboxError(CommandRefusedError):
    """Raised when the target container lacks a label the enforcer requires (not ours to touch)."""

    def __init__(self, container_id: str, missing: dict[str, str | None]) -> None:
        self.missing = missing
        wanted = ", ".join(k if v is None else f"{k}={v}" for k, v in sorted(missing.items()))
        super().__init__(container_id, f"not a sandguard sandbox: lacks label {wanted}")


class LedgerError(EnforcerError, DetailedError):
    """Raised when the ledger's database cannot be opened, read or written."""

    path: str
    reason: str
    template = "ledger {path}: {reason}"


class ResultPublishError(EnforcerError, DetailedError):
    """Raised when result events could not be delivered after retries; offsets stay uncommitted."""

    count: int
    reason: str
    template = "{count} results not delivered: {reason}"


class EnforcerStateError(EnforcerError, LifecycleError):
    """Raised when a lifecycle method is called in a state that does not allow it."""

    template = "cannot {operation} an enforcer that is {state}"
