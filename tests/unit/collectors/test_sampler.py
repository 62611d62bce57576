"""A container's sample built from recorded trees: values, partial results, vanished
processes and containers, process snapshots (full and delta) and limits."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collectors.buffer import Out
from collectors.exceptions import ContainerGoneError
from collectors.metrics import CollectorMetrics
from collectors.sampler import ContainerSampler, SamplerContext
from schemas import topics
from schemas.codec import decode
from schemas.events import LimitsSample, MetricSample, ProcessSnapshot
from tests.unit.collectors.conftest import (
    BOOT_S,
    INIT_PID,
    TREES,
    V1_ID,
    V2_ID,
    FakeClock,
    cgroup_dir,
    info,
)

MakeCtx = Callable[..., SamplerContext]


class Harness:
    """A sampler over a private tree, sampled with the fake clock; events decoded back."""

    def __init__(
        self, root: Path, name: str, ctx: SamplerContext, clock: FakeClock, **info_args: Any
    ) -> None:
        self.root, self.name, self.clock = root, name, clock
        self.sampler = ContainerSampler(info(TREES[name], **info_args), ctx)

    def sample(self, advance_s: float = 1.0) -> list[Any]:
        self.clock.advance(advance_s)
        out: list[Out] = []
        self.sampler.sample(self.clock.monotonic(), self.clock.time_ms(), out)
        assert all(key == TREES[self.name] for _, key, _ in out)
        return [decode(topic, value) for topic, value in ((t, v) for t, _, v in out)]

    def cg(self, controller: str) -> Path:
        return cgroup_dir(self.root, self.name, controller)


@pytest.fixture
def harness(tree: Callable[[str], Path], make_ctx: MakeCtx, clock: FakeClock) -> Callable[..., Harness]:
    def make(name: str = "v1_cgroupfs", ctx_args: dict[str, Any] | None = None, **info_args: Any) -> Harness:
        root = tree(name)
        return Harness(root, name, make_ctx(root, **(ctx_args or {})), clock, **info_args)

    return make


def only(events: list[Any], kind: type) -> Any:
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, (kind, events)
    return found[0]


def test_v1_first_sample(harness: Callable[..., Harness]) -> None:
    h = harness()
    events = h.sample()
    m = only(events, MetricSample)
    assert m.container_id == V1_ID and m.host == "test-host" and m.partial == ()
    assert m.interval_ms is None and m.cpu_percent is None  # no previous sample
    assert m.memory_limit_bytes == 96 << 20 and m.memory_usage_bytes > 20 << 20
    assert m.memory_working_set_bytes == m.memory_usage_bytes  # no inactive page cache recorded
    assert (m.pids_current, m.pids_max, m.pids_max_events_total) == (3, 30, 0)
    assert m.open_fds == 16 + 3 + 3
    assert (m.sockets.tcp, m.sockets.udp, m.sockets.connections) == (7, 1, 8)
    lim = only(events, LimitsSample)
    assert (lim.memory_limit_bytes, lim.memory_swap_limit_bytes) == (96 << 20, 96 << 20)
    assert (lim.cpu_quota_us, lim.cpu_period_us, lim.pids_max) == (50_000, 100_000, 30)
    assert (lim.nofile_soft, lim.nofile_hard) == (1024, 2048)
    snap = only(events, ProcessSnapshot)
    assert snap.full and snap.seq == 0 and snap.count == 3
    by_pid = {p.pid: p for p in snap.processes}
    assert by_pid[4518].argv == ("sleep", "1000") and by_pid[4518].uid == 1000
    assert by_pid[4518].ns_pid == 7 and by_pid[4518].ppid == 4487
    assert by_pid[4487].exe == "/usr/bin/python3.11" and by_pid[4487].comm == "python3"
    assert by_pid[4487].start_time == BOOT_S * 1000 + 110470 * 10  # 100 ticks/s


def test_v2_systemd_sample(harness: Callable[..., Harness]) -> None:
    h = harness("v2_systemd")
    m = only(events := h.sample(), MetricSample)
    assert m.container_id == V2_ID and m.partial == ()
    assert (m.cpu_usage_ns_total, m.cpu_periods_total, m.cpu_throttled_periods_total) == (1254312000, 42, 9)
    assert m.cpu_throttled_ns_total == 402118000
    assert (m.memory_usage_bytes, m.memory_working_set_bytes) == (27082752, 27082752 - 1191936)
    assert (m.memory_failcnt_total, m.memory_oom_kills_total) == (37, 2)
    assert (m.pids_current, m.pids_max, m.pids_max_events_total) == (3, 30, 4)
    lim = only(events, LimitsSample)
    assert (lim.memory_limit_bytes, lim.memory_swap_limit_bytes) == (96 << 20, 96 << 20)  # + swap.max 0
    assert (lim.cpu_quota_us, lim.cpu_period_us) == (50_000, 100_000)


def test_v1_systemd_sample(harness: Callable[..., Harness]) -> None:
    m = only(harness("v1_systemd").sample(), MetricSample)
    # failcnt: 37 charges failed at the memory limit, 5 at memory+swap.
    assert (m.memory_failcnt_total, m.memory_oom_kills_total, m.pids_max_events_total) == (42, 2, 4)
    assert m.memory_working_set_bytes == m.memory_usage_bytes - 1191936
    assert m.cpu_throttled_ns_total == 402118467


def test_cpu_percent_over_the_interval(harness: Callable[..., Harness]) -> None:
    h = harness()
    first = only(h.sample(), MetricSample)
    usage = h.cg("cpuacct") / "cpuacct.usage"
    usage.write_text(f"{first.cpu_usage_ns_total + 500_000_000}\n")  # half a CPU-second
    second = only(h.sample(advance_s=1.0), MetricSample)
    assert second.interval_ms == 1000
    assert second.cpu_percent == pytest.approx(50.0)


def test_a_failing_family_is_skipped_and_counted(
    harness: Callable[..., Harness], metrics: CollectorMetrics
) -> None:
    h = harness()
    (h.cg("memory") / "memory.stat").unlink()
    m = only(h.sample(), MetricSample)
    assert m.partial == ("memory",)
    assert m.memory_usage_bytes == 0 and m.cpu_usage_ns_total > 0 and m.pids_current == 3
    assert metrics.read_errors.labels("memory")._value.get() == 1


def test_garbage_in_a_file_is_partial_not_a_crash(harness: Callable[..., Harness]) -> None:
    h = harness()
    (h.cg("pids") / "pids.current").write_text("garbage\n")
    m = only(h.sample(), MetricSample)
    assert m.partial == ("pids",)
    assert m.open_fds == 22  # the process list still came from cgroup.procs


def test_vanished_pid_is_not_an_error(harness: Callable[..., Harness], metrics: CollectorMetrics) -> None:
    h = harness()
    with (h.cg("pids") / "cgroup.procs").open("a") as f:
        f.write("5555\n")  # listed, then exited before its /proc entry was read
    events = h.sample()
    snap = only(events, ProcessSnapshot)
    assert snap.count == 3 and 5555 not in {p.pid for p in snap.processes}
    assert only(events, MetricSample).partial == ()
    assert metrics.read_errors.labels("processes")._value.get() == 0


def test_container_with_no_processes(harness: Callable[..., Harness]) -> None:
    h = harness()
    (h.cg("pids") / "cgroup.procs").write_text("")
    events = h.sample()
    snap = only(events, ProcessSnapshot)
    assert snap.full and snap.processes == () and snap.count == 0
    assert only(events, MetricSample).open_fds == 0


def test_container_gone_before_its_first_read(harness: Callable[..., Harness]) -> None:
    h = harness()
    for controller in ("cpuacct", "cpu", "memory", "pids"):
        shutil.rmtree(h.cg(controller), ignore_errors=True)
    with pytest.raises(ContainerGoneError) as err:
        h.sample()
    assert err.value.container_id == V1_ID


def test_deltas_between_full_snapshots(harness: Callable[..., Harness]) -> None:
    h = harness(ctx_args={"full_every": 4})
    assert only(h.sample(), ProcessSnapshot).full
    assert not [e for e in h.sample() if isinstance(e, ProcessSnapshot)]  # nothing changed: no delta
    procs = h.cg("pids") / "cgroup.procs"
    procs.write_text("4487\n4518\n")
    delta = only(h.sample(), ProcessSnapshot)
    assert (delta.full, delta.seq, delta.exited, delta.processes, delta.count) == (False, 1, (4519,), (), 2)
    # A new process: a copy of 4518's entry under a new pid.
    shutil.copytree(h.root / "proc/4518", h.root / "proc/4600", symlinks=True)
    procs.write_text("4487\n4518\n4600\n")
    new = only(h.sample(), ProcessSnapshot)
    assert (new.full, new.seq, [p.pid for p in new.processes], new.count) == (False, 2, [4600], 3)
    full = only(h.sample(), ProcessSnapshot)  # the 5th sample (n=4): a full one is due
    assert full.full and full.seq == 3 and {p.pid for p in full.processes} == {4487, 4518, 4600}


def test_exec_is_detected_from_stat(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.sample()
    stat = h.root / "proc/4518/stat"
    fields = stat.read_text().split(" ")
    fields[1] = "(rm)"
    fields[27] = str(int(fields[27]) + 4096)  # startstack moves: a new program image
    stat.write_text(" ".join(fields))
    (h.root / "proc/4518/cmdline").write_bytes(b"rm\0-rf\0/work\0")
    delta = only(h.sample(), ProcessSnapshot)
    (p,) = delta.processes
    assert (p.pid, p.comm, p.argv) == (4518, "rm", ("rm", "-rf", "/work"))


def test_limits_on_change_and_as_heartbeat(harness: Callable[..., Harness]) -> None:
    h = harness(ctx_args={"limits_every": 2, "limits_heartbeat_every": 6})
    kinds = [[type(e) for e in h.sample()] for _ in range(3)]
    assert [LimitsSample in k for k in kinds] == [True, False, False]  # unchanged at sample 2
    (h.cg("cpu") / "cpu.cfs_quota_us").write_text("-1\n")
    h.sample()  # sample 3: not a limits read
    lim = only(h.sample(), LimitsSample)  # sample 4: read, changed
    assert lim.cpu_quota_us is None
    later = [any(isinstance(e, LimitsSample) for e in h.sample()) for _ in range(6)]
    assert later == [False, False, False, False, False, True]  # heartbeat 6 samples after


def test_disk_usage_through_the_container_root(harness: Callable[..., Harness], tmp_path: Path) -> None:
    h = harness(disk_mounts=("/scratch",))
    (h.root / "proc/4487/root/scratch").mkdir(parents=True)
    m = only(h.sample(), MetricSample)
    assert m.disk_usage_bytes is not None and m.disk_usage_bytes > 0
    assert only(harness("v2_systemd").sample(), MetricSample).disk_usage_bytes is None


def test_tcp_states_only_when_asked(harness: Callable[..., Harness]) -> None:
    assert only(harness().sample(), MetricSample).sockets.tcp_states == {}
    m = only(harness("v2_systemd", ctx_args={"tcp_states_every": 1}).sample(), MetricSample)
    assert m.sockets.tcp_states == {"listen": 1, "established": 6}


def test_events_are_valid_wire_events(harness: Callable[..., Harness]) -> None:
    h = harness()
    out: list[Out] = []
    h.sampler.sample(1.0, 1_800_000_000_000, out)
    assert [t for t, _, _ in out] == [topics.METRICS, topics.METRICS, topics.PROCESSES]
    ids = {decode(t, v).event_id for t, _, v in out}
    assert len(ids) == 3


def test_close_releases_every_descriptor(harness: Callable[..., Harness], make_ctx: MakeCtx) -> None:
    h = harness()
    h.sample()
    budget = h.sampler._ctx.budget
    assert budget.used > 10
    h.sampler.close()
    assert budget.used == 0


def test_init_exited_before_the_cgroup_was_removed(harness: Callable[..., Harness]) -> None:
    h = harness()
    shutil.rmtree(h.root / "proc/4487")  # the init process is gone, its cgroup not yet
    with pytest.raises(ContainerGoneError):
        h.sample()


def test_no_pids_controller_is_partial_not_a_read_error_every_second(
    tree: Callable[[str], Path], make_ctx: MakeCtx, clock: FakeClock, metrics: CollectorMetrics
) -> None:
    """A host without the pids controller: the processes still come from the memory cgroup;
    the missing counters are named in ``partial`` like a missing family, not counted (and
    logged) as a failed read at every sample."""
    root = tree("v1_cgroupfs")
    cgroup = root / "proc" / str(INIT_PID) / "cgroup"
    cgroup.write_text("".join(line for line in cgroup.read_text().splitlines(True) if ":pids:" not in line))
    h = Harness(root, "v1_cgroupfs", make_ctx(root), clock)
    samples = [h.sample() for _ in range(3)]
    assert only(samples[0], ProcessSnapshot).count == 3
    assert [only(e, MetricSample).partial for e in samples] == [("pids",)] * 3
    assert metrics.read_errors.labels("pids")._value.get() == 0
