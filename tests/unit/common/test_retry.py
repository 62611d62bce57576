"""The one retry policy: delays, bounds, logging, and the async helper."""

from __future__ import annotations

from typing import Any

import pytest

from common.retry import (
    DELIVERY,
    DEPENDENCY,
    DOCKER_OPERATION,
    LOG_EVERY,
    Backoff,
    RetryPolicy,
    log_recovered,
    log_retry,
    pause,
    retry_async,
)


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.lines.append(("warning", event, kw))

    def info(self, event: str, **kw: Any) -> None:
        self.lines.append(("info", event, kw))


def test_delays_grow_and_cap() -> None:
    b = Backoff(RetryPolicy(first_s=0.5, max_s=4.0))
    assert [b.failed() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.failed() == 0.5


def test_jitter_stays_within_its_fraction() -> None:
    b = Backoff(DEPENDENCY)
    delays = [b.failed() for _ in range(30)]
    assert all(0.45 <= d <= 11.0 for d in delays)
    assert max(delays) > 9.0


def test_bounded_policy_is_exhausted() -> None:
    b = Backoff(DOCKER_OPERATION)
    delays = []
    while not b.exhausted:
        delays.append(b.failed())
    assert delays == [0.05, 0.2, 0.2]


def test_logs_first_failure_then_every_nth_and_recovery() -> None:
    log, b = Log(), Backoff(RetryPolicy(first_s=0.01, max_s=0.01))
    for _ in range(LOG_EVERY + 1):
        log_retry(log, "engine_unavailable", b, b.failed(), OSError("refused"), operation="pause")
    assert [line[0] for line in log.lines] == ["warning", "warning"]
    assert log.lines[0][2]["error"] == "OSError: refused"
    assert log.lines[0][2]["operation"] == "pause"
    log_recovered(log, "engine_recovered", b)
    assert log.lines[-1][:2] == ("info", "engine_recovered")
    assert log.lines[-1][2]["attempts"] == LOG_EVERY + 1
    assert b.attempt == 0


async def test_retry_async_waits_out_listed_errors() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    log = Log()
    fast = RetryPolicy(first_s=0.001, max_s=0.001)
    got = await retry_async(flaky, policy=fast, retry_on=(ConnectionError,), log=log, event="bus_down")
    assert got == "ok"
    assert len(calls) == 3
    assert log.lines[-1][1] == "bus_down_recovered"


async def test_retry_async_raises_other_errors_and_when_exhausted() -> None:
    async def broken() -> None:
        raise ValueError("bad input")

    async def down() -> None:
        raise ConnectionError("down")

    fast = RetryPolicy(first_s=0.001, max_s=0.001, attempts=2)
    with pytest.raises(ValueError, match="bad input"):
        await retry_async(broken, policy=fast, retry_on=(ConnectionError,), log=Log(), event="x")
    with pytest.raises(ConnectionError):
        await retry_async(down, policy=fast, retry_on=(ConnectionError,), log=Log(), event="x")
    with pytest.raises(ConnectionError):
        await retry_async(
            down, policy=DEPENDENCY, retry_on=(ConnectionError,), log=Log(), event="x", stopping=lambda: True
        )


async def test_retry_async_reports_every_failure_to_on_error() -> None:
    seen: list[str] = []
    calls: list[int] = []

    async def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"down {len(calls)}")
        return len(calls)

    fast = RetryPolicy(first_s=0.001, max_s=0.001)
    got = await retry_async(
        flaky,
        policy=fast,
        retry_on=(ConnectionError,),
        log=Log(),
        event="x",
        on_error=lambda e: seen.append(f"{e}"),
    )
    assert got == 3
    assert seen == ["down 1", "down 2"]


async def test_pause_counts_logs_and_waits_the_policy_delay() -> None:
    log, b = Log(), Backoff(RetryPolicy(first_s=0.001, max_s=0.002))
    delays = [await pause(log, "bus_failed", b, OSError("gone"), topic="t") for _ in range(3)]
    assert delays == [0.001, 0.002, 0.002]
    assert b.attempt == 3
    assert [(line[0], line[1], line[2]["topic"]) for line in log.lines] == [("warning", "bus_failed", "t")]


def test_delivery_gives_up_after_its_attempts() -> None:
    b = Backoff(DELIVERY)
    delays = []
    while not b.exhausted:
        delays.append(b.failed())
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]  # the last is never waited: the batch is replayed
