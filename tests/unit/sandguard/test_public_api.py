"""The public surface of ``sandguard`` is pinned: names may be added, never lost."""

from __future__ import annotations

import subprocess
import sys

import sandguard

PINNED = {
    "SandboxManager", "SandboxSecurityManager", "SecurityPolicy", "ResourceLimits", "NetworkPolicy",
    "SecurityViolationType", "SecurityViolation", "SecurityMetrics", "Severity", "ExecResult",
    "CommandDeniedError", "PathDeniedError", "SandboxTerminated", "KafkaBus", "LocalBus", "load_policy",
}  # fmt: skip


def test_all_is_pinned_and_resolves() -> None:
    assert set(sandguard.__all__) >= PINNED
    assert sorted(sandguard.__all__) == sandguard.__all__
    for name in sandguard.__all__:
        assert getattr(sandguard, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        _ = sandguard.NoSuchThing
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_loads_no_component() -> None:
    """``sandguard processor`` must not pay for Docker, chdb or Faust just by importing sandguard."""
    heavy = "('docker', 'chdb', 'faust', 'collectors')"
    code = f"import sys, sandguard; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
