"""Factories for engine tests: policies, contexts, events with explicit timestamps, and a
feed that runs events through the engine and keeps everything it emitted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from processors.engine import ContainerState, PolicyContext, compile_policy, step
from processors.engine.step import EngineEvent
from processors.metrics import ProcessorMetrics
from processors.pipeline import Pipeline
from processors.stores import PolicyStore, StateStore
from schemas import (
    AuditCategory,
    AuditEvent,
    ConnectEvent,
    DetectionSettings,
    EnforcementCommand,
    ExecEvent,
    ExitEvent,
    MetricSample,
    ProcessInfo,
    ProcessSnapshot,
    ResourceLimits,
    SecurityPolicy,
    StdioKind,
    Violation,
)

CID = "c" * 12
MIB = 1024 * 1024


def make_policy(**kw: Any) -> SecurityPolicy:
    """A policy whose escalation stays out of the way unless a test asks for it."""
    detection = kw.pop("detection", {})
    limits = kw.pop("limits", {})
    base: dict[str, Any] = {"violation_threshold": 1000, "auto_terminate_on_violation": False}
    base.update(kw)
    return SecurityPolicy(
        resource_limits=ResourceLimits(**limits),
        detection=DetectionSettings(**detection),
        **base,
    )


def make_pipeline(
    default: SecurityPolicy, states: dict[str, bytes] | None = None, policies: dict[str, bytes] | None = None
) -> Pipeline:
    """The message path over dicts (as the embedded runner has it), no clock: outputs are
    the same in every run."""
    return Pipeline(
        states=StateStore({} if states is None else states),
        policies=PolicyStore({} if policies is None else policies, default),
        metrics=ProcessorMetrics(),
        clock=None,
    )


def metric(t_s: float, **kw: Any) -> MetricSample:
    return MetricSample(container_id=kw.pop("container_id", CID), host="h1", time=int(t_s * 1000), **kw)


def proc(pid: int, comm: str, *argv: str, exe: str | None = None, start: int = 0) -> ProcessInfo:
    return ProcessInfo(pid=pid, ns_pid=pid, ppid=1, uid=1000, comm=comm, exe=exe, argv=argv, start_time=start)


def snapshot(
    t_s: float, *procs: ProcessInfo, full: bool = True, exited: tuple[int, ...] = ()
) -> ProcessSnapshot:
    return ProcessSnapshot(
        container_id=CID, host="h1", time=int(t_s * 1000), full=full, processes=procs, exited=exited
    )


def audit(t_s: float, category: str, action: str, subject: str | None = None, **kw: Any) -> AuditEvent:
    return AuditEvent(
        container_id=CID,
        host="h1",
        time=int(t_s * 1000),
        category=AuditCategory(category),
        action=action,
        subject=subject,
        **kw,
    )


PIPE, INET, TTY, NULL = StdioKind.PIPE, StdioKind.INET, StdioKind.TTY, StdioKind.DEV
Stdio = tuple[StdioKind, StdioKind, StdioKind]


def kexec(t_s: float, pid: int, filename: str, *argv: str, exe: str | None = None, **kw: Any) -> ExecEvent:
    """An exec event as the kernel collector makes it: ``exe`` defaults to ``filename``,
    the program to its basename, stdio and the parent's to pipes."""
    kw.setdefault("ppid", 1)
    kw.setdefault("stdio", (PIPE, PIPE, PIPE))
    kw.setdefault("parent_stdio", (PIPE, PIPE, PIPE))
    return ExecEvent(
        container_id=CID, host="h1", time=int(t_s * 1000), pid=pid, ns_pid=pid, uid=1000,
        filename=filename, exe=exe if exe is not None else filename,
        program=filename.rsplit("/", 1)[-1], argv=argv or (filename,), comm=filename.rsplit("/", 1)[-1][:15],
        cwd=kw.pop("cwd", "/work"), **kw,
    )  # fmt: skip


def kconnect(t_s: float, pid: int, daddr: str, dport: int, **kw: Any) -> ConnectEvent:
    kw.setdefault("result", 0)
    kw.setdefault("family", "inet6" if ":" in daddr else "inet")
    return ConnectEvent(
        container_id=CID, host="h1", time=int(t_s * 1000), pid=pid, ns_pid=pid, daddr=daddr, dport=dport, **kw
    )


def kexit(t_s: float, pid: int) -> ExitEvent:
    return ExitEvent(container_id=CID, host="h1", time=int(t_s * 1000), pid=pid, exit_code=0)


@dataclass
class Feed:
    """Runs events through the engine for one container, collecting outputs."""

    ctx: PolicyContext
    state: ContainerState | None = None
    violations: list[Violation] = field(default_factory=list)
    commands: list[EnforcementCommand] = field(default_factory=list)

    def __call__(self, *events: EngineEvent) -> tuple[list[Violation], list[EnforcementCommand]]:
        vs: list[Violation] = []
        cs: list[EnforcementCommand] = []
        for ev in events:
            r = step(self.state, self.ctx, ev)
            self.state = r.state
            vs += r.violations
            cs += r.commands
        self.violations += vs
        self.commands += cs
        return vs, cs

    def rules(self) -> list[tuple[str, str, int]]:
        return [(v.rule_id, v.activity.value, v.count) for v in self.violations]


@pytest.fixture
def feed() -> Callable[..., Feed]:
    def make(policy: SecurityPolicy | None = None, **kw: Any) -> Feed:
        pol = policy or make_policy(**kw)
        return Feed(PolicyContext(compile_policy(pol), container_name="sg-test", image="img:1"))

    return make
