"""The exception tree: denials are PermissionErrors; ours have one root and carry data."""

from __future__ import annotations

from datetime import UTC, datetime

import sandbox.exceptions as ex
from sandbox.results import Termination


def test_denials_are_permission_errors() -> None:
    for cls in (
        ex.CommandDeniedError,
        ex.PathDeniedError,
        ex.FileTooLargeError,
        ex.SymlinkEscapeError,
        ex.EnvironmentDeniedError,
    ):
        assert issubclass(cls, ex.ValidationDenied) and issubclass(cls, PermissionError)
    assert issubclass(ex.SymlinkEscapeError, ex.PathDeniedError)


def test_our_errors_have_one_root() -> None:
    for name in ex.__all__:
        cls = getattr(ex, name)
        assert issubclass(cls, ex.SandboxError) or issubclass(cls, ex.ValidationDenied), name
    assert issubclass(ex.SandboxNotFound, LookupError) and issubclass(ex.InvalidSandboxRequest, ValueError)
    assert issubclass(ex.DockerUnavailable, ConnectionError) and issubclass(
        ex.SandboxFileNotFound, FileNotFoundError
    )
    for cls in (ex.SandboxTerminated, ex.SandboxExpired, ex.SandboxPaused):
        assert issubclass(cls, ex.SandboxUnavailable)


def test_a_termination_says_when_and_why() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    err = ex.SandboxTerminated(
        "c" * 64, Termination(at=at, reason="fork bomb", source="enforcer", rule_ids=("pids.limit_hit",))
    )
    assert err.at == at and err.reason == "fork bomb" and err.rule_ids == ("pids.limit_hit",)
    text = str(err)
    assert (
        "terminated" in text
        and "2026-01-02T03:04:05" in text
        and "fork bomb" in text
        and "pids.limit_hit" in text
    )


def test_a_symlink_escape_names_the_target() -> None:
    err = ex.SymlinkEscapeError("/work/p.txt", "/work/p.txt", "/etc/passwd", "blocked pattern")
    assert err.target == "/etc/passwd" and err.path == "/work/p.txt" and "/etc/passwd" in str(err)
    assert err.violation_type.value == "file_access_violation"


def test_expired_and_paused_carry_their_times() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert ex.SandboxExpired("c", at, 300).lifetime_seconds == 300
    assert ex.SandboxPaused("c", at, "suspicious").reason == "suspicious"
    assert ex.SandboxNotFound("c", "destroyed").reason == "destroyed"
