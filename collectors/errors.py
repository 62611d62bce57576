"""Read errors: every one counted, logged at most once a minute per kind.

A broken file stays broken for every sample of every container; a log line per
sample would be 200 lines a second. Keys are (family, error type, errno), a small
set, so nothing grows with the number of containers that come and go.
"""

from __future__ import annotations

from typing import Any

import structlog

from collectors.clock import Clock

log = structlog.get_logger(__name__)

# Once a minute per kind of error.
LOG_EVERY_S = 60.0


class ErrorReporter:
    def __init__(self, *, counter: Any, clock: Clock, every_s: float = LOG_EVERY_S) -> None:
        self._counter = counter  # prometheus Counter labelled by family
        self._clock = clock
        self._every = every_s
        self._last: dict[tuple[str, str, int | None], tuple[float, int]] = {}

    def report(self, family: str, container_id: str, exc: BaseException) -> None:
        self._counter.labels(family).inc()
        key = (family, type(exc).__name__, getattr(exc, "errno", None))
        now = self._clock.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._every:
            self._last[key] = (last[0], last[1] + 1)
            return
        suppressed = last[1] if last is not None else 0
        self._last[key] = (now, 0)
        log.warning(
            "read_error",
            family=family,
            container_id=container_id[:12],
            error=f"{type(exc).__name__}: {exc}",
            suppressed_since_last_log=suppressed,
        )

    def kinds(self) -> int:
        """Distinct kinds of errors seen (bounded; for tracked-state checks)."""
        return len(self._last)
