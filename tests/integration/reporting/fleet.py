"""A small, deterministic fleet history: the events every reporting test feeds the sink.

Three sandboxes over the last two hours: ``web`` (quiet), ``miner`` (CPU pinned,
throttled, then paused) and ``bomb`` (a fork bomb, a network tool, killed). Times are
relative to ``now`` so TTLs keep them; each event is built with the contract models
and encoded with ``schemas.encode``, exactly as producers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import (
    ActionOutcome,
    ActionResult,
    AuditCategory,
    AuditEvent,
    Disposition,
    EnforcementAction,
    EnforcementCommand,
    Evidence,
    LimitsSample,
    MetricSample,
    PolicyEvent,
    ProcessInfo,
    ProcessSnapshot,
    ResourceLimits,
    SecurityPolicy,
    SecurityViolationType,
    Severity,
    SocketCounts,
    Violation,
    ViolationActivity,
    encode,
    now_ms,
    stable_id,
)
from schemas import topics as t

MIN = 60_000
MB = 1024 * 1024

WEB, MINER, BOMB = "c-web-0001", "c-miner-0002", "c-bomb-0003"
IMAGES = {WEB: "sandguard/python:3", MINER: "sandguard/python:3", BOMB: "sandguard/busybox:1"}


@dataclass
class Fleet:
    now: int = field(default_factory=now_ms)
    minutes: int = 120
    events: list[tuple[str, str | None, bytes | None]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, topic: str, key: str | None, value: bytes | None, table: str) -> None:
        self.events.append((topic, key, value))
        self.counts[table] = self.counts.get(table, 0) + 1

    @property
    def start(self) -> int:
        return self.now - self.minutes * MIN


def policy_for(cid: str) -> SecurityPolicy:
    limits = ResourceLimits(memory_mb=256, cpu_percent=25.0, max_processes=10, max_network_connections=4)
    return SecurityPolicy(resource_limits=limits, name=f"pol-{cid[2:5]}", violation_threshold=3)


def build_fleet(now: int | None = None, minutes: int = 120) -> Fleet:
    f = Fleet(now=now or now_ms(), minutes=minutes)
    for cid in (WEB, MINER, BOMB):
        _policy(f, cid)
        _metrics(f, cid)
        _processes(f, cid)
    _audit(f)
    _miner_story(f)
    _bomb_story(f)
    f.add(t.POLICIES, BOMB, None, "sandboxes")  # destroyed: a tombstone
    return f


def _policy(f: Fleet, cid: str) -> None:
    p = policy_for(cid)
    ev = PolicyEvent(
        container_id=cid, time=f.start, host="host-a", policy_id=p.policy_id, policy=p,
        sandbox_name=f"sb-{cid[2:5]}", image=IMAGES[cid], labels={"team": "agents"},
    )  # fmt: skip
    f.add(t.POLICIES, cid, encode(ev), "sandboxes")
    lim = LimitsSample(
        container_id=cid, time=f.start + 500, host="host-a", memory_limit_bytes=256 * MB,
        cpu_quota_us=25_000, cpu_period_us=100_000, pids_max=10, nofile_soft=1024, nofile_hard=1024,
    )  # fmt: skip
    f.add(t.METRICS, cid, encode(lim), "limits")


def _cpu(cid: str, minute: int) -> float:
    if cid == MINER and minute >= 60:
        return 25.0  # pinned at the quota
    if cid == BOMB and minute >= 100:
        return 5.0
    return 2.0 + (minute % 5)


def _metrics(f: Fleet, cid: str) -> None:
    """One sample a minute (enough for exact assertions; the bench makes millions)."""
    cpu_ns = 0
    end = 110 if cid == BOMB else f.minutes  # the bomb is killed at minute 110
    for m in range(end):
        cpu = _cpu(cid, m)
        cpu_ns += int(cpu / 100 * 60e9)
        pids = 10 if cid == BOMB and m >= 100 else 2 + m % 3
        ev = MetricSample(
            event_id=stable_id("metric", cid, m), container_id=cid, time=f.start + m * MIN + 1000,
            host="host-a", interval_ms=60_000, cpu_usage_ns_total=cpu_ns, cpu_percent=cpu,
            cpu_periods_total=m * 600,
            cpu_throttled_periods_total=(m - 60) * 500 if cid == MINER and m > 60 else 0,
            memory_usage_bytes=(64 + m % 7) * MB, memory_working_set_bytes=(60 + m % 7) * MB,
            memory_limit_bytes=256 * MB, pids_current=pids, pids_max=10,
            pids_max_events_total=max(0, (m - 99) * 40) if cid == BOMB else 0, open_fds=12,
            sockets=_sockets(cid),
        )  # fmt: skip
        f.add(t.METRICS, cid, encode(ev), "metrics")


def _sockets(cid: str) -> SocketCounts:
    return SocketCounts(tcp=1, tcp_states={"ESTABLISHED": 1}) if cid == WEB else SocketCounts()


def _proc(pid: int, comm: str, exe: str, argv: tuple[str, ...], start: int) -> ProcessInfo:
    return ProcessInfo(
        pid=pid,
        ns_pid=pid - 1000,
        ppid=1000,
        uid=1000,
        comm=comm,
        exe=exe,
        argv=argv,
        state="S",
        start_time=start,
    )


def _processes(f: Fleet, cid: str) -> None:
    base = [_proc(1001, "sh", "/bin/sh", ("sh",), f.start)]
    if cid == WEB:
        base.append(_proc(1002, "python3", "/usr/bin/python3", ("python3", "-m", "http.server"), f.start))
    if cid == MINER:
        base.append(_proc(1002, "python3", "/usr/bin/python3", ("python3", "mine.py"), f.start))
    for i, m in enumerate(range(0, f.minutes, 30)):
        snap = ProcessSnapshot(
            container_id=cid, time=f.start + m * MIN + 2000, host="host-a", full=True, seq=i,
            processes=tuple(base), count=len(base),
        )  # fmt: skip
        f.add(t.PROCESSES, cid, encode(snap), "process_snapshots")
        f.counts["processes"] = f.counts.get("processes", 0) + len(base)


def _audit(f: Fleet) -> None:
    for cid in (WEB, MINER, BOMB):
        ev = AuditEvent(
            container_id=cid, time=f.start + 100, category=AuditCategory.LIFECYCLE, action="create"
        )
        f.add(t.AUDIT, cid, encode(ev), "audit")
    denied = AuditEvent(
        container_id=BOMB, time=f.start + 95 * MIN, category=AuditCategory.EXEC, action="exec",
        allowed=False, violation_type=SecurityViolationType.PERMISSION_VIOLATION, subject="sudo sh",
        reason="blocked command: sudo",
    )  # fmt: skip
    f.add(t.AUDIT, BOMB, encode(denied), "audit")


def _violation(
    f: Fleet, cid: str, rule: str, vtype: SecurityViolationType, sev: Severity, minute: int, *,
    count: int = 1, activity: ViolationActivity = ViolationActivity.CREATE,
    disposition: Disposition = Disposition.DETECTED, evidence: Evidence | None = None,
) -> Violation:  # fmt: skip
    first = f.start + minute * MIN
    return Violation(
        event_id=stable_id("vev", cid, rule, minute, count, activity), container_id=cid,
        time=first + count * 1000, host="host-a", violation_id=stable_id("v", cid, rule),
        activity=activity, rule_id=rule, violation_type=vtype, severity=sev, title=rule,
        message=f"{rule} in {cid}", count=count, first_seen=first, last_seen=first + count * 1000,
        sample_time=first + count * 1000, detected_time=first + count * 1000 + 50,
        policy_id=policy_for(cid).policy_id, policy_name=policy_for(cid).name, image=IMAGES[cid],
        container_name=f"sb-{cid[2:5]}", disposition=disposition, evidence=evidence or Evidence(),
    )  # fmt: skip


def _miner_story(f: Fleet) -> None:
    R, N = SecurityViolationType.RESOURCE_LIMIT_EXCEEDED, Severity.MEDIUM
    for n in (1, 2, 3):  # one finding, three events (create, update, update)
        act = ViolationActivity.CREATE if n == 1 else ViolationActivity.UPDATE
        disp = Disposition.THROTTLED if n == 3 else Disposition.DETECTED
        v = _violation(f, MINER, "cpu.throttled", R, N, 62, count=n, activity=act, disposition=disp)
        f.add(t.VIOLATIONS, MINER, encode(v), "violation_events")
    _enforce(f, MINER, EnforcementAction.THROTTLE, "cpu.throttled", 62, 4_000)


def _bomb_story(f: Fleet) -> None:
    R, P, S = (SecurityViolationType.RESOURCE_LIMIT_EXCEEDED, SecurityViolationType.PROCESS_VIOLATION,
               SecurityViolationType.SUSPICIOUS_ACTIVITY)  # fmt: skip
    nc = _proc(1077, "nc", "/bin/busybox", ("nc", "10.0.0.1", "4444"), f.start + 90 * MIN)
    v = _violation(f, BOMB, "process.suspicious", S, Severity.HIGH, 90, evidence=Evidence(process=nc))
    f.add(t.VIOLATIONS, BOMB, encode(v), "violation_events")
    rm = _proc(1078, "rm", "/tmp/rm", ("rm", "-rf", "/work"), f.start + 92 * MIN)
    v = _violation(f, BOMB, "process.blocked", P, Severity.HIGH, 92, evidence=Evidence(process=rm))
    f.add(t.VIOLATIONS, BOMB, encode(v), "violation_events")
    snap = ProcessSnapshot(
        container_id=BOMB, time=f.start + 92 * MIN, full=False, seq=99, processes=(nc, rm), count=4
    )
    f.add(t.PROCESSES, BOMB, encode(snap), "process_snapshots")
    f.counts["processes"] += 2
    for n in (1, 2):
        act = ViolationActivity.CREATE if n == 1 else ViolationActivity.UPDATE
        disp = Disposition.TERMINATED if n == 2 else Disposition.DETECTED
        v = _violation(
            f, BOMB, "pids.limit_hit", R, Severity.HIGH, 100, count=n, activity=act, disposition=disp
        )
        f.add(t.VIOLATIONS, BOMB, encode(v), "violation_events")
    _enforce(f, BOMB, EnforcementAction.TERMINATE, "pids.limit_hit", 100, 1_500)


def _enforce(f: Fleet, cid: str, action: EnforcementAction, rule: str, minute: int, latency: int) -> None:
    first = f.start + minute * MIN
    vid = stable_id("v", cid, rule)
    cmd_id = stable_id("cmd", cid, action)
    cmd = EnforcementCommand(
        event_id=stable_id("cmdev", cid, action), container_id=cid, time=first + 2000, host="host-a",
        command_id=cmd_id, action=action, violation_ids=(vid,), rule_ids=(rule,),
        reason=f"{rule} reached the threshold", first_violation_time=first,
    )  # fmt: skip
    f.add(t.ENFORCEMENT, cid, encode(cmd), "commands")
    res = ActionResult(
        event_id=stable_id("act", cid, action), container_id=cid, time=first + latency, host="host-a",
        command_id=cmd_id, action=action, result=ActionOutcome.APPLIED, reason=cmd.reason,
        violation_ids=(vid,), rule_ids=(rule,), command_time=first + 2000, latency_ms=latency,
    )  # fmt: skip
    f.add(t.ACTIONS, cid, encode(res), "actions")


BRIEF = "c-brief-0004"
BRIEF_SAMPLES = 12  # one a second: the sandbox lived 12 s
BRIEF_VIOLATION_S, BRIEF_ACTION_S = 5, 8  # seconds after its start


def build_brief(now: int | None = None, ago_ms: int = 5 * MIN) -> Fleet:
    """A sandbox that lived 12 s, ``ago_ms`` before ``now``: a CPU hog throttled, found and
    terminated (the enforcer's result carries no reason: the command has it)."""
    f = Fleet(now=now or now_ms(), minutes=0)
    start = f.now - ago_ms
    p = policy_for(BRIEF)
    ev = PolicyEvent(container_id=BRIEF, time=start, policy_id=p.policy_id, policy=p, image=IMAGES[BOMB],
                     sandbox_name="sb-brief")  # fmt: skip
    f.add(t.POLICIES, BRIEF, encode(ev), "sandboxes")
    for s in range(BRIEF_SAMPLES):
        sample = MetricSample(
            event_id=stable_id("brief", s), container_id=BRIEF, time=start + s * 1000 + 100,
            interval_ms=1000 if s else None, cpu_percent=min(25.0, 5.0 * (s + 1)) if s else None,
            cpu_throttled_periods_total=max(0, s - 4) * 10, memory_usage_bytes=(8 + s) * MB,
            memory_limit_bytes=256 * MB, pids_current=2 + s % 2, pids_max=10,
        )  # fmt: skip
        f.add(t.METRICS, BRIEF, encode(sample), "metrics")
    _brief_story(f, start)
    f.add(t.POLICIES, BRIEF, None, "sandboxes")
    return f


def _brief_story(f: Fleet, start: int) -> None:
    first, last = start + BRIEF_VIOLATION_S * 1000, start + (BRIEF_VIOLATION_S + 2) * 1000
    v = Violation(
        event_id=stable_id("brief-v"), container_id=BRIEF, time=last, violation_id=stable_id("brief-v-id"),
        rule_id="cpu.throttled", violation_type=SecurityViolationType.RESOURCE_LIMIT_EXCEEDED,
        severity=Severity.MEDIUM, title="CPU pinned at its quota", message="CPU throttled in 80% of periods",
        count=3, first_seen=first, last_seen=last, sample_time=last, disposition=Disposition.TERMINATED,
    )  # fmt: skip
    f.add(t.VIOLATIONS, BRIEF, encode(v), "violation_events")
    cmd = EnforcementCommand(
        event_id=stable_id("brief-cmd"), container_id=BRIEF, time=last + 200, command_id=stable_id("brief-c"),
        action=EnforcementAction.TERMINATE, violation_ids=(v.violation_id,), rule_ids=("cpu.throttled",),
        reason="3 violations within 120 s (cpu.throttled) reached the threshold", first_violation_time=first,
    )  # fmt: skip
    f.add(t.ENFORCEMENT, BRIEF, encode(cmd), "commands")
    done = start + BRIEF_ACTION_S * 1000
    res = ActionResult(
        event_id=stable_id("brief-act"), container_id=BRIEF, time=done, command_id=cmd.command_id,
        action=cmd.action, result=ActionOutcome.APPLIED, violation_ids=cmd.violation_ids,
        rule_ids=cmd.rule_ids, command_time=cmd.time, latency_ms=done - first,
    )  # fmt: skip
    f.add(t.ACTIONS, BRIEF, encode(res), "actions")
