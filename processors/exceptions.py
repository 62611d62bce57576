"""Errors of the processors.

Tree::

    ProcessorError              root of this package
    ├── StateVersionError       stored state was written by an incompatible engine version
    └── WorkerError             the Faust worker could not be built or started (carries the app id)
"""

from __future__ import annotations


class ProcessorError(Exception):
    """Root of the processor errors."""


class StateVersionError(ProcessorError):
    """Raised when a container's stored state has a version this engine cannot read.

    The wrappers count it and start the container afresh (its windows refill within W).
    """

    def __init__(self, container_id: str, found: object, expected: int) -> None:
        self.container_id = container_id
        self.found = found
        self.expected = expected
        super().__init__(f"state of {container_id!r} has version {found!r}, this engine reads {expected}")


class WorkerError(ProcessorError):
    """Raised when the Faust worker cannot be built or run (bad settings, broker unreachable)."""

    def __init__(self, app_id: str, reason: str) -> None:
        self.app_id = app_id
        self.reason = reason
        super().__init__(f"processor worker {app_id!r}: {reason}")
