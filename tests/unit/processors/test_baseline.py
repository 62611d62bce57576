"""process.new_program: a program outside the image's learned baseline; audit by default."""

from __future__ import annotations

from collections.abc import Callable

from processors.engine.baseline import MAX_LISTED
from schemas import PolicyMode
from schemas.policy import ProgramBaseline
from tests.unit.processors.conftest import Feed, audit, make_policy, proc, snapshot

SEEN = frozenset({"python3", "sh", "sleep"})


def _feed(feed: Callable[..., Feed], mode: PolicyMode = PolicyMode.AUDIT, **kw: object) -> Feed:
    base = ProgramBaseline(programs=SEEN, image="img:1", runs=12, learned="7d", mode=mode)
    return feed(make_policy(baseline=base, **kw))


def test_a_program_never_seen_is_a_finding_explained_with_the_baseline(feed: Callable[..., Feed]) -> None:
    f = _feed(feed)
    vs, cs = f(snapshot(1, proc(9, "wget", "wget", "http://127.0.0.1/x", exe="/usr/bin/wget")))
    assert [(v.rule_id, v.mode, v.severity.value) for v in vs] == [("process.new_program", "audit", "medium")]
    assert "3 programs seen in 12 clean runs of img:1 (7d)" in vs[0].message
    sample = vs[0].evidence.samples[0]
    assert sample["program"] == "wget" and sample["baseline"] == sorted(SEEN)
    assert vs[0].evidence.process is not None and cs == []


def test_a_renamed_copy_is_judged_by_every_name_it_has(feed: Callable[..., Feed]) -> None:
    """A miner copied to /work and run under a new name: no alias of it was ever seen."""
    f = _feed(feed)
    f(snapshot(1, proc(9, "xmr", "xmr", exe="/work/xmr")))
    assert [
        (v.rule_id, v.evidence.samples[0]["program"])
        for v in f.violations
        if v.rule_id.endswith("new_program")
    ] == [("process.new_program", "xmr")]


def test_an_exec_through_the_api_is_judged_per_program(feed: Callable[..., Feed]) -> None:
    f = _feed(feed)
    vs, _ = f(audit(1, "exec", "exec", "python3 x.py | base64", allowed=True))
    assert [(v.rule_id, v.evidence.command) for v in vs if v.rule_id == "process.new_program"] == [
        ("process.new_program", "python3 x.py | base64")
    ]


def test_audit_mode_never_escalates_and_enforce_mode_does(feed: Callable[..., Feed]) -> None:
    snaps = [snapshot(i, proc(10 + i, f"tool{i}", exe=f"/bin/tool{i}"), full=False) for i in range(1, 5)]
    quiet = _feed(
        feed, violation_threshold=2, auto_terminate_on_violation=True, disabled_rules=["process.not_allowed"]
    )
    quiet(*snaps)
    assert len(quiet.violations) == 4 and quiet.commands == []
    strict = _feed(feed, PolicyMode.ENFORCE, violation_threshold=2, auto_terminate_on_violation=True)
    strict(*snaps)
    assert [c.action.value for c in strict.commands] == ["terminate"]
    assert {v.mode for v in strict.violations} == {"enforce"}


def test_benign_work_within_the_baseline_raises_nothing(feed: Callable[..., Feed]) -> None:
    f = _feed(feed)
    f(
        snapshot(
            1, proc(1, "sh", "/bin/sh", "-c", "python3 app.py", exe="/bin/dash")
        ),  # sh by comm and argv0
        snapshot(2, proc(2, "python3", "python3", "app.py", exe="/usr/bin/python3.11"), full=False),
        snapshot(3, proc(3, "sleep", "sleep", "1", exe="/bin/sleep"), full=False),
        audit(4, "exec", "exec", "python3 -c 'print(1)'", allowed=True),
    )
    assert f.violations == []


def test_no_baseline_no_rule_and_the_policy_id_is_unchanged(feed: Callable[..., Feed]) -> None:
    f = feed(make_policy())
    f(snapshot(1, proc(9, "wget", exe="/usr/bin/wget")))
    assert f.violations == []
    assert "baseline" not in make_policy().canonical_json()
    big = ProgramBaseline(programs=frozenset(f"p{i}" for i in range(MAX_LISTED + 5)))
    assert "baseline" in make_policy(baseline=big).canonical_json()


def test_a_tool_copied_under_a_known_name_is_judged_by_the_file_it_runs(feed: Callable[..., Feed]) -> None:
    """The attack: nc copied to /work/python3 and started as python3 has only known names."""
    base = ProgramBaseline(
        programs=SEEN, paths=frozenset({"/usr/bin/python3.11", "/bin/dash"}), image="img:1", runs=3
    )
    f = feed(make_policy(baseline=base))
    f(
        snapshot(1, proc(5, "python3", "python3", "app.py", exe="/usr/bin/python3.11")),
        snapshot(2, proc(6, "python3", "python3", "-l", "4444", exe="/work/python3"), full=False),
        snapshot(3, proc(7, "sh", "sh", exe=None), full=False),  # unreadable: judged by name, known
    )
    found = [(v.rule_id, v.evidence.samples[0]["program"]) for v in f.violations]
    assert found == [("process.new_program", "/work/python3")]
    assert f.violations[0].evidence.samples[0]["baseline"] == ["/bin/dash", "/usr/bin/python3.11"]
