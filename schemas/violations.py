"""The seed's violation and metric types, with its names and defaults.

Kept field-for-field compatible with the original sandbox-security summary (SEED.md):
new fields may be added, none removed or renamed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SecurityViolationType(StrEnum):
    RESOURCE_LIMIT_EXCEEDED = "resource_limit_exceeded"
    NETWORK_VIOLATION = "network_violation"
    FILE_ACCESS_VIOLATION = "file_access_violation"
    PROCESS_VIOLATION = "process_violation"
    PERMISSION_VIOLATION = "permission_violation"
    SUSPICIOUS_ACTIVITY = "suspicious_activity"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def ocsf_id(self) -> int:
        """OCSF severity_id: 2 Low, 3 Medium, 4 High, 5 Critical (1 Informational is unused)."""
        return _OCSF_SEVERITY[self]


_OCSF_SEVERITY = {Severity.LOW: 2, Severity.MEDIUM: 3, Severity.HIGH: 4, Severity.CRITICAL: 5}

ViolationSeverity = Severity  # the name some callers of the original used


def _now() -> datetime:
    return datetime.now(UTC)


class SecurityViolation(BaseModel):
    """One violation, as the original API reported it (reports and the compatibility layer)."""

    model_config = ConfigDict(extra="forbid")

    violation_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: datetime = Field(default_factory=_now)
    violation_type: SecurityViolationType
    severity: Severity
    container_id: str
    details: dict[str, Any] = Field(default_factory=dict)
    action_taken: str | None = None
    # Added by sandguard.
    rule_id: str | None = None
    count: int = 1


class SecurityMetrics(BaseModel):
    """One resource sample in the original's units (reports and the compatibility layer)."""

    model_config = ConfigDict(extra="forbid")

    container_id: str
    timestamp: datetime = Field(default_factory=_now)
    cpu_usage_percent: float = 0.0
    memory_usage_mb: float = 0.0
    disk_usage_mb: float = 0.0
    network_connections: int = 0
    process_count: int = 0
    open_files: int = 0
    violations_count: int = 0
