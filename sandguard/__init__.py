"""sandguard: hardened Docker sandboxes for untrusted code, watched live, judged by
windowed policy rules, enforced, and kept as a queryable history.

    from sandguard import SecurityPolicy, ResourceLimits, NetworkPolicy, SandboxManager

``SandboxManager`` runs everything embedded by default (one process, no Kafka, the
ClickHouse engine in-process); pass a ``KafkaBus`` to join a distributed deployment.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox import (
        CommandDeniedError,
        DockerSandbox,
        DockerUnavailable,
        ExecResult,
        FileInfo,
        FileTooLargeError,
        PathDeniedError,
        SandboxError,
        SandboxExpired,
        SandboxNotFound,
        SandboxPaused,
        SandboxStatus,
        SandboxTerminated,
        SymlinkEscapeError,
        Termination,
        ValidationDenied,
    )
    from sandguard.bus import KafkaBus, LocalBus
    from sandguard.embedded import EmbeddedPipeline, PipelineOptions
    from sandguard.facade import EmbeddedSandboxManager as SandboxManager
    from sandguard.facade import EmbeddedSecurityManager as SandboxSecurityManager
    from sandguard.settings import Settings
    from schemas import (
        DetectionSettings,
        EscalationResponse,
        NetworkPolicy,
        PolicyMode,
        PolicyValidationError,
        ResourceLimits,
        SecurityMetrics,
        SecurityPolicy,
        SecurityViolation,
        SecurityViolationType,
        Severity,
        ViolationSeverity,
        load_policy,
        parse_policy,
    )

__version__ = "0.1.0"

# Public names load on first use, so ``sandguard processor`` does not import Docker,
# chdb and every other component just because it lives in this package.
_LAZY: dict[str, str] = {
    "CommandDeniedError": "sandbox",
    "DetectionSettings": "schemas",
    "DockerSandbox": "sandbox",
    "DockerUnavailable": "sandbox",
    "EmbeddedPipeline": "sandguard.embedded",
    "EscalationResponse": "schemas",
    "ExecResult": "sandbox",
    "FileInfo": "sandbox",
    "FileTooLargeError": "sandbox",
    "KafkaBus": "sandguard.bus",
    "LocalBus": "sandguard.bus",
    "NetworkPolicy": "schemas",
    "PathDeniedError": "sandbox",
    "PipelineOptions": "sandguard.embedded",
    "PolicyMode": "schemas",
    "PolicyValidationError": "schemas",
    "ResourceLimits": "schemas",
    "SandboxError": "sandbox",
    "SandboxExpired": "sandbox",
    "SandboxManager": "sandguard.facade",
    "SandboxNotFound": "sandbox",
    "SandboxPaused": "sandbox",
    "SandboxSecurityManager": "sandguard.facade",
    "SandboxStatus": "sandbox",
    "SandboxTerminated": "sandbox",
    "SecurityMetrics": "schemas",
    "SecurityPolicy": "schemas",
    "SecurityViolation": "schemas",
    "SecurityViolationType": "schemas",
    "Settings": "sandguard.settings",
    "Severity": "schemas",
    "SymlinkEscapeError": "sandbox",
    "Termination": "sandbox",
    "ValidationDenied": "sandbox",
    "ViolationSeverity": "schemas",
    "load_policy": "schemas",
    "parse_policy": "schemas",
}


# The seed's public names for the classes that say what they are (embedded defaults).
_RENAMED: dict[str, str] = {
    "SandboxManager": "EmbeddedSandboxManager",
    "SandboxSecurityManager": "EmbeddedSecurityManager",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sandguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


__all__ = [
    "CommandDeniedError",
    "DetectionSettings",
    "DockerSandbox",
    "DockerUnavailable",
    "EmbeddedPipeline",
    "EscalationResponse",
    "ExecResult",
    "FileInfo",
    "FileTooLargeError",
    "KafkaBus",
    "LocalBus",
    "NetworkPolicy",
    "PathDeniedError",
    "PipelineOptions",
    "PolicyMode",
    "PolicyValidationError",
    "ResourceLimits",
    "SandboxError",
    "SandboxExpired",
    "SandboxManager",
    "SandboxNotFound",
    "SandboxPaused",
    "SandboxSecurityManager",
    "SandboxStatus",
    "SandboxTerminated",
    "SecurityMetrics",
    "SecurityPolicy",
    "SecurityViolation",
    "SecurityViolationType",
    "Settings",
    "Severity",
    "SymlinkEscapeError",
    "Termination",
    "ValidationDenied",
    "ViolationSeverity",
    "__version__",
    "load_policy",
    "parse_policy",
]
