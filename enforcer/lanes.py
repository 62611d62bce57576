"""Per-key order with concurrency across keys: one container's commands run one after
another in the order they were read; different containers are acted on at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def run_in_lanes(
    items: Sequence[T], key: Callable[[T], str], work: Callable[[T], Awaitable[R]], *, limit: int
) -> list[R]:
    """``work`` on every item; results in the order of ``items``.

    Items with the same key form a lane, run sequentially in their order; at most
    ``limit`` lanes run at a time. The first error cancels the other lanes and is raised
    (the caller treats the batch as not done).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    lanes: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        lanes.setdefault(key(item), []).append(index)
    results: dict[int, R] = {}
    gate = asyncio.Semaphore(limit)

    async def lane(indices: list[int]) -> None:
        async with gate:
            for i in indices:
                results[i] = await work(items[i])

    try:
        async with asyncio.TaskGroup() as group:
            for indices in lanes.values():
                group.create_task(lane(indices))
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from eg
    return [results[i] for i in range(len(items))]
