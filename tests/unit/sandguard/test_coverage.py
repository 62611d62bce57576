"""The exec gate's book of answers (sandguard.coverage.CoverageBook), with no broker: which
audit events cover a sandbox, what a collector whose kernel layer is off answers, and that
an answer read before its creation asked is kept (within a bound)."""

from __future__ import annotations

import asyncio

from sandguard.coverage import CoverageBook
from schemas import AuditCategory, AuditEvent

CID = "c" * 64


def _covered(cid: str = CID, mode: str = "bpf", **over: object) -> AuditEvent:
    fields: dict[str, object] = {"container_id": cid, "host": "h", "category": AuditCategory.COLLECTOR,
                                 "action": "kernel_covered", "details": {"mode": mode}, **over}  # fmt: skip
    return AuditEvent.model_validate(fields)


async def test_an_answer_read_before_the_creation_asked_is_kept() -> None:
    book = CoverageBook()
    book.note(CID, _covered(mode="proc_connector"))
    answer = await book.wait(CID, 0.01)
    assert (answer.covered, answer.mode) == (True, "proc_connector")


async def test_a_waiting_creation_is_answered_when_the_event_comes() -> None:
    book = CoverageBook()
    waiting = asyncio.create_task(book.wait(CID, 5.0))
    await asyncio.sleep(0)
    book.note(CID, _covered())
    assert (await waiting).covered


async def test_a_collector_without_a_kernel_layer_covers_nothing_and_says_why() -> None:
    book = CoverageBook()
    book.note(CID, _covered(mode="off", reason="not root"))
    answer = await book.wait(CID, 0.01)
    assert not answer.covered and "off" in answer.reason and "not root" in answer.reason


async def test_other_events_and_other_keys_do_not_cover() -> None:
    book = CoverageBook()
    book.note(CID, _covered(action="kernel_mode"))
    book.note(CID, _covered(category=AuditCategory.LIFECYCLE))
    book.note(CID, _covered(cid="d" * 64))  # keyed by one container, naming another
    answer = await book.wait(CID, 0.01)
    assert not answer.covered and "within 0.01 s" in answer.reason


async def test_answers_nobody_asked_for_are_bounded() -> None:
    book = CoverageBook(remembered=2)
    for i in range(3):
        book.note(f"{i}" * 64, _covered(cid=f"{i}" * 64))
    assert not (await book.wait("0" * 64, 0.01)).covered  # the oldest went
    assert (await book.wait("2" * 64, 0.01)).covered
