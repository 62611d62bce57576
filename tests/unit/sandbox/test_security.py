"""SandboxSecurityManager's validation answers (pure: no engine is touched)."""

from __future__ import annotations

import pytest

from sandbox import InvalidSandboxRequest, SandboxSecurityManager
from sandbox.security import _container_id
from sandguard.bus import LocalBus
from schemas import SecurityPolicy

MIB = 1024 * 1024


def test_validation_answers_like_the_original() -> None:
    security = SandboxSecurityManager(SecurityPolicy(), bus=LocalBus())
    assert security.validate_command_execution("python script.py")
    assert not security.validate_command_execution("echo hi; sudo id")
    assert security.validate_file_access("/work/data.txt")
    assert not security.validate_file_access("/etc/passwd")
    assert not security.validate_file_access("/work/big.txt", "write", size=11 * MIB)


def test_it_needs_a_bus_or_a_manager() -> None:
    with pytest.raises(InvalidSandboxRequest, match="bus"):
        SandboxSecurityManager()


def test_containers_are_named_by_id_or_object() -> None:
    class Container:
        id = "abc"

    assert _container_id("abc") == _container_id(Container()) == "abc"
    with pytest.raises(InvalidSandboxRequest):
        _container_id(42)
