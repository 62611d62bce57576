"""The one way to write a long-lived component's lifecycle state.

The sandbox manager, the processor runner, the collector, the enforcer and the embedded
pipeline each start once and stop once; they share these states so a health check, a log
line or an error reads the same for all of them. The values are the strings the
components always logged and compared against ("new", "running", ...): a ``StrEnum``
equals its value, so ``enforcer.state == "stopped"`` keeps working.

    NEW --start()--> RUNNING --stop()--> STOPPING --> STOPPED
                        +--(a fatal error)--> FAILED

A component without a STOPPING phase goes from RUNNING to STOPPED directly. None goes
back to NEW: a stopped or failed component is replaced, not restarted.
"""

from __future__ import annotations

from enum import StrEnum


class Lifecycle(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
