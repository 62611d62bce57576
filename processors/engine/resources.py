"""Metric rules: attempts against kernel-held limits, and levels judged as K of the samples in W.

Attempts (DESIGN.md principle 4): when the kernel holds a limit, usage never passes it,
so the signal is the kernel's own counters growing between two samples: pids ``max``
events (a fork bomb), OOM kills, memory fail counts; and CFS throttling in most periods
over the window (a miner pinned at its quota). A container's first sample counts from
zero: its counters started at zero when it was created.

Levels apply where nothing caps the value (or limits drifted): a level rule fires when
at least K samples within W crossed it, W being the half-open interval (t - W, t].
Crossing means strictly over: memory over limit × tolerance, CPU over limit ×
tolerance, processes over max_processes, connections over max_network_connections,
open files over max_open_files.

The disk level (``disk.level``) is one sample over 90 % of the workspace quota (/work and
/tmp): disk use only grows by writing, and a full workspace refuses writes with ENOSPC, so
it informs and counts toward no escalation (schemas.rules ADVISORY_RULES).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.engine.findings import StepRun
from processors.engine.policy import CompiledPolicy
from processors.engine.record import record, record_lazy
from processors.engine.state import (
    CPU,
    FDS,
    LEVEL_BITS,
    MAX_EVIDENCE_SAMPLES,
    MAX_WINDOW_SAMPLES,
    MEM,
    PROCS,
    SOCKS,
    ContainerState,
    LevelSample,
)
from schemas import MetricSample
from schemas.policy import MIB, workspace_quota_mb

_LEVEL_RULES = {
    MEM: "memory.level",
    CPU: "cpu.level",
    PROCS: "processes.level",
    SOCKS: "sockets.level",
    FDS: "open_files.level",
}
_BIT_INDEX = {bit: i for i, bit in enumerate(LEVEL_BITS)}
# Per level: the level in force and what crossed it, from the newest sample over it.
_LEVEL_TEXT: dict[int, Callable[[CompiledPolicy, LevelSample], tuple[float, str]]] = {
    MEM: lambda p, s: (
        p.memory_level_bytes,
        f"memory {_mib(s[2])} over {_mib(int(p.memory_level_bytes))} ({p.limits.memory_mb} MiB × tolerance)",
    ),
    CPU: lambda p, s: (
        p.cpu_level_percent,
        f"CPU {s[3]:.1f} % over {p.cpu_level_percent:.1f} % ({p.cpu_percent:g} % × tolerance)",
    ),
    PROCS: lambda p, s: (p.max_processes, f"{s[4]} processes over max_processes {p.max_processes}"),
    SOCKS: lambda p, s: (
        p.max_connections,
        f"{s[5]} connections over max_network_connections {p.max_connections}",
    ),
    FDS: lambda p, s: (p.max_open_files, f"{s[6]} open files over max_open_files {p.max_open_files}"),
}
_SUBJECT = {bit: rule.split(".", 1)[0] for bit, rule in _LEVEL_RULES.items()}


def on_metric(run: StepRun, m: MetricSample) -> None:
    # Runs for every sample: attribute reads are localised and the arithmetic inlined.
    state = run.state
    t = m.time
    last = state.metric_time
    if t <= last:
        return  # a duplicate or a late sample: its deltas were already counted
    pol = run.ctx.policy
    cpu = m.cpu_percent
    if cpu is None:
        cpu = _cpu_percent(state, m.cpu_usage_ns_total, t, last)
    pids_events, ooms, failcnt = m.pids_max_events_total, m.memory_oom_kills_total, m.memory_failcnt_total
    if pids_events != state.prev_pids_events or ooms != state.prev_ooms or failcnt != state.prev_failcnt:
        _attempts(run, m)
    periods = m.cpu_periods_total
    if periods != state.prev_periods:  # no CFS period elapsed: nothing to judge
        _throttling(run, m, t)
    mem = m.memory_working_set_bytes or m.memory_usage_bytes
    so = m.sockets
    conns = so.tcp + so.udp + so.tcp6 + so.udp6
    procs, fds = m.pids_current, m.open_fds
    flags = MEM if mem > pol.memory_level_bytes else 0
    if cpu > pol.cpu_level_percent:
        flags |= CPU
    if procs > pol.max_processes:
        flags |= PROCS
    if conns > pol.max_connections:
        flags |= SOCKS
    if fds > pol.max_open_files:
        flags |= FDS
    if flags or state.levels:
        _levels(run, (t, flags, mem, cpu, procs, conns, fds))
    disk = m.disk_usage_bytes
    if disk is not None and disk > pol.disk_level_bytes:
        _disk_level(run, m, disk)
    state.metric_time = t
    state.prev_cpu_ns = m.cpu_usage_ns_total
    state.prev_periods = periods
    state.prev_throttled = m.cpu_throttled_periods_total
    state.prev_failcnt = failcnt
    state.prev_ooms = ooms
    state.prev_pids_events = pids_events


def _delta(now: int, before: int) -> int:
    """Growth of a cumulative counter; a counter that went back restarted from zero."""
    return now - before if now >= before else now


def _cpu_percent(state: ContainerState, used_total: int, t: int, last: int) -> float:
    """Percent of one CPU since the previous sample at ``last`` (-1: none yet, 0 %)."""
    if last < 0:
        return 0.0
    before = state.prev_cpu_ns
    used = used_total - before if used_total >= before else used_total
    return used / ((t - last) * 1e6) * 100.0


def _attempts(run: StepRun, m: MetricSample) -> None:
    state = run.state
    forks = _delta(m.pids_max_events_total, state.prev_pids_events)
    if forks:
        ev = _sample(m, pids_current=m.pids_current, pids_max=m.pids_max, pids_max_events=forks)
        msg = f"{forks} process creations refused at the pids limit ({m.pids_current}/{m.pids_max})"
        record(run, "pids.limit_hit", "pids", m.time, message=msg, evidence=ev)
    ooms = _delta(m.memory_oom_kills_total, state.prev_ooms)
    if ooms:
        ev = _sample(m, oom_kills=ooms, memory_usage_bytes=m.memory_usage_bytes)
        msg = f"{ooms} process(es) killed by the OOM killer at {_mib(m.memory_usage_bytes)}"
        record(run, "memory.oom_kill", "memory", m.time, message=msg, evidence=ev)
    fails = _delta(m.memory_failcnt_total, state.prev_failcnt)
    if fails:
        ev = _sample(m, memory_failcnt=fails, memory_usage_bytes=m.memory_usage_bytes)
        msg = f"{fails} memory allocations failed at the limit ({_mib(m.memory_usage_bytes)})"
        record(run, "memory.failcnt", "memory", m.time, message=msg, evidence=ev)


def _throttling(run: StepRun, m: MetricSample, t: int) -> None:
    state = run.state
    pol = run.ctx.policy
    periods, before = m.cpu_periods_total, state.prev_periods
    periods = periods - before if periods >= before else periods  # _delta, inlined: every sample
    throttled, before = m.cpu_throttled_periods_total, state.prev_throttled
    throttled = throttled - before if throttled >= before else throttled
    if throttled > periods:  # noqa: PLR1730 - min() is a call, 0.1 µs on every sample
        throttled = periods
    win = state.throttle
    win.append((t, periods, throttled))
    state.periods_sum += periods
    state.throttled_sum += throttled
    edge = t - pol.window_ms
    while win and (win[0][0] <= edge or len(win) > MAX_WINDOW_SAMPLES):
        _, p, th = win.popleft()
        state.periods_sum -= p
        state.throttled_sum -= th
    if not throttled or len(win) < pol.min_samples or state.periods_sum <= 0:
        return
    ratio = state.throttled_sum / state.periods_sum
    if ratio < pol.throttled_ratio:
        return
    ev = _sample(m, throttled_ratio=round(ratio, 3), periods=state.periods_sum,
                 throttled_periods=state.throttled_sum, samples=len(win))  # fmt: skip
    msg = f"CPU throttled in {ratio:.0%} of {state.periods_sum} periods over {len(win)} samples"
    record(run, "cpu.throttled", "cpu", t, message=msg, evidence=ev)


def _levels(run: StepRun, sample: LevelSample) -> None:
    state = run.state
    pol = run.ctx.policy
    t, flags = sample[0], sample[1]
    win = state.levels
    counts = state.level_counts
    edge = t - pol.window_ms
    while win and (win[0][0] <= edge or len(win) >= MAX_WINDOW_SAMPLES):
        old = win.popleft()[1]
        for bit in LEVEL_BITS:
            if old & bit:
                counts[_BIT_INDEX[bit]] -= 1
    if not flags:
        return
    win.append(sample)
    for bit in LEVEL_BITS:
        if flags & bit:
            i = _BIT_INDEX[bit]
            counts[i] += 1
            if counts[i] >= pol.min_samples:
                _level_violation(run, bit, t)


def _level_violation(run: StepRun, bit: int, t: int) -> None:
    rule = _LEVEL_RULES[bit]
    record_lazy(run, rule, _SUBJECT[bit], t, lambda: _level_evidence(run, bit))


def _level_evidence(run: StepRun, bit: int) -> tuple[str, dict[str, Any]]:
    pol = run.ctx.policy
    hits = [s for s in run.state.levels if s[1] & bit][-MAX_EVIDENCE_SAMPLES:]
    i = _BIT_INDEX[bit] + 2  # the value's position in a LevelSample
    values = [{"time": s[0], "value": round(s[i], 2) if i == 3 else s[i]} for s in hits]
    limit, what = _LEVEL_TEXT[bit](pol, hits[-1])
    count = run.state.level_counts[_BIT_INDEX[bit]]
    msg = f"{what} in {count} samples within {pol.window_ms / 1000:g} s (K={pol.min_samples})"
    ev = {"samples": [*values, {"limit": limit, "samples_over": count, "window_ms": pol.window_ms}]}
    return msg, ev


def _disk_level(run: StepRun, m: MetricSample, used: int) -> None:
    pol = run.ctx.policy
    quota = workspace_quota_mb(pol.limits.disk_mb) * MIB
    ev = _sample(m, disk_usage_bytes=used, quota_bytes=quota, level_bytes=int(pol.disk_level_bytes))
    msg = f"workspace {_mib(used)} used of {_mib(quota)} (/work and /tmp, disk_mb {pol.limits.disk_mb})"
    record(run, "disk.level", "disk", m.time, message=msg, evidence=ev)


def _sample(m: MetricSample, **values: Any) -> dict[str, Any]:
    return {"samples": [{"time": m.time, **values}]}


def _mib(n: int) -> str:
    return f"{n / MIB:.0f} MiB"
