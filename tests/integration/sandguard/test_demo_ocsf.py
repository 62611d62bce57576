"""What a SIEM reads off the violations topic during the demo is valid OCSF 1.8.0.

The demo scenario runs on the embedded default (real Docker, the in-process bus); a
consumer of its own, like a SIEM connector, reads every message on
``sandguard.violations`` and checks each against the official schema
(tests/ocsf_official.py): no error, no deprecation, no wrong sibling or observable.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import orjson

from sandguard import SandboxManager
from sandguard.demo import Demo, demo_policy
from schemas import Consumer, Record
from schemas import topics as t
from tests.ocsf_official import OCSF_VERSION, problems

SIEM_GROUP = "siem-conformance"
POLL_MS = 200


async def _read_until(done: asyncio.Event, consumer: Consumer, into: list[Record]) -> None:
    """Keeps up with the topic (the pipeline waits for every group to catch up when it stops)."""
    while not done.is_set():
        into += await consumer.getmany(timeout_ms=POLL_MS)
        await consumer.commit()  # else the bus hands them to the group again when it stops


async def test_every_violation_the_demo_publishes_is_valid_ocsf(embedded_data_dir: Path) -> None:
    manager = SandboxManager(demo_policy(), data_dir=embedded_data_dir)
    await manager.start()
    assert manager.pipeline is not None
    bus = manager.pipeline.bus
    siem = await bus.consumer([t.VIOLATIONS], group=SIEM_GROUP)
    got: list[Record] = []
    done = asyncio.Event()
    reader = asyncio.create_task(_read_until(done, siem, got))
    demo = Demo(manager, say=lambda _: None)
    try:
        worker = await demo.well_behaved()
        await demo.refusals(worker)
        await demo.outcomes({"worker": worker, **await demo.misbehaving()})
    finally:
        await manager.cleanup()  # closes the open findings, then stops the bus
        done.set()
        await reader
    # What arrived between the reader's last poll and the stop is kept for the group.
    late = await bus.consumer([t.VIOLATIONS], group=SIEM_GROUP)
    got += await late.getmany(timeout_ms=POLL_MS, max_records=100_000)

    docs = [orjson.loads(r.value) for r in got if r.value is not None]
    bad = [f"{d['finding_info']['analytic']['uid']}: {p}" for d in docs for p in problems(d)]
    shapes = collections.Counter((d["finding_info"]["analytic"]["uid"], d["activity_name"]) for d in docs)
    invalid = sum(1 for d in docs if problems(d))
    unique = len({d["metadata"]["uid"] for d in docs})
    print(
        f"{len(docs)} violation events ({unique} distinct) off the topic, OCSF {OCSF_VERSION}: "
        f"{invalid} invalid, {len(bad)} problems; {dict(shapes)}"
    )
    assert bad == [] and unique == len(docs)
    rules = {rule for rule, _ in shapes}
    assert {"command.denied", "file.denied", "process.reverse_shell"} <= rules, rules
    assert any(d["disposition_id"] == 2 for d in docs)  # a termination, as Denied/Blocked
