"""What sandbox operations return, and what the manager knows of a sandbox's fate.

Pydantic models because callers keep, log and serialise them (``model_dump``); built
once per operation, off the hot loops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SandboxStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # by the enforcer; operations are refused until it unpauses
    TERMINATED = "terminated"  # by the enforcer, the kernel or someone outside the manager
    EXPIRED = "expired"  # its execution_timeout is over
    DESTROYED = "destroyed"  # by destroy_sandbox() or cleanup()


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecResult(_Frozen):
    """One command's outcome. Output beyond ``output_limit`` bytes per stream is dropped
    (the command keeps running); the ``*_truncated`` flags and ``*_bytes`` totals say so."""

    sandbox_id: str
    command: str
    exit_code: int | None = Field(description="None when the engine could not report one")
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    timeout: float = Field(description="seconds the command was given")
    duration_ms: float = 0.0
    output_limit: int = Field(description="bytes kept per stream")
    stdout_bytes: int = Field(0, description="bytes the command wrote to stdout, kept or not")
    stderr_bytes: int = 0
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed_processes: int = Field(0, description="processes killed when the timeout struck")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated


class FileType(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"


class FileInfo(_Frozen):
    path: str = Field(description="absolute path inside the sandbox")
    name: str
    type: FileType
    size: int
    mode: int = Field(description="permission bits, e.g. 0o644")
    mtime: datetime
    link_target: str | None = None


class Termination(_Frozen):
    """When and why a sandbox stopped running commands."""

    at: datetime
    reason: str
    source: str = Field(description="enforcer, engine (seen stopped) or manager")
    action: str = "terminate"
    command_id: str | None = None
    rule_ids: tuple[str, ...] = ()
    violation_ids: tuple[str, ...] = ()
    exit_code: int | None = None
    oom_killed: bool = False
    note: str = Field("", description="what the enforcer said of its action, when anything")

    def describe(self) -> str:
        why = self.reason or "no reason given"
        rules = f" (rules: {', '.join(self.rule_ids)})" if self.rule_ids else ""
        return f"at {self.at.isoformat()} by {self.source}: {why}{rules}"


def utc_from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)
