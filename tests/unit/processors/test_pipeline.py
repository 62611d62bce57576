"""The shared message path: policies, default policy, dead letters, replays and the outbox."""

from __future__ import annotations

from typing import Any

import orjson

from processors.pipeline import Pipeline
from schemas import PolicyEvent, Record, decode, encode
from schemas import topics as t
from tests.unit.processors.conftest import CID, audit, make_pipeline, make_policy, metric


def _pipeline(states: dict[str, bytes], policies: dict[str, bytes], **kw: Any) -> Pipeline:
    return make_pipeline(make_policy(name="fallback", **kw), states, policies)


def _rec(topic: str, value: bytes | None, offset: int, key: str = CID) -> Record:
    return Record(topic, 0, offset, key, value, 0)


def _oom(ts: float, total: int) -> bytes:
    return encode(metric(ts, memory_oom_kills_total=total))


def test_container_without_policy_gets_the_default() -> None:
    p = _pipeline({}, {})
    outs = p.handle(_rec(t.METRICS, _oom(1, 1), 0))
    v = decode(t.VIOLATIONS, outs[0].value)
    assert (outs[0].topic, outs[0].key, v.policy_name) == (t.VIOLATIONS, CID, "fallback")


def test_policy_event_applies_with_the_sandbox_names() -> None:
    p = _pipeline({}, {})
    pol = make_policy(name="strict", limits={"memory_mb": 64})
    ev = PolicyEvent(
        container_id=CID,
        policy_id=pol.policy_id,
        policy=pol,
        sandbox_name="sg-1",
        image="img:2",
        labels={"team": "a"},
    )
    assert p.handle(_rec(t.POLICIES, encode(ev), 0)) == []
    v = decode(t.VIOLATIONS, p.handle(_rec(t.METRICS, _oom(1, 1), 0))[0].value)
    assert (v.policy_name, v.policy_id, v.container_name, v.image, v.labels) == (
        "strict", pol.policy_id, "sg-1", "img:2", {"team": "a"}
    )  # fmt: skip


def test_garbage_goes_to_the_dead_letter_topic_with_the_reason() -> None:
    p = _pipeline({}, {})
    for i, value in enumerate([b"not json", b'{"kind":"metric"}', None]):
        (out,) = p.handle(_rec(t.METRICS, value, i))
        dl = decode(t.DEADLETTER, out.value)
        assert (out.topic, dl.source_topic, dl.offset, dl.component) == (
            t.DEADLETTER,
            t.METRICS,
            i,
            "processor",
        )
        assert dl.error
    assert "container_id" in decode(t.DEADLETTER, p.handle(_rec(t.AUDIT, b"{}", 9))[0].value).error
    assert p.metrics.value("sandguard_processor_deadletters_total", {"topic": t.METRICS}) == 3


def test_corrupt_state_is_an_engine_error_not_a_crash() -> None:
    p = _pipeline({CID: b"\x00garbage"}, {})
    (out,) = p.handle(_rec(t.METRICS, _oom(1, 1), 0))
    assert out.topic == t.DEADLETTER and "engine error" in decode(t.DEADLETTER, out.value).error
    assert p.metrics.value("sandguard_processor_errors_total", {"kind": "engine"}) == 1


def test_redelivered_event_is_not_counted_twice() -> None:
    p = _pipeline({}, {})
    first = p.handle(_rec(t.METRICS, _oom(1, 1), 5))
    p.delivered(o.id for o in first)
    assert p.handle(_rec(t.METRICS, _oom(1, 1), 5)) == []
    assert p.metrics.value("sandguard_processor_replayed_total") == 1


def test_outputs_lost_with_a_worker_are_resent_identically_after_restart() -> None:
    states: dict[str, bytes] = {}
    policies: dict[str, bytes] = {}
    p = _pipeline(states, policies)
    lost = p.handle(_rec(t.METRICS, _oom(1, 1), 0))  # state saved; outputs never confirmed
    # A new process over the same stored state (the worker restarted).
    q = _pipeline(states, policies)
    again = q.handle(_rec(t.METRICS, _oom(1, 1), 0))  # redelivered: resend, nothing new
    assert again == lost
    nxt = q.handle(_rec(t.METRICS, _oom(2, 1), 1))  # in flight in q: not sent twice
    assert nxt == []
    q.delivered(o.id for o in again)
    q.handle(_rec(t.METRICS, _oom(3, 1), 2))
    assert q.states.get(CID) is not None and q.states.get(CID).outbox == []  # type: ignore[union-attr]


def test_tombstone_closes_findings_and_drops_state_and_policy() -> None:
    states: dict[str, bytes] = {}
    policies: dict[str, bytes] = {}
    p = _pipeline(states, policies)
    pol = make_policy()
    p.handle(_rec(t.POLICIES, encode(PolicyEvent(container_id=CID, policy_id=pol.policy_id, policy=pol)), 0))
    for i in range(3):
        p.delivered(o.id for o in p.handle(_rec(t.METRICS, _oom(i + 1, i + 1), i)))
    outs = p.handle(_rec(t.POLICIES, None, 1))
    assert [orjson.loads(o.value)["activity_name"] for o in outs] == ["Close"]
    assert states == {} and policies == {}


def test_destroy_with_outputs_in_flight_keeps_only_the_outbox() -> None:
    states: dict[str, bytes] = {}
    p = _pipeline(states, {})
    sent = p.handle(_rec(t.METRICS, _oom(1, 1), 0))
    p.handle(_rec(t.AUDIT, encode(audit(2, "lifecycle", "destroy")), 0))
    kept = p.states.get(CID)
    assert kept is not None and [e[0] for e in kept.outbox] == [o.id for o in sent]
    assert kept.findings == {}


def test_kernel_events_are_an_input_and_their_state_survives_the_store() -> None:
    """sandguard.kernel goes through the same path (embedded and Faust): a connect and then a
    shell under it, in two records, with the state stored as bytes in between."""
    from processors.pipeline import INPUT_TOPICS
    from tests.unit.processors.conftest import kconnect, kexec

    assert t.KERNEL in INPUT_TOPICS
    states: dict[str, bytes] = {}
    p = _pipeline(states, {}, blocked_commands=set())
    gawk = encode(kexec(1, 60, "/usr/bin/gawk", "gawk", "BEGIN{}"))
    assert p.handle(_rec(t.KERNEL, gawk, 0)) == []
    assert p.handle(_rec(t.KERNEL, encode(kconnect(1.1, 60, "127.0.0.1", 4444, comm="gawk")), 1)) == []
    p.invalidate()  # the next record reads the state back from its bytes
    sh = encode(kexec(1.2, 61, "/bin/sh", "sh", "-c", "id", ppid=60))
    outs = p.handle(_rec(t.KERNEL, sh, 2))
    rules = [decode(o.topic, o.value).rule_id for o in outs if o.topic == t.VIOLATIONS]
    assert rules == ["process.reverse_shell"] and states
