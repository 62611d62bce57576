"""Breaks the Faust fence on purpose: the input of the fence checker's own test (never imported
by the product; tests/ are outside the checked tree)."""

from typing import Any

from faust.streams import _current_event
from faust.transport.drivers import aiokafka as driver


class Leaky(driver.Consumer):
    async def _drain_messages(self, fetcher: Any) -> Any:
        return self._read_offset, _current_event


def producer_of(app: Any) -> Any:
    return app.producer._ensure_producer()


def flow_of(consumer: Any) -> Any:
    return getattr(consumer, "_n_acked")  # noqa: B009 - the string spelling is the point
