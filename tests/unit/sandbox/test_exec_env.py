from __future__ import annotations

import pytest

from sandbox.exceptions import EnvironmentDeniedError
from sandbox.exec_env import MAX_VARS, check_env
from schemas import SecurityViolationType


def test_ordinary_variables_pass() -> None:
    assert check_env({"FOO": "bar", "PYTHONUNBUFFERED": "1", "_x1": ""}) == {
        "FOO": "bar",
        "PYTHONUNBUFFERED": "1",
        "_x1": "",
    }
    assert check_env(None) == {}


@pytest.mark.parametrize(
    "name",
    ["PATH", "IFS", "ENV", "BASH_ENV", "LD_PRELOAD", "LD_LIBRARY_PATH", "SANDGUARD_EXEC", "BASH_FUNC_x%%"],
)
def test_variables_that_change_how_a_command_runs_are_denied(name: str) -> None:
    with pytest.raises(EnvironmentDeniedError) as info:
        check_env({name: "x"})
    assert info.value.subject == name and isinstance(info.value, PermissionError)
    assert info.value.violation_type is SecurityViolationType.PERMISSION_VIOLATION


@pytest.mark.parametrize(
    "env", [{"1X": "a"}, {"A B": "a"}, {"A=B": "a"}, {"A": "a\0b"}, {"A": "x" * 70_000}, {"A": "\udcff"}]
)
def test_malformed_variables_are_denied(env: dict[str, str]) -> None:
    with pytest.raises(EnvironmentDeniedError):
        check_env(env)


def test_too_many_variables() -> None:
    with pytest.raises(EnvironmentDeniedError, match="at most"):
        check_env({f"V{i}": "" for i in range(MAX_VARS + 1)})


@pytest.mark.parametrize("name", ["BASH_LOADABLES_PATH", "TEXTDOMAINDIR", "EXECIGNORE", "GCONV_PATH"])
def test_exec_refuses_every_variable_a_command_line_may_not_set(name: str) -> None:
    """One list with command validation (an env= BASH_LOADABLES_PATH loads builtins from a
    file just as a prefix assignment would), plus what acts before the first word is read."""
    with pytest.raises(EnvironmentDeniedError):
        check_env({name: "/work/x"})
