"""Per-container state of the engine: small, bounded, versioned, serialisable to JSON bytes.

It lives in a Faust table (one record per container, changelogged) or in a dict
(embedded). Every collection has a cap, so a container that misbehaves for hours holds
no more than a few KiB; what a cap evicts is reported, never dropped silently (an
evicted finding is closed with its count).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from processors.exceptions import StateVersionError

STATE_VERSION = 1
# Level samples kept per container: ≥ the largest K a policy may set (1000), so any K of
# W can be reached; at 1 sample/s that is also 17 minutes of the 3-hour max window.
MAX_WINDOW_SAMPLES = 1024
# Open findings per container; each is ~0.5 KiB with its evidence.
MAX_FINDINGS = 64
# Processes already judged (pid and start time), so a process in every full snapshot is
# judged once; 512 > the default max_processes (50) tenfold.
MAX_JUDGED = 512
# Violations remembered for escalation: thresholds above this are clamped to it.
MAX_ESCALATION = 1000
# Samples kept as a finding's evidence.
MAX_EVIDENCE_SAMPLES = 10

# Live processes known from kernel exec events; 512 > the default max_processes tenfold.
MAX_KPROCS = 512
# Pids judged from a kernel exec (a snapshot does not judge them again); a snapshot lags
# its sample by up to a few seconds, and 1024 execs is ~0.5 s of a busy exec loop.
MAX_KJUDGED = 1024
# Connections counted open from kernel events: past max_network_connections (≥ 0, 10 by
# default) by far; a connection never seen closing leaves with its process.
MAX_CONNS = 1024

# Bits of a level sample's flags, one per level rule.
MEM, CPU, PROCS, SOCKS, FDS = 1, 2, 4, 8, 16
LEVEL_BITS = (MEM, CPU, PROCS, SOCKS, FDS)


def finding_key(rule_id: str, subject: str) -> str:
    """A finding's key in ``ContainerState.findings``: one per rule and subject."""
    return f"{rule_id}\x1f{subject}"


@dataclass(slots=True)
class Finding:
    """One open violation: a rule, a subject, a dedup window; repeats raise ``count``."""

    rule_id: str
    subject: str
    violation_id: str
    bucket: int  # dedup window index: event time // dedup window
    first_seen: int
    last_seen: int
    sample_time: int
    count: int = 1
    emitted_count: int = 1  # the count last published
    emitted_at: int = 0  # event time of the last publication
    disposition: str = "detected"
    host: str = ""
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_list(self) -> list[Any]:
        return [self.rule_id, self.subject, self.violation_id, self.bucket, self.first_seen,
                self.last_seen, self.sample_time, self.count, self.emitted_count, self.emitted_at,
                self.disposition, self.host, self.message, self.evidence]  # fmt: skip

    @classmethod
    def from_list(cls, v: list[Any]) -> Finding:
        return cls(*v)


@dataclass(slots=True)
class KProc:
    """A live process as the kernel events told it (see ``processors.engine.proctable``)."""

    pid: int
    ppid: int
    pgid: int
    time: int  # epoch ms of the exec
    name: str
    flags: int
    stdin: str = ""  # fd 0's target ("pipe:[12]") when the collector gives it
    stdout: str = ""
    connected: int = 0  # epoch ms of its latest inet connect, 0: none
    dest: str = ""  # that connect's destination

    def to_list(self) -> list[object]:
        return [self.pid, self.ppid, self.pgid, self.time, self.name, self.flags, self.stdin,
                self.stdout, self.connected, self.dest]  # fmt: skip

    @classmethod
    def from_list(cls, v: list[object]) -> KProc:
        return cls(*v)  # type: ignore[arg-type]

    def has(self, bit: int) -> bool:
        return bool(self.flags & bit)


# A level sample: (time, flags, memory bytes, cpu %, processes, connections, open fds).
LevelSample = tuple[int, int, int, float, int, int, int]
# A throttling sample: (time, CFS periods elapsed, periods throttled).
ThrottleSample = tuple[int, int, int]


@dataclass(slots=True)
class ContainerState:
    container_id: str
    version: int = STATE_VERSION
    host: str = ""
    last_time: int = 0  # newest event time seen, any topic
    # Previous metric sample: its time and cumulative counters, for deltas.
    metric_time: int = -1  # -1: no sample yet
    prev_cpu_ns: int = 0
    prev_periods: int = 0
    prev_throttled: int = 0
    prev_failcnt: int = 0
    prev_ooms: int = 0
    prev_pids_events: int = 0
    # Level samples within W that crossed at least one level, and the count per rule.
    levels: deque[LevelSample] = field(default_factory=deque)
    level_counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    # CFS periods within W, with running sums.
    throttle: deque[ThrottleSample] = field(default_factory=deque)
    periods_sum: int = 0
    throttled_sum: int = 0
    findings: dict[str, Finding] = field(default_factory=dict)
    next_expiry: int = 0  # event time at which the oldest finding's window ends; 0: none
    escalation: deque[tuple[int, str, str]] = field(default_factory=deque)  # (time, violation id, rule)
    enforced: str = ""  # last enforcement action issued
    enforced_at: int = 0
    cpu_factor: float = 1.0  # expected share of the policy's CPU (after a throttle)
    judged: dict[str, int] = field(default_factory=dict)  # "pid:start" -> pid
    # Kernel events: seen at all (then argv hints are off), live processes, judged pids,
    # open connections (key -> pid).
    kernel: bool = False
    procs: dict[int, KProc] = field(default_factory=dict)
    kjudged: dict[int, int] = field(default_factory=dict)
    conns: dict[str, int] = field(default_factory=dict)
    # Kept for the wrappers (runner, Faust): last source offset per topic, and outputs not
    # yet known to be delivered (id, topic, key, value), re-sent after a crash.
    offsets: dict[str, int] = field(default_factory=dict)
    outbox: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "v": self.version, "c": self.container_id, "h": self.host, "lt": self.last_time,
            "m": [self.metric_time, self.prev_cpu_ns, self.prev_periods, self.prev_throttled,
                  self.prev_failcnt, self.prev_ooms, self.prev_pids_events],
            "l": list(self.levels), "lc": self.level_counts,
            "t": list(self.throttle), "ts": [self.periods_sum, self.throttled_sum],
            "f": [f.to_list() for f in self.findings.values()], "nx": self.next_expiry,
            "e": list(self.escalation), "en": [self.enforced, self.enforced_at, self.cpu_factor],
            "j": self.judged, "o": self.offsets,
            # Kernel state only where kernel events came (most states on the hot path have none).
            "k": [self.kernel, [p.to_list() for p in self.procs.values()], list(self.kjudged.items()),
                  list(self.conns.items())] if self.kernel else None,
            "ob": [[i, t, k, v.decode()] for i, t, k, v in self.outbox],
        })  # fmt: skip

    @classmethod
    def from_bytes(cls, data: bytes) -> ContainerState:
        d = orjson.loads(data)
        if d.get("v") != STATE_VERSION:
            raise StateVersionError(d.get("c", ""), d.get("v"), STATE_VERSION)
        s = cls(container_id=d["c"], host=d["h"], last_time=d["lt"])
        (s.metric_time, s.prev_cpu_ns, s.prev_periods, s.prev_throttled, s.prev_failcnt,
         s.prev_ooms, s.prev_pids_events) = d["m"]  # fmt: skip
        s.levels = deque(tuple(x) for x in d["l"])
        s.level_counts = d["lc"]
        s.throttle = deque(tuple(x) for x in d["t"])
        s.periods_sum, s.throttled_sum = d["ts"]
        s.findings = {finding_key(x[0], x[1]): Finding.from_list(x) for x in d["f"]}
        s.next_expiry = d["nx"]
        s.escalation = deque(tuple(x) for x in d["e"])
        s.enforced, s.enforced_at, s.cpu_factor = d["en"]
        s.judged = d["j"]
        if d.get("k"):  # none before kernel events came (or in a state written before them)
            kernel, procs, kjudged, conns = d["k"]
            s.kernel = kernel
            s.procs = {p[0]: KProc.from_list(p) for p in procs}
            s.kjudged = dict(kjudged)
            s.conns = dict(conns)
        s.offsets = d["o"]
        s.outbox = [(i, t, k, v.encode()) for i, t, k, v in d["ob"]]
        return s
