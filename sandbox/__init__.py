"""Hardened Docker sandboxes for untrusted code: create, run, read and write, report.

``SandboxManager`` creates each sandbox from a ``SecurityPolicy`` with every limit in
the container's configuration (memory, CPU quota, pids, ulimits, read-only root with
size-bounded /work and /tmp, no capabilities, no-new-privileges, a non-root user, the
default seccomp profile, an init, the network policy ruled from the host), validates
each command and path before it runs (``sandbox.validation``), publishes policies and
audit events on the bus it is given, and learns from the bus what the enforcer did.
``SandboxSecurityManager`` keeps the original API's methods on the same parts.
"""

from sandbox.compliance import ConfigGap, PolicyApplication
from sandbox.config import DEFAULT_IMAGE, container_config
from sandbox.docker_sandbox import DockerSandbox
from sandbox.exceptions import (
    CommandDeniedError,
    DockerUnavailable,
    EnvironmentDeniedError,
    FileTooLargeError,
    InvalidSandboxRequest,
    KernelCoverageError,
    ManagerClosed,
    NetworkSetupError,
    PathDeniedError,
    SandboxCreateError,
    SandboxError,
    SandboxExpired,
    SandboxFileError,
    SandboxFileNotFound,
    SandboxNotFound,
    SandboxOperationError,
    SandboxPaused,
    SandboxTerminated,
    SandboxUnavailable,
    SymlinkEscapeError,
    ValidationDenied,
    WorkspaceFullError,
)
from sandbox.gate import Coverage, ExecGate
from sandbox.manager import SandboxManager
from sandbox.results import ExecResult, FileInfo, FileType, SandboxStatus, Termination
from sandbox.security import SandboxSecurityManager

__all__ = [
    "DEFAULT_IMAGE",
    "CommandDeniedError",
    "ConfigGap",
    "Coverage",
    "DockerSandbox",
    "DockerUnavailable",
    "EnvironmentDeniedError",
    "ExecGate",
    "ExecResult",
    "FileInfo",
    "FileTooLargeError",
    "FileType",
    "InvalidSandboxRequest",
    "KernelCoverageError",
    "ManagerClosed",
    "NetworkSetupError",
    "PathDeniedError",
    "PolicyApplication",
    "SandboxCreateError",
    "SandboxError",
    "SandboxExpired",
    "SandboxFileError",
    "SandboxFileNotFound",
    "SandboxManager",
    "SandboxNotFound",
    "SandboxOperationError",
    "SandboxPaused",
    "SandboxSecurityManager",
    "SandboxStatus",
    "SandboxTerminated",
    "SandboxUnavailable",
    "SymlinkEscapeError",
    "Termination",
    "ValidationDenied",
    "WorkspaceFullError",
    "container_config",
]
