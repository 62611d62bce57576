"""The API's arguments of the wrong type are a clear error naming the argument (second
red-team: ``write_file(path, 5)`` wrote five NUL bytes, ``execute(sid, b"rm x")`` and a
bytes path raised a TypeError from inside, an env list an AttributeError)."""

from __future__ import annotations

import pytest

from sandbox import arguments
from sandbox.exceptions import InvalidSandboxRequest


@pytest.mark.parametrize("value", [b"rm x", None, 5, ["echo", 1], ["echo", b"x"], {"echo": 1}, iter(["ls"])])
def test_a_command_is_a_string_or_a_list_of_strings(value: object) -> None:
    with pytest.raises(InvalidSandboxRequest, match="command: must be a string"):
        arguments.command(value)


def test_commands_of_the_right_type_pass() -> None:
    assert arguments.command("ls -l") == "ls -l"
    assert arguments.command(["ls", "-l"]) == ("ls", "-l")
    assert arguments.command(("ls",)) == ("ls",)


@pytest.mark.parametrize("value", [b"/work/x", None, 5])
def test_a_path_is_a_string(value: object) -> None:
    with pytest.raises(InvalidSandboxRequest, match="workdir: must be a string"):
        arguments.path(value, "workdir")


@pytest.mark.parametrize("value", [5, [1, 2], None, 1.5])
def test_data_is_bytes_or_text(value: object) -> None:
    with pytest.raises(InvalidSandboxRequest, match="data: must be bytes or a string"):
        arguments.data(value)


def test_data_of_the_right_type_pass() -> None:
    assert arguments.data(b"x") == b"x"
    assert arguments.data(bytearray(b"y")) == b"y"
    assert arguments.data(memoryview(b"z")) == b"z"
    assert arguments.data("é") == "é".encode()
    with pytest.raises(InvalidSandboxRequest, match="lone surrogate"):
        arguments.data("\udcff")


def test_env_is_a_mapping_and_limit_a_positive_integer() -> None:
    assert arguments.env(None) is None and arguments.env({"A": "b"}) == {"A": "b"}
    with pytest.raises(InvalidSandboxRequest, match="env: must be a mapping"):
        arguments.env([("A", "b")])
    assert arguments.limit(None) is None and arguments.limit(3) == 3
    for bad in (0, -1, True, "5"):
        with pytest.raises(InvalidSandboxRequest, match="limit: must be a positive integer"):
            arguments.limit(bad)
