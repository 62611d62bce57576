"""A manager's lease kept alive, and the reclaimer run while it lives.

Taken when the manager starts (its resources are labelled only if the lease could be
written, so nothing unleased is ever reclaimed), touched every heartbeat, released at
cleanup. Every ``RECLAIM_EVERY_S`` the keeper also reclaims what gone managers left and
kills sandboxes past their lifetime, whoever made them (sandbox.gc).
"""

from __future__ import annotations

import asyncio

import structlog

from common.tasks import cancel_and_wait
from sandbox.gc import RECLAIM_EVERY_S, GcReport
from sandbox.lease import HEARTBEAT_S, Lease
from sandbox.port import SandboxEngine

log = structlog.get_logger(__name__)


class LeaseKeeper:
    def __init__(self, lease: Lease, *, host: str) -> None:
        self.lease = lease
        self.host = host
        self.held = False
        self._task: asyncio.Task[None] | None = None

    def take(self) -> bool:
        """Writes the lease; False (logged) when it cannot be: then nothing is leased."""
        try:
            self.lease.take()
        except OSError as exc:
            log.warning("lease_unavailable", path=str(self.lease.path), error=str(exc))
            return False
        self.held = True
        return True

    def start(self, port: SandboxEngine) -> None:
        self._task = asyncio.create_task(self._loop(port), name=f"lease-{self.lease.manager_id}")

    async def reclaim(self, port: SandboxEngine) -> GcReport | None:
        """One reclaim round; failures are logged (the next round tries again)."""
        try:
            report = await port.reclaim(self.lease.directory, self.host, frozenset({self.lease.manager_id}))
        except Exception as exc:
            log.exception("lease_reclaim_failed", error=repr(exc))
            return None
        return report

    async def _loop(self, port: SandboxEngine) -> None:
        beats_per_reclaim = max(1, round(RECLAIM_EVERY_S / HEARTBEAT_S))
        beat = 0
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if self.held:
                await asyncio.to_thread(self.lease.beat)
            beat += 1
            if beat % beats_per_reclaim == 0:
                await self.reclaim(port)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self.held:
            self.lease.release()
            self.held = False
