"""Lanes: one container's commands in order, different containers at once, bounded."""

from __future__ import annotations

import asyncio

import pytest

from enforcer.lanes import run_in_lanes


async def test_same_key_runs_in_order_and_results_keep_item_order() -> None:
    trace: list[str] = []

    async def work(item: tuple[str, int]) -> str:
        key, n = item
        trace.append(f"start {key}{n}")
        await asyncio.sleep(0.01 * (3 - n))  # later items are faster: order must still hold
        trace.append(f"end {key}{n}")
        return f"{key}{n}"

    items = [("a", 0), ("b", 0), ("a", 1), ("a", 2), ("b", 1)]
    out = await run_in_lanes(items, lambda i: i[0], work, limit=4)
    assert out == ["a0", "b0", "a1", "a2", "b1"]
    a_events = [e for e in trace if e.endswith(("a0", "a1", "a2"))]
    assert a_events == ["start a0", "end a0", "start a1", "end a1", "start a2", "end a2"]


async def test_different_keys_run_concurrently() -> None:
    started = {k: asyncio.Event() for k in "abc"}

    async def work(key: str) -> str:
        started[key].set()
        # each lane waits until every lane has started: only possible if they overlap
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 2)
        return key

    assert await run_in_lanes(list("abc"), lambda k: k, work, limit=3) == list("abc")


async def test_limit_bounds_the_lanes_running_at_once() -> None:
    running = 0
    peak = 0

    async def work(key: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    await run_in_lanes([str(i) for i in range(10)], lambda k: k, work, limit=3)
    assert peak == 3


async def test_an_error_stops_the_batch_and_is_raised() -> None:
    async def work(key: str) -> str:
        if key == "bad":
            raise RuntimeError("engine on fire")
        await asyncio.sleep(0.05)
        return key

    with pytest.raises(RuntimeError, match="engine on fire"):
        await run_in_lanes(["ok", "bad", "ok2"], lambda k: k, work, limit=3)


async def test_an_empty_batch_and_a_bad_limit() -> None:
    async def work(key: str) -> str:
        return key

    assert await run_in_lanes([], lambda k: k, work, limit=1) == []
    with pytest.raises(ValueError, match="at least 1"):
        await run_in_lanes(["a"], lambda k: k, work, limit=0)
