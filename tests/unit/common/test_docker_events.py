"""The one Docker events follower, on a scripted source: resumes after the last event seen,
survives a broken stream and a failing handler, says when it reopened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import docker

from common.docker_events import EventFollower, event_time_ns, since_param, streaming_url
from common.retry import RetryPolicy

FAST = RetryPolicy(first_s=0.001, max_s=0.001)
DEADLINE_S = 5.0


def ev(ns: int, action: str = "die") -> dict[str, Any]:
    return {"Type": "container", "id": "c1", "Action": action, "timeNano": ns}


class Script:
    """Each open of the stream plays the next list (an exception in it is raised there),
    then stays open until it is cut."""

    def __init__(self, *streams: list[Any]) -> None:
        self.streams = list(streams)
        self.opened: list[str] = []

    async def source(self, since: str) -> AsyncIterator[dict[str, Any]]:
        self.opened.append(since)
        for item in self.streams.pop(0) if self.streams else []:
            if isinstance(item, Exception):
                raise item
            yield item
        await asyncio.Event().wait()


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not check():
            await asyncio.sleep(0.001)


def test_the_streaming_client_talks_to_the_sdk_clients_engine() -> None:
    unix = docker.APIClient(base_url="unix:///run/other/docker.sock", version="1.41")
    tcp = docker.APIClient(base_url="tcp://127.0.0.1:2375", version="1.41")
    assert streaming_url(unix) == "unix:///run/other/docker.sock"
    assert streaming_url(tcp) == "tcp://127.0.0.1:2375"


def test_since_and_times() -> None:
    assert since_param(1_700_000_000_000_000_123) == "1700000000.000000123"
    assert event_time_ns({"timeNano": 7}) == 7 and event_time_ns({"time": 2}) == 2_000_000_000


async def test_a_broken_stream_is_reopened_after_the_last_event() -> None:
    script = Script([ev(10), ConnectionResetError("cut")], [ev(20)])
    seen: list[int] = []
    errors: list[str] = []
    reopened: list[bool] = []
    follower = EventFollower(
        script.source, name="t", on_event=lambda e: seen.append(e["timeNano"]),
        on_error=errors.append, on_reopen=lambda: reopened.append(True), since_ns=5, policy=FAST,
    )  # fmt: skip
    follower.start()
    await until(lambda: seen == [10, 20])
    await follower.stop()
    assert script.opened == [since_param(5), since_param(11)]
    assert errors == ["stream"] and reopened == [True] and follower.reconnects == 1


async def test_a_failing_handler_is_counted_and_the_stream_goes_on() -> None:
    script = Script([ev(1), ev(2)])
    seen: list[int] = []
    errors: list[str] = []

    def handle(e: dict[str, Any]) -> None:
        if e["timeNano"] == 1:
            raise ValueError("bad handler")
        seen.append(e["timeNano"])

    follower = EventFollower(script.source, name="t", on_event=handle, on_error=errors.append, since_ns=0)
    follower.start()
    await until(lambda: seen == [2])
    await follower.stop()
    assert errors == ["handler"] and follower.reconnects == 0


async def test_break_stream_reopens_like_a_dropped_connection() -> None:
    script = Script([ev(1)], [ev(2)])
    seen: list[int] = []
    follower = EventFollower(
        script.source, name="t", on_event=lambda e: seen.append(e["timeNano"]), since_ns=0, policy=FAST
    )
    follower.start()
    await until(lambda: seen == [1])
    follower.break_stream()
    await until(lambda: seen == [1, 2])
    await follower.stop()
    assert follower.reconnects == 1 and script.opened == [since_param(0), since_param(2)]
