"""Security policies: what a sandbox may do, and how sandguard reacts when it does more.

Names and defaults follow the original summary (SEED.md). Policies are immutable so
their ``policy_id`` (a hash of the normalised content) stays true for their life;
derive a changed one with ``policy.model_copy(update=...)`` or build a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from schemas.exceptions import PolicyValidationError
from schemas.rules import RULE_IDS

# Sets serialise sorted, so the same policy always has the same JSON and policy_id.
StrSet = Annotated[frozenset[str], PlainSerializer(sorted, return_type=list[str])]


def _each(bad_if: Callable[[str], bool], rule: str) -> AfterValidator:
    """Every item of the set passes, or a ValueError states ``rule`` and lists all that fail."""

    def check(value: frozenset[str]) -> frozenset[str]:
        bad = sorted(v for v in value if bad_if(v))
        if bad:
            raise ValueError(f"{rule}: {bad}")
        return value

    return AfterValidator(check)


def _not_bare_word(v: str) -> bool:
    return not v or "/" in v or any(c.isspace() for c in v)


def _not_absolute(v: str) -> bool:
    return not v.startswith("/")


def _not_extension(v: str) -> bool:
    return not v.startswith(".") or "/" in v or len(v) < 2


def _prefix(v: str) -> str:
    """Normalised so '/etc//' and '/etc/./' mean '/etc/'."""
    return posixpath.normpath(v) + ("/" if v.endswith("/") else "")


_BARE = "must be bare words without '/' or spaces"
ProgramNames = Annotated[StrSet, _each(_not_bare_word, f"program names {_BARE}")]
CommandNames = Annotated[StrSet, _each(_not_bare_word, f"command names {_BARE}")]
ExecutablePaths = Annotated[StrSet, _each(_not_absolute, "executable paths must be absolute")]
FileExtensions = Annotated[
    StrSet,
    _each(_not_extension, "extensions must look like '.txt'"),
    AfterValidator(lambda value: frozenset(v.lower() for v in value)),
]
PathPrefixes = Annotated[
    StrSet,
    _each(_not_absolute, "blocked patterns must be absolute path prefixes"),
    AfterValidator(lambda value: frozenset(_prefix(v) for v in value)),
]

# Docker refuses memory limits under 6 MiB.
MIN_MEMORY_MB = 6
MIB = 1024 * 1024
# CFS: quota/period = CPUs. A 100 ms period is the kernel's (and Docker's) default; 1 ms is
# the smallest quota the kernel accepts, so 1 % of a CPU is the floor cpu_percent can express.
CPU_PERIOD_US = 100_000
MIN_CPU_QUOTA_US = 1_000


# disk_mb is split: /tmp a quarter, /dev/shm a sixteenth (at most 64 MiB, Docker's
# default), /work the rest; each at least 1 MiB.
TMP_SHARE = 4
SHM_SHARE = 16
MAX_SHM_MB = 64
# The longest escalation window a policy may set (a day): a sandbox whose policy has not
# arrived yet keeps its violations this long, so the policy judges its whole window.
MAX_ESCALATION_WINDOW_S = 86_400


@dataclass(frozen=True, slots=True)
class DiskSplit:
    work_mb: int
    tmp_mb: int
    shm_mb: int


def split_disk(disk_mb: int) -> DiskSplit:
    """/work, /tmp and /dev/shm sizes whose sum stays within disk_mb (or 3 MiB when smaller)."""
    tmp = max(1, disk_mb // TMP_SHARE)
    shm = max(1, min(MAX_SHM_MB, disk_mb // SHM_SHARE))
    work = max(1, disk_mb - tmp - shm)
    return DiskSplit(work, tmp, shm)


def workspace_quota_mb(disk_mb: int) -> int:
    """The writable space a sandbox's commands can fill: /work and /tmp (not /dev/shm)."""
    split = split_disk(disk_mb)
    return split.work_mb + split.tmp_mb


def cpu_quota_us(cpu_percent: float, period_us: int = CPU_PERIOD_US) -> int:
    """The CFS quota of ``cpu_percent`` (percent of one CPU: 50 is half a CPU, 200 two)."""
    return max(MIN_CPU_QUOTA_US, round(cpu_percent / 100 * period_us))


def host_cpus() -> int:
    """CPUs this host can give a container: the ceiling for cpu_percent (100 per CPU)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class NetworkPolicy(StrEnum):
    NONE = "none"
    INTERNAL = "internal"
    RESTRICTED = "restricted"
    FULL = "full"


class PolicyMode(StrEnum):
    """enforce: commands act on sandboxes; audit: everything is detected and recorded, nothing acts."""

    ENFORCE = "enforce"
    AUDIT = "audit"


class EscalationResponse(StrEnum):
    """What reaching violation_threshold does when auto_terminate_on_violation is off."""

    ALERT = "alert"
    THROTTLE = "throttle"
    PAUSE = "pause"
    TERMINATE = "terminate"


# Validation context for models read off the bus: host-dependent checks (the CPU bound)
# belong to the host that loaded the policy, not to every host that reads its events.
WIRE_CONTEXT: Final[dict[str, Any]] = {"wire": True}  # read-only by convention


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ResourceLimits(_Frozen):
    memory_mb: int = Field(512, ge=MIN_MEMORY_MB, le=1024 * 1024)
    cpu_percent: float = Field(50.0, gt=0, description="percent of one CPU; 100 per CPU")
    disk_mb: int = Field(1024, gt=0, description="writable space, /work and /tmp together")
    max_processes: int = Field(50, ge=1, le=1_000_000)
    max_open_files: int = Field(1024, ge=16, le=1_048_576)
    max_network_connections: int = Field(10, ge=0)
    execution_timeout: int = Field(300, gt=0, description="sandbox lifetime, seconds")

    @field_validator("cpu_percent")
    @classmethod
    def _cpu_within_host(cls, value: float, info: ValidationInfo) -> float:
        context = info.context or {}
        if context.get("wire"):
            return value  # checked on the host that loaded it; this one may have fewer CPUs
        cpus = context.get("host_cpus") or host_cpus()
        if value > cpus * 100:
            raise ValueError(f"{value} is more than this host's {cpus} CPUs allow ({cpus * 100})")
        return value


class DetectionSettings(_Frozen):
    """Windows and tolerances of the rules (defaults: the original's tolerances)."""

    window_seconds: float = Field(30.0, gt=0, le=3600, description="W of 'K of the samples within W s'")
    min_samples: int = Field(3, ge=1, le=1000, description="K of 'K of the samples within W s'")
    memory_tolerance: float = Field(1.1, ge=1.0)
    cpu_tolerance: float = Field(1.2, ge=1.0)
    cpu_throttled_ratio: float = Field(
        0.5, gt=0, le=1, description="share of CFS periods throttled that counts as pinned"
    )
    escalation_window_seconds: float = Field(300.0, gt=0, le=MAX_ESCALATION_WINDOW_S)
    dedup_window_seconds: float = Field(
        300.0, gt=0, le=86400, description="one violation per rule and container per window"
    )


DEFAULT_BLOCKED_COMMANDS = frozenset({
    "rm", "rmdir", "del", "format", "fdisk", "mkfs", "shutdown", "reboot", "halt",
    "poweroff", "kill", "killall", "pkill", "chmod", "chown", "chgrp", "mount", "umount",
    "sudo", "su", "passwd", "useradd", "userdel", "usermod", "iptables", "netstat", "ss",
    "lsof",
})  # fmt: skip
DEFAULT_EXTENSIONS = frozenset({".txt", ".py", ".js", ".json", ".yaml", ".yml", ".md", ".csv"})
DEFAULT_BLOCKED_PATTERNS = frozenset({
    "/etc/", "/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/proc/", "/sys/", "/dev/",
    "/root/", "/home/",
})  # fmt: skip


class ProgramBaseline(_Frozen):
    """The programs an image's clean runs executed (learned by ``sandguard policy suggest``).

    A program outside it raises ``process.new_program``, explained with this baseline;
    in audit mode (the default) the finding is recorded and never escalates."""

    programs: ProgramNames = frozenset()
    paths: ExecutablePaths = Field(
        frozenset(), description="executables seen (absolute paths); empty: judged by name"
    )
    image: str = Field("", max_length=512, description="the image it was learned from")
    runs: int = Field(0, ge=0, description="clean runs it was learned from")
    learned: str = Field("", max_length=128, description="the window it was learned over")
    mode: PolicyMode = PolicyMode.AUDIT


class SecurityPolicy(_Frozen):
    resource_limits: ResourceLimits = Field(default_factory=ResourceLimits)
    network_policy: NetworkPolicy = NetworkPolicy.NONE
    allowed_commands: CommandNames = frozenset()
    blocked_commands: CommandNames = DEFAULT_BLOCKED_COMMANDS
    allowed_file_extensions: FileExtensions = DEFAULT_EXTENSIONS
    blocked_file_patterns: PathPrefixes = DEFAULT_BLOCKED_PATTERNS
    max_file_size_mb: float = Field(10, gt=0)
    enable_monitoring: bool = True
    violation_threshold: int = Field(5, ge=1)
    auto_terminate_on_violation: bool = True
    # Added by sandguard.
    name: str = Field("default", min_length=1, max_length=128)
    version: str = Field("1", min_length=1, max_length=32)
    mode: PolicyMode = PolicyMode.ENFORCE
    escalation_response: EscalationResponse = EscalationResponse.ALERT
    immediate_rules: StrSet = frozenset({"process.reverse_shell"})
    disabled_rules: StrSet = frozenset()
    suspicious_commands: CommandNames = frozenset()
    allowed_ports: tuple[int, ...] = (53, 80, 443)
    throttle_factor: float = Field(0.5, gt=0, lt=1, description="CPU quota multiplier of a throttle")
    keep_filesystem_on_terminate: bool = False
    allow_workspace_exec: bool = Field(
        False, description="mount /work, /tmp and /dev/shm exec (default noexec): run written files"
    )
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    baseline: ProgramBaseline | None = None

    @field_validator("immediate_rules", "disabled_rules")
    @classmethod
    def _known_rules(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - RULE_IDS)
        if unknown:
            raise ValueError(f"unknown rule ids {unknown}; known: {sorted(RULE_IDS)}")
        return value

    @field_validator("allowed_ports")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [p for p in value if not 0 < p < 65536]
        if bad:
            raise ValueError(f"ports must be 1..65535: {bad}")
        return tuple(sorted(set(value)))

    @property
    def policy_id(self) -> str:
        """Stable id: the same content gives the same id on every host and in every run."""
        return policy_id_of(self)

    def canonical_json(self) -> str:
        # exclude_none: a policy without a baseline keeps the id it had before baselines existed.
        return json.dumps(
            self.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":")
        )


def policy_id_of(policy: SecurityPolicy) -> str:
    digest = hashlib.sha256(policy.canonical_json().encode()).hexdigest()
    return f"pol-{digest[:16]}"


def _errors_of(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(policy)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append((loc, msg))
    return out


def policy_from_dict(data: Any, *, source: str = "policy", host_cpus: int | None = None) -> SecurityPolicy:
    """Validates a decoded document; every problem is reported with its field path."""
    if not isinstance(data, dict):
        raise PolicyValidationError([("(policy)", f"expected a mapping, got {type(data).__name__}")], source)
    context = {"host_cpus": host_cpus} if host_cpus else None
    try:
        return SecurityPolicy.model_validate(data, context=context)
    except ValidationError as exc:
        raise PolicyValidationError(_errors_of(exc), source) from exc


def parse_policy(
    text: str, *, fmt: Literal["yaml", "json"] = "yaml", source: str = "policy", host_cpus: int | None = None
) -> SecurityPolicy:
    """Parses YAML (a superset of JSON) or strict JSON text into a validated policy."""
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PolicyValidationError([("(document)", f"not valid {fmt}: {exc}")], source) from exc
    return policy_from_dict(data if data is not None else {}, source=source, host_cpus=host_cpus)


def load_policy(path: str | Path, *, host_cpus: int | None = None) -> SecurityPolicy:
    """Loads a policy file; ``.json`` is parsed as JSON, anything else as YAML."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyValidationError([("(file)", str(exc))], str(p)) from exc
    fmt: Literal["yaml", "json"] = "json" if p.suffix.lower() == ".json" else "yaml"
    return parse_policy(text, fmt=fmt, source=str(p), host_cpus=host_cpus)
