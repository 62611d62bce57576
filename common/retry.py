"""The one retry policy: capped exponential backoff, with its constants here and nowhere else.

Every loop that waits out a broken dependency (a broker, the Docker engine, the store)
takes a ``Backoff`` from one of the named policies, and reports through ``log_retry`` so a
failing dependency reads the same in every component's logs: one warning when it starts
failing (and every ``LOG_EVERY`` attempts after), one info line when it recovers.

Which piece to use:

- one call to repeat until it succeeds (or a bounded policy gives up): ``retry_async``;
- a loop that never gives up and resets on success (a consumer's poll): a ``Backoff``,
  ``pause`` after a failed turn and ``log_recovered`` after a good one;
- a loop with its own decisions between attempts (the enforcer re-reads the container):
  a ``Backoff``, ``failed()`` for the delay and ``exhausted`` for when to stop;
- a thread: the same ``Backoff``, waiting with ``stop_event.wait(backoff.failed())`` so a
  stop is not held up by the delay.

A test (tests/unit/common/test_one_retry_policy.py) fails on a backoff constant or a
hand-grown delay anywhere else in the tree.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# A failing dependency is logged on its first failure and then every 20th attempt: at the
# cap (10 s) that is one line every ~3 minutes, enough to see it is still down.
LOG_EVERY = 20


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts; ``attempts=None`` retries until stopped."""

    first_s: float
    max_s: float
    factor: float = 2.0
    attempts: int | None = None
    jitter: float = 0.0  # a fraction of each delay drawn at random, so peers do not retry in step


# Waiting out a dependency that is down (broker, engine, store): 0.5, 1, 2, 4, 8, 10, 10 … s.
DEPENDENCY = RetryPolicy(first_s=0.5, max_s=10.0, jitter=0.1)
# A store insert: starts sooner, the batch is already late; 0.2, 0.4 … 10 s.
STORE = RetryPolicy(first_s=0.2, max_s=10.0, jitter=0.1)
# One Docker operation that failed transiently (5xx): 3 attempts, 50 ms then 200 ms.
DOCKER_OPERATION = RetryPolicy(first_s=0.05, max_s=0.2, factor=4.0, attempts=3)
# One bus publish of an audit event, before it is spilled: 50, 100, 200 ms.
PUBLISH = RetryPolicy(first_s=0.05, max_s=0.2, attempts=4)
# The delivery (flush) of a batch's results, before the component stops without committing
# and the batch is replayed on restart: 5 attempts, 0.5, 1, 2, 4 s apart (7.5 s in all).
DELIVERY = RetryPolicy(first_s=0.5, max_s=4.0, attempts=5)


class Backoff:
    """The state of one retry loop: the attempt count and the next delay."""

    def __init__(self, policy: RetryPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.attempt = 0
        self._clock = clock
        self._failing_since: float | None = None

    @property
    def exhausted(self) -> bool:
        """True once the policy's attempts are used up (never for an unbounded policy)."""
        return self.policy.attempts is not None and self.attempt >= self.policy.attempts

    @property
    def failing_for_s(self) -> float:
        return 0.0 if self._failing_since is None else self._clock() - self._failing_since

    def failed(self) -> float:
        """Counts a failed attempt and returns how long to wait before the next one."""
        if self._failing_since is None:
            self._failing_since = self._clock()
        self.attempt += 1
        p = self.policy
        delay = min(p.first_s * p.factor ** (self.attempt - 1), p.max_s)
        return delay * (1 + random.uniform(-p.jitter, p.jitter))  # noqa: S311 - not security

    def reset(self) -> None:
        """After a success: the next failure starts from the first delay again."""
        self.attempt = 0
        self._failing_since = None


def log_retry(
    log: Any, event: str, backoff: Backoff, delay_s: float, error: BaseException, **fields: Any
) -> None:
    """The one way a retry is logged: ``event`` names what failed; first and every LOG_EVERY."""
    if (backoff.attempt - 1) % LOG_EVERY == 0:
        log.warning(
            event,
            error=f"{type(error).__name__}: {error}"[:300],
            attempt=backoff.attempt,
            retry_in_s=round(delay_s, 2),
            **fields,
        )


def log_recovered(log: Any, event: str, backoff: Backoff, **fields: Any) -> None:
    """Logs that a dependency answers again, with how long it failed; then resets the loop."""
    if backoff.attempt:
        log.info(event, after_s=round(backoff.failing_for_s, 1), attempts=backoff.attempt, **fields)
    backoff.reset()


async def pause(log: Any, event: str, backoff: Backoff, error: BaseException, **fields: Any) -> float:
    """After a failed turn of a loop that never gives up (a consumer's poll, say): counts the
    failure, logs it the one way and waits the policy's delay; returns the delay."""
    delay = backoff.failed()
    log_retry(log, event, backoff, delay, error, **fields)
    await asyncio.sleep(delay)
    return delay


def _ignore(_: BaseException) -> None:
    return None


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retry_on: tuple[type[BaseException], ...],
    log: Any,
    event: str,
    stopping: Callable[[], bool] = lambda: False,
    on_error: Callable[[BaseException], None] = _ignore,
    **fields: Any,
) -> T:
    """``await fn()`` until it succeeds; errors in ``retry_on`` are waited out per ``policy``.

    ``on_error`` sees every failure first (to count it in a metric). The last error is raised
    when the policy's attempts are used up or ``stopping()`` is true.
    """
    backoff = Backoff(policy)
    while True:
        try:
            result = await fn()
        except retry_on as exc:
            on_error(exc)
            delay = backoff.failed()
            if backoff.exhausted or stopping():
                raise
            log_retry(log, event, backoff, delay, exc, **fields)
            await asyncio.sleep(delay)
            continue
        log_recovered(log, f"{event}_recovered", backoff, **fields)
        return result
