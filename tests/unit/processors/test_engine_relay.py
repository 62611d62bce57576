"""Reverse shells one step removed from the socket: a process holding an open connection
relays it to a shell reading commands from its pipe, and a shell started by a fork of a
connected client (no exec of its own). Benign look-alikes stay silent."""

from __future__ import annotations

from collections.abc import Callable

from processors.engine.step import EngineEvent
from schemas import ExecEvent
from tests.unit.processors.conftest import PIPE, TTY, Feed, kconnect, kexec

LOOP = "127.0.0.1"
PY, PY_EXE = "/usr/bin/python3", "/usr/bin/python3.11"
RULE = "process.reverse_shell"


def _shells(f: Feed) -> list[str]:
    return [v.message for v in f.violations if v.rule_id == RULE]


def _python_connected(t: float = 1.0, sport: int = 40000) -> list[EngineEvent]:
    return [
        kexec(t, 40, PY, "python3", "-c", "...", exe=PY_EXE, pgid=40),
        kconnect(t + 0.1, 40, LOOP, 4444, comm="python3", exe=PY_EXE, sport=sport),
    ]


def _shell_reading_a_pipe(t: float, *argv: str) -> ExecEvent:
    return kexec(t, 41, "/bin/sh", "/bin/sh", *argv, exe="/usr/bin/dash", ppid=40, pgid=40,
                 stdio=(PIPE, PIPE, PIPE), parent_stdio=(PIPE, PIPE, PIPE))  # fmt: skip


def test_a_shell_fed_through_pipes_by_a_connected_python(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands=set())
    f(*_python_connected(), _shell_reading_a_pipe(1.3))
    assert ["holds a connection to 127.0.0.1:4444" in m for m in _shells(f)] == [True]


def test_a_shell_run_with_a_command_after_a_fetch_is_not_one(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands=set())
    f(*_python_connected(), _shell_reading_a_pipe(1.3, "-c", "echo hi"))
    assert _shells(f) == []


def test_a_shell_after_the_connection_closed_is_not_one(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands=set())
    close = kconnect(
        1.2, 0, LOOP, 4444, phase="state", old_state="ESTABLISHED", new_state="CLOSE", sport=40000
    )
    f(*_python_connected(), close, _shell_reading_a_pipe(1.3))
    assert _shells(f) == []


def test_a_shell_on_a_terminal_started_by_an_unconnected_python_is_not_one(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands=set())
    f(
        kexec(1.0, 40, PY, "python3", "-c", "import pty", exe=PY_EXE, pgid=40),
        kexec(1.1, 41, "/bin/sh", "/bin/sh", exe="/usr/bin/dash", ppid=40, pgid=40, stdio=(TTY, TTY, TTY)),
    )
    assert _shells(f) == []


def test_a_shell_started_by_a_fork_of_a_connected_client(feed: Callable[..., Feed]) -> None:
    """socat TCP:... SYSTEM:'sh -i': socat forks (no exec), the fork runs sh -c: the shell's
    parent has no entry; the group leader, socat, connected."""
    f = feed(blocked_commands=set())
    f(
        kexec(1.0, 50, "/usr/bin/socat", "socat", "TCP:127.0.0.1:4444", "SYSTEM:sh -i,pty", pgid=50),
        kconnect(1.1, 50, LOOP, 4444, comm="socat", exe="/usr/bin/socat", sport=40001),
        kexec(1.2, 52, "/bin/sh", "sh", "-c", "sh -i", exe="/usr/bin/dash", ppid=51, pgid=50,
              stdio=(TTY, TTY, TTY)),
    )  # fmt: skip
    assert ["socat connected to 127.0.0.1:4444, then started sh" in m for m in _shells(f)] == [True]


def test_a_shell_started_by_socat_before_it_connects(feed: Callable[..., Feed]) -> None:
    """socat EXEC:'bash -i',pty,setsid TCP:...: the fork runs setsid, then bash; socat
    connects afterwards. The shell's parent is socat by name (a fork keeps its comm)."""
    f = feed(blocked_commands=set())
    f(
        kexec(1.0, 50, "/usr/bin/socat", "socat", "EXEC:bash -i,pty,setsid", "TCP:127.0.0.1:4444", pgid=50),
        kexec(
            1.1, 52, "/bin/bash", "bash", "-i", ppid=51, pgid=52, stdio=(TTY, TTY, TTY), parent_comm="socat"
        ),
    )
    assert ["network client socat" in m for m in _shells(f)] == [True]


def test_a_command_run_by_socat_is_not_a_shell_reading_it(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands=set())
    f(kexec(1.1, 52, "/bin/sh", "sh", "-c", "date", ppid=51, pgid=52, parent_comm="socat"))
    assert _shells(f) == []
