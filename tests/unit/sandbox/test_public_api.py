"""The public surface of the sandbox package, pinned."""

from __future__ import annotations

import sandbox

EXPECTED = {
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
}


def test_all_is_pinned() -> None:
    assert set(sandbox.__all__) == EXPECTED
    assert all(hasattr(sandbox, name) for name in sandbox.__all__)
    assert sandbox.DEFAULT_IMAGE == "sandguard/python:3"
