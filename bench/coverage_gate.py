"""The distributed exec gate's reader against a big audit topic: does its cost grow with
the topic? (sandguard/coverage.py, ``KafkaBus.tail``.)

    python bench/coverage_gate.py --json [--records 200000] [--rounds 5]

On a fresh namespace, for an empty audit topic and then one holding ``--records`` audit
records (exec events of ~500 bytes, spread over the topic's partitions):

* ``start_s``: ``CoverageGate.start()``;
* ``answer_s``: from publishing a ``kernel_covered`` for a new container to the gate's
  answer (what ``create_sandbox`` waits for; the reader of that container's partition,
  positioned ``SKEW_MARGIN_MS`` before the wait, is started within it);
* ``replay_s`` (the big topic only): a reader that starts at the beginning instead and
  scans every record for the one ``kernel_covered`` at the end, what a gate reading the
  whole topic would pay at each manager's start.

Medians (bench.stats) over ``--rounds``; ratios big/empty side by side. Traffic goes to the loopback
broker only; the fill is bounded by --records, and the namespace is dropped at the end.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer

try:
    from bench import cli
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    import cli  # type: ignore[import-not-found,no-redef]
    from stats import percentile  # type: ignore[import-not-found,no-redef]

from sandguard.bus import KafkaBus, drop_namespace
from sandguard.coverage import COVERED, CoverageGate
from schemas import AuditCategory, AuditEvent, encode
from schemas import topics as t

# The gate's answers come within ms on a quiet broker; 30 s bounds one round on a stuck one.
ANSWER_TIMEOUT_S = 30.0
FILL_BATCH = 5_000


def _audit(cid: str, action: str, **details: Any) -> bytes:
    category = AuditCategory.COLLECTOR if action == COVERED else AuditCategory.EXEC
    event = AuditEvent(container_id=cid, host="bench", category=category, action=action, actor="bench",
                       allowed=True, subject="python3 -c 'print(1)'", details=details)  # fmt: skip
    return encode(event)


async def fill(bus: KafkaBus, records: int) -> float:
    """``records`` exec audit events over 1,000 containers; returns the seconds it took."""
    started = time.perf_counter()
    for first in range(0, records, FILL_BATCH):
        for i in range(first, min(first + FILL_BATCH, records)):
            cid = f"{i % 1000:064x}"
            await bus.publish(t.AUDIT, cid, _audit(cid, "exec", exit_code=0, duration_ms=12.5, seq=i))
        await bus.flush()
    return time.perf_counter() - started


async def gate_round(bus: KafkaBus) -> tuple[float, float]:
    """One manager's gate: its start, then one answer (seconds)."""
    gate = CoverageGate(bus, timeout_s=ANSWER_TIMEOUT_S)
    started = time.perf_counter()
    await gate.start()
    start_s = time.perf_counter() - started
    cid = uuid.uuid4().hex * 2
    published = time.perf_counter()
    await bus.publish(t.AUDIT, cid, _audit(cid, COVERED, mode="bpf"))
    await bus.flush()
    coverage = await gate(cid)
    answer_s = time.perf_counter() - published
    await gate.stop()
    assert coverage.covered, coverage
    return start_s, answer_s


async def replay_round(bus: KafkaBus) -> float:
    """A reader from the beginning, scanning for the last container's kernel_covered."""
    cid = uuid.uuid4().hex * 2
    await bus.publish(t.AUDIT, cid, _audit(cid, COVERED, mode="bpf"))
    await bus.flush()
    started = time.perf_counter()
    reader = AIOKafkaConsumer(bus.namespace + t.AUDIT, bootstrap_servers=bus.bootstrap,
                              auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await reader.start()
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT_S * 10):
            while True:
                batches = await reader.getmany(timeout_ms=500, max_records=10_000)
                if any(m.key == cid.encode() for msgs in batches.values() for m in msgs):
                    return time.perf_counter() - started
    finally:
        await reader.stop()


async def measure(bootstrap: str, records: int, rounds: int) -> dict[str, Any]:
    namespace = f"bench-cov-{uuid.uuid4().hex[:8]}."
    bus = KafkaBus(bootstrap, namespace=namespace)
    await bus.start()
    try:
        await gate_round(bus)  # warm-up, not counted: the new topics' leaders settle
        empty = [await gate_round(bus) for _ in range(rounds)]
        fill_s = await fill(bus, records)
        big = [await gate_round(bus) for _ in range(rounds)]
        replay = [await replay_round(bus) for _ in range(rounds)]
    finally:
        await bus.stop()
        await drop_namespace(bootstrap, namespace)

    def med(values: Iterable[float]) -> float:
        return percentile(values, 50)

    empty_start, big_start = med(s for s, _ in empty), med(s for s, _ in big)
    return {
        "records": records,
        "rounds": rounds,
        "fill_s": round(fill_s, 1),
        "empty": {"start_s": round(empty_start, 4), "answer_s": round(med(a for _, a in empty), 4)},
        "big": {"start_s": round(big_start, 4), "answer_s": round(med(a for _, a in big), 4)},
        "answer_ratio_big_to_empty": round(med(a for _, a in big) / med(a for _, a in empty), 2),
        "replay_from_beginning_s": round(med(replay), 3),
    }


def main() -> None:
    p = cli.parser(__doc__, kafka=True)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    cli.emit(asyncio.run(measure(args.bootstrap, args.records, args.rounds)), args.json)


if __name__ == "__main__":
    main()
