from __future__ import annotations

from datetime import UTC, datetime

from sandbox.docker_sandbox import parse_docker_time
from sandbox.execution import shell_argv


def test_engine_times_with_nanoseconds() -> None:
    assert parse_docker_time("2026-11-27T21:58:20.258937385Z") == datetime(
        2026, 11, 27, 21, 58, 20, 258937, tzinfo=UTC
    )
    assert parse_docker_time("2026-11-27T21:58:20Z") == datetime(2026, 11, 27, 21, 58, 20, tzinfo=UTC)
    assert parse_docker_time("0001-01-01T00:00:00Z").year == 1


def test_a_string_is_a_shell_command_and_a_list_an_argv() -> None:
    assert shell_argv("echo $HOME | wc") == ("/bin/sh", "-c", "echo $HOME | wc")
    assert shell_argv(["python3", "-c", "print(1)"]) == ("python3", "-c", "print(1)")
