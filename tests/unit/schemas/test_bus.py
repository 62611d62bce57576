"""RecordBatch: the bulk form of records, and the records it stands for."""

from __future__ import annotations

from schemas import Record, RecordBatch, batches_of
from schemas.bus import decode_key


def test_batches_of_groups_per_topic_partition_in_order_and_rebuilds_each_record() -> None:
    records = [
        Record("t.a", 0, 10, "k1", b"v1", 1000),
        Record("t.b", 0, 5, None, None, 1001),
        Record("t.a", 1, 3, "k2", b"v2", 1002),
        Record("t.a", 0, 11, "", b"v3", 1003),
    ]
    batches = batches_of(records)
    assert [(b.topic, b.partition, list(b.offsets)) for b in batches] == [
        ("t.a", 0, [10, 11]), ("t.b", 0, [5]), ("t.a", 1, [3])
    ]  # fmt: skip
    assert batches[0].keys == [b"k1", b""] and batches[1].keys == [None]
    rebuilt = [b.record(i) for b in batches for i in range(len(b))]
    assert sorted(rebuilt, key=lambda r: r.timestamp_ms) == records


def test_a_batch_is_one_object_however_many_records() -> None:
    batch = RecordBatch("t", 0, list(range(3)), [0, 0, 0], [b"k", None, b"k"], [b"a", b"b", None])
    assert len(batch) == 3
    assert batch.record(2) == Record("t", 0, 2, "k", None, 0)


def test_a_key_that_is_not_utf8_is_read_with_replacement_marks() -> None:
    """Any producer can write such a key: the record must still reach its handler (and, if
    bad, the dead-letter topic), not fail the whole poll."""
    batch = RecordBatch("t.a", 0, [7], [1000], [b"ok-\xff\xfe"], [b"{}"])
    assert batch.key(0) == "ok-\ufffd\ufffd"
    assert batch.record(0).key == "ok-\ufffd\ufffd"
    assert decode_key(None) is None and decode_key(b"c1") == "c1"
