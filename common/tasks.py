"""Stopping a background task: the one way every component's ``stop()`` ends its loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancels ``task`` (None: nothing to stop) and waits until it has ended, so nothing of
    it runs after the caller's ``stop()`` returns."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
