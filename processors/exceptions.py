"""Errors of the processors.

Tree::

    ProcessorError              root of this package
    ├── StateVersionError       stored state was written by an incompatible engine version
    └── WorkerError             the Faust worker could not be built or started (carries the app id)
"""

from __future__ import annotations

from schemas.exceptions import DetailedError


class ProcessorError(Exception):
    """Root of the processor errors."""


class StateVersionError(ProcessorError, DetailedError):
    """Raised when a container's stored state has a version this engine cannot read.

    The wrappers count it and start the container afresh (its windows refill within W).
    """

    container_id: str
    found: object
    expected: int
    template = "state of {container_id!r} has version {found!r}, this engine reads {expected}"


class WorkerError(ProcessorError, DetailedError):
    """Raised when the Faust worker cannot be built or run (bad settings, broker unreachable)."""

    app_id: str
    reason: str
    template = "processor worker {app_id!r}: {reason}"
