"""Fail closed: a container with no known policy is judged by its own limits, never by a
looser default (a 64 MiB sandbox once had 512 MiB "re-applied" from the default)."""

from __future__ import annotations

from processors.pipeline import Pipeline
from processors.stores import OWN_LIMITS_POLICY_ID
from schemas import AuditCategory, AuditEvent, LimitsSample, PolicyEvent, Record, decode, encode
from schemas import topics as t
from schemas.policy import MIB
from tests.unit.processors.conftest import CID, make_pipeline, make_policy, metric

# The processor's default: far looser than the sandbox (512 MiB, 100 pids, 50 % CPU).
DEFAULT = make_policy(name="default", limits={"memory_mb": 512, "max_processes": 100})


def _pipeline() -> Pipeline:
    return make_pipeline(DEFAULT)


def _limits(t_s: float) -> LimitsSample:
    return LimitsSample(
        container_id=CID, host="h1", time=int(t_s * 1000), memory_limit_bytes=64 * MIB,
        memory_swap_limit_bytes=64 * MIB, cpu_quota_us=25_000, cpu_period_us=100_000,
        pids_max=20, nofile_soft=1024, nofile_hard=1024,
    )  # fmt: skip


def _rec(value: bytes, offset: int, topic: str = t.METRICS) -> Record:
    return Record(topic, 0, offset, CID, value, 0)


def test_limits_of_an_unknown_sandbox_are_not_drift_and_never_reapplied() -> None:
    p = _pipeline()
    outs = p.handle(_rec(encode(metric(1, memory_limit_bytes=64 * MIB, pids_max=20)), 0))
    outs += p.handle(_rec(encode(_limits(1)), 1))
    assert outs == []  # the default's 512 MiB would have been "drift", and a reapply
    ctx = p.policies.get(CID)
    assert (ctx.policy.policy_id, ctx.policy.memory_limit_bytes, ctx.policy.max_processes) == (
        OWN_LIMITS_POLICY_ID, 64 * MIB, 20
    )  # fmt: skip
    assert ctx.policy.cpu_percent == 25.0


def test_an_unknown_sandbox_is_judged_by_its_own_memory_limit() -> None:
    p = _pipeline()
    p.handle(_rec(encode(_limits(0)), 0))
    over = 80 * MIB  # over 64 MiB x 1.1, far under the default's 512 MiB
    samples = [
        metric(i, memory_usage_bytes=over, memory_working_set_bytes=over, memory_limit_bytes=64 * MIB)
        for i in range(1, 6)
    ]
    outs = [o for i, s in enumerate(samples, start=1) for o in p.handle(_rec(encode(s), i))]
    rules = {decode(t.VIOLATIONS, o.value).rule_id for o in outs if o.topic == t.VIOLATIONS}
    assert rules == {"memory.level"}


def test_the_policy_replaces_the_own_limits_once_it_arrives() -> None:
    p = _pipeline()
    p.handle(_rec(encode(_limits(0)), 0))
    pol = make_policy(name="strict", limits={"memory_mb": 64, "max_processes": 20, "cpu_percent": 25.0})
    ev = PolicyEvent(container_id=CID, policy_id=pol.policy_id, policy=pol, sandbox_name="sg", image="i")
    p.handle(_rec(encode(ev), 0, t.POLICIES))
    assert p.policies.get(CID).policy.policy_id == pol.policy_id


def test_the_expected_policy_id_from_the_labels_goes_on_the_findings() -> None:
    p = _pipeline()
    created = AuditEvent(
        container_id=CID, host="h1", time=0, category=AuditCategory.LIFECYCLE, action="create",
        actor="docker", details={"labels": {"sandguard.policy_id": "pol-123", "sandguard.sandbox": "1"}},
    )  # fmt: skip
    p.handle(_rec(encode(created), 0, t.AUDIT))
    p.handle(_rec(encode(_limits(1)), 0))
    (out,) = p.handle(_rec(encode(metric(2, memory_limit_bytes=64 * MIB, memory_oom_kills_total=1)), 1))
    v = decode(t.VIOLATIONS, out.value)
    assert (v.policy_id, v.labels["sandguard.policy_id"]) == (OWN_LIMITS_POLICY_ID, "pol-123")


def test_limits_shown_after_the_lifecycle_event_replace_the_default() -> None:
    """The labels came first (no limits in them): the first sample's limits still apply."""
    p = _pipeline()
    created = AuditEvent(
        container_id=CID, host="h1", time=0, category=AuditCategory.LIFECYCLE, action="create",
        actor="docker", details={"labels": {"sandguard.policy_id": "pol-123"}},
    )  # fmt: skip
    p.handle(_rec(encode(created), 0, t.AUDIT))
    p.handle(_rec(encode(metric(1, memory_limit_bytes=64 * MIB, pids_max=20)), 0))
    ctx = p.policies.get(CID)
    assert (ctx.policy.policy_id, ctx.policy.memory_limit_bytes, ctx.policy.max_processes) == (
        OWN_LIMITS_POLICY_ID, 64 * MIB, 20
    )  # fmt: skip
    assert ctx.labels == {"sandguard.policy_id": "pol-123"}
