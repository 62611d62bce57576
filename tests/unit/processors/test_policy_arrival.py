"""A policy that arrives (or changes) after a sandbox's first violations judges them again.

Until its policy is known a sandbox is judged by the default escalation settings (five
violations in the window). A fork flood whose shell exits at its first refused fork gives
one ``pids.limit_hit``: under the default nothing follows, and before this, nothing
followed either once the sandbox's own policy (threshold 1) arrived a fetch later.
"""

from __future__ import annotations

from typing import Any

import pytest

from processors.engine import ContainerState, PolicyContext, compile_policy, reconsider, step
from processors.engine.step import EngineEvent
from processors.pipeline import Pipeline
from processors.stores import PolicyStore
from schemas import EnforcementCommand, PolicyEvent, Record, Violation, decode, encode
from schemas import topics as t
from tests.unit.processors.conftest import CID, audit, make_pipeline, make_policy, metric

# The processor's default, as shipped: terminate at the fifth violation in 300 s.
DEFAULT = make_policy(name="fallback", violation_threshold=5, auto_terminate_on_violation=True)


def _ctx(**kw: Any) -> PolicyContext:
    return PolicyContext(compile_policy(make_policy(**kw)), container_name="sg-x", image="busybox")


STRICT = {"name": "strict", "violation_threshold": 1, "auto_terminate_on_violation": True}


def _flood(t_s: float) -> list[EngineEvent]:
    """The busybox fork flood as the collector samples it: one refused fork, then quiet."""
    return [metric(t_s - 1, pids_current=23, pids_max=24), metric(t_s, pids_current=24, pids_max=24,
                                                                   pids_max_events_total=1)]  # fmt: skip


def _run(ctx: PolicyContext, events: list[EngineEvent]) -> tuple[ContainerState, list[Violation]]:
    state: ContainerState | None = None
    out: list[Violation] = []
    for ev in events:
        r = step(state, ctx, ev)
        assert r.state is not None and r.commands == []
        state, out = r.state, out + r.violations
    assert state is not None
    return state, out


def _judged_by_default(*extra: EngineEvent) -> tuple[ContainerState, list[Violation]]:
    state, vs = _run(PolicyContext(compile_policy(DEFAULT)), [*_flood(2), *extra])
    assert [v.rule_id for v in vs] == ["pids.limit_hit"]
    return state, vs


def test_a_stricter_policy_arriving_later_terminates_once() -> None:
    state, (v,) = _judged_by_default(metric(3, pids_current=24, pids_max=24, pids_max_events_total=1))
    strict = _ctx(**STRICT)
    r = reconsider(state, strict)
    (cmd,) = r.commands
    assert (cmd.action.value, cmd.mode, cmd.policy_id) == ("terminate", "enforce", strict.policy.policy_id)
    assert (cmd.violation_ids, cmd.rule_ids) == ((v.violation_id,), ("pids.limit_hit",))
    assert cmd.time == 3000 and cmd.first_violation_time == 2000  # event time, not the wall clock
    assert "judged again when the policy arrived" in cmd.reason
    (upd,) = r.violations  # the finding now says what was done, under which policy
    assert (upd.violation_id, upd.activity.value, upd.disposition.value) == (
        v.violation_id, "update", "terminated"
    )  # fmt: skip
    assert upd.policy_id == strict.policy.policy_id
    again = reconsider(state, strict)  # the same policy re-applied
    assert (again.commands, again.violations) == ([], [])


def test_the_decision_is_the_same_after_a_restart() -> None:
    """The window's violations are in the state's bytes (the changelogged table)."""
    state, _ = _judged_by_default()
    restored = ContainerState.from_bytes(state.to_bytes())
    strict = _ctx(**STRICT)
    first, second = reconsider(state, strict), reconsider(restored, strict)
    assert first.commands == second.commands and first.violations == second.violations
    assert len(first.commands) == 1


def test_a_looser_policy_does_nothing_and_never_undoes() -> None:
    state, _ = _judged_by_default()
    loose = reconsider(state, _ctx(name="loose", violation_threshold=10, auto_terminate_on_violation=True))
    assert (loose.commands, loose.violations) == ([], [])
    alert = reconsider(state, _ctx(name="alert", violation_threshold=1, escalation_response="alert"))
    assert alert.commands == []
    strict = reconsider(state, _ctx(**STRICT))
    assert [c.action.value for c in strict.commands] == ["terminate"]
    after = reconsider(state, _ctx(name="loose", violation_threshold=10, escalation_response="throttle"))
    assert (after.commands, after.violations) == ([], [])
    assert state.enforced == "terminate"


def test_violations_outside_the_new_window_are_not_counted() -> None:
    state, _ = _judged_by_default(metric(40, pids_current=3, pids_max=24, pids_max_events_total=1))
    short = dict(STRICT, detection={"escalation_window_seconds": 10})
    assert reconsider(state, _ctx(**short)).commands == []  # the violation at 2 s, judged at 40 s
    assert reconsider(state, _ctx(**STRICT)).commands == []  # and it left the window for good


def test_an_immediate_rule_of_the_new_policy_acts() -> None:
    state, (v,) = _judged_by_default()
    ctx = _ctx(name="imm", violation_threshold=100, auto_terminate_on_violation=True,
               immediate_rules={"pids.limit_hit"})  # fmt: skip
    (cmd,) = reconsider(state, ctx).commands
    assert cmd.violation_ids == (v.violation_id,) and "immediate rule pids.limit_hit" in cmd.reason


def test_a_rule_the_new_policy_disables_is_not_counted() -> None:
    state, _ = _judged_by_default()
    ctx = _ctx(**STRICT, disabled_rules={"pids.limit_hit"})
    assert reconsider(state, ctx).commands == []


def test_only_a_stricter_action_follows_one_in_force() -> None:
    """Paused under one policy, then a violation: a policy that pauses too does nothing new,
    one that terminates terminates."""
    pausing = _ctx(name="pausing", violation_threshold=2, escalation_response="pause")
    state: ContainerState | None = None
    cmds: list[EnforcementCommand] = []
    for ev in (audit(1, "exec", "exec", "a", allowed=False), audit(2, "exec", "exec", "b", allowed=False),
               audit(3, "exec", "exec", "c", allowed=False)):  # fmt: skip
        r = step(state, pausing, ev)
        state, cmds = r.state, cmds + r.commands
    assert state is not None and [c.action.value for c in cmds] == ["pause"]
    same = reconsider(state, _ctx(name="pause-at-1", violation_threshold=1, escalation_response="pause"))
    assert same.commands == []
    (cmd,) = reconsider(state, _ctx(**STRICT)).commands
    assert cmd.action.value == "terminate" and len(cmd.violation_ids) == 1


@pytest.mark.parametrize("mode", ["enforce", "audit"])
def test_an_audit_policy_records_what_it_would_do(mode: str) -> None:
    state, _ = _judged_by_default()
    r = reconsider(state, _ctx(**STRICT, mode=mode))
    assert [(c.action.value, c.mode) for c in r.commands] == [("terminate", mode)]
    assert [u.disposition.value for u in r.violations] == (["terminated"] if mode == "enforce" else [])


# --- the message path (embedded runner and Faust worker alike) --------------------------


def _pipeline(states: dict[str, bytes], policies: dict[str, bytes]) -> Pipeline:
    return make_pipeline(DEFAULT, states, policies)


def _policy_rec(offset: int, **kw: Any) -> Record:
    pol = make_policy(**kw)
    ev = PolicyEvent(container_id=CID, policy_id=pol.policy_id, policy=pol, sandbox_name="sg-x")
    return Record(t.POLICIES, 0, offset, CID, encode(ev), 0)


def _samples(p: Pipeline) -> None:
    for i, ev in enumerate(_flood(2)):
        p.delivered(o.id for o in p.handle(Record(t.METRICS, 0, i, CID, encode(ev), 0)))


def _topics(outs: list[Any]) -> list[str]:
    return [o.topic for o in outs]


def test_the_pipeline_judges_again_when_the_policy_arrives() -> None:
    p = _pipeline({}, {})
    _samples(p)
    outs = p.handle(_policy_rec(0, **STRICT))
    assert _topics(outs) == [t.VIOLATIONS, t.ENFORCEMENT]
    assert decode(t.ENFORCEMENT, outs[1].value).action.value == "terminate"
    p.delivered(o.id for o in outs)
    assert p.handle(_policy_rec(0, **STRICT)) == []  # redelivered: nothing twice
    assert p.handle(_policy_rec(1, **STRICT)) == []  # re-applied: nothing new
    assert p.handle(_policy_rec(2, name="loose", violation_threshold=50)) == []


def test_a_policy_for_a_container_never_seen_makes_no_state() -> None:
    states: dict[str, bytes] = {}
    p = _pipeline(states, {})
    assert p.handle(_policy_rec(0, **STRICT)) == [] and states == {}


def test_outputs_of_the_arrival_lost_with_a_worker_are_resent_identically() -> None:
    states: dict[str, bytes] = {}
    policies: dict[str, bytes] = {}
    p = _pipeline(states, policies)
    _samples(p)
    lost = p.handle(_policy_rec(0, **STRICT))  # state saved; outputs never confirmed
    q = _pipeline(states, policies)  # the worker restarted over the same stored tables
    assert q.handle(_policy_rec(0, **STRICT)) == lost
    q.delivered(o.id for o in lost)
    assert q.handle(_policy_rec(1, **STRICT)) == []


def test_an_alerting_default_keeps_the_window_for_the_policy_to_judge() -> None:
    """A processor whose default only alerts still counts: the sandbox's policy decides."""
    alerting = make_policy(name="alerting", violation_threshold=2, escalation_response="alert")
    provisional = PolicyStore({}, alerting).get(CID)
    state, vs = _run(provisional, [audit(i, "exec", "exec", f"c{i}", allowed=False) for i in range(1, 5)])
    assert len(vs) == 4 and provisional.policy.provisional
    three = _ctx(name="three", violation_threshold=3, auto_terminate_on_violation=True)
    (cmd,) = reconsider(state, three).commands
    assert len(cmd.violation_ids) == 4


def _refusals(n: int, every_s: int) -> list[EngineEvent]:
    return [audit(every_s * i + 1, "exec", "exec", f"c{i}", allowed=False) for i in range(n)]


def test_a_late_policy_with_a_long_window_judges_all_of_it() -> None:
    """The stand-in (five in 300 s) keeps violations for the longest window a policy may
    set, counting only its own: three refusals 10 minutes apart do not reach it, and the
    sandbox's own policy (three in an hour), arriving after them, terminates."""
    provisional = PolicyStore({}, DEFAULT).get(CID)
    state, vs = _run(provisional, _refusals(3, every_s=600))
    assert len(vs) == 3 and provisional.policy.provisional
    twice = _ctx(**dict(STRICT, violation_threshold=2))  # in 300 s: only the last one counts
    assert reconsider(ContainerState.from_bytes(state.to_bytes()), twice).commands == []
    hourly = _ctx(name="hourly", violation_threshold=3, auto_terminate_on_violation=True,
                  detection={"escalation_window_seconds": 3600})  # fmt: skip
    (cmd,) = reconsider(state, hourly).commands
    assert cmd.action.value == "terminate" and cmd.violation_ids == tuple(v.violation_id for v in vs)


def test_the_stand_in_counts_only_its_own_window() -> None:
    """Five refusals over 20 minutes never reach five in 300 s, however long they are kept."""
    provisional = PolicyStore({}, DEFAULT).get(CID)
    state, vs = _run(provisional, _refusals(5, every_s=300))
    assert len(vs) == 5 and len(state.escalation) == 5
