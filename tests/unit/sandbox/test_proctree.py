"""Finding what a timeout kills in a recorded /proc tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.proctree import ProcTable, holds_token, parse_stat_ppid, parse_stat_start, sweep_processes

NS_SANDBOX = "pid:[4026532001]"
NS_HOST = "pid:[4026531836]"


def proc(
    tmp: Path, pid: int, ppid: int, ns: str, env: dict[str, str], comm: str = "sh", start: int = 0
) -> None:
    d = tmp / str(pid)
    (d / "ns").mkdir(parents=True)
    fields = [str(ppid), str(pid), str(pid)] + ["0"] * 15 + [str(start or pid)]
    (d / "stat").write_text(f"{pid} ({comm}) S {' '.join(fields)} 0 0\n")
    (d / "environ").write_bytes(b"".join(f"{k}={v}\0".encode() for k, v in env.items()))
    os.symlink(ns, d / "ns" / "pid")


@pytest.fixture
def table(tmp_path: Path) -> ProcTable:
    tok = {"SANDGUARD_EXEC": "t1", "HOME": "/work"}
    proc(tmp_path, 100, 90, NS_SANDBOX, {"HOME": "/work"}, "docker-init", start=10)  # the init
    proc(tmp_path, 150, 100, NS_SANDBOX, {}, "sleep", start=11)  # the lifetime timer: oldest child
    proc(tmp_path, 101, 100, NS_SANDBOX, {}, "sleep", start=500)  # an orphan with a lower pid
    proc(tmp_path, 200, 50, NS_SANDBOX, tok)  # the exec that timed out
    proc(tmp_path, 201, 200, NS_SANDBOX, tok, "python3 (x) y")  # its child; a comm with parens
    proc(tmp_path, 202, 201, NS_SANDBOX, {"CLEARED": "1"})  # grandchild that cleared its env
    proc(tmp_path, 300, 100, NS_SANDBOX, {}, "daemon", start=600)  # double-forked, env cleared
    proc(tmp_path, 400, 50, NS_SANDBOX, {"SANDGUARD_EXEC": "other"})  # another exec, running
    proc(tmp_path, 401, 400, NS_SANDBOX, {})  # its child with a cleared env
    proc(tmp_path, 301, 100, NS_SANDBOX, {"SANDGUARD_EXEC": "other"}, start=700)  # a forged token
    proc(tmp_path, 500, 1, NS_HOST, tok)  # a host process: never ours
    (tmp_path / "self").mkdir()
    return ProcTable(str(tmp_path))


def test_everything_but_the_init_the_timer_and_running_execs_is_swept(table: ProcTable) -> None:
    swept = sweep_processes(table, init_pid=100, pid_ns=NS_SANDBOX, victim_root=200, victim_token="t1")
    assert swept == [101, 200, 201, 202, 300, 301]


def test_the_victim_is_known_by_its_token_when_its_pid_is_not(table: ProcTable) -> None:
    swept = sweep_processes(table, init_pid=100, pid_ns=NS_SANDBOX, victim_root=None, victim_token="t1")
    assert swept == [101, 200, 201, 202, 300, 301]


def test_another_execs_token_does_not_protect_a_process_inside(table: ProcTable) -> None:
    swept = sweep_processes(table, init_pid=100, pid_ns=NS_SANDBOX, victim_root=200, victim_token="t1")
    assert 301 in swept  # it copied the other exec's token, but its parent is inside


def test_a_vanished_process_is_skipped(table: ProcTable, tmp_path: Path) -> None:
    (tmp_path / "999").mkdir()  # listed, then gone before its stat is read
    swept = sweep_processes(table, init_pid=100, pid_ns=NS_SANDBOX, victim_root=200, victim_token="t1")
    assert 999 not in swept
    assert table.info(999) is None and table.environ(999) == b"" and table.pid_ns(999) is None


def test_stat_parsing_survives_hostile_command_names() -> None:
    line = "42 (a) b) c) S 7 42 42" + " 0" * 15 + " 1234 0"
    assert parse_stat_ppid(line) == 7 and parse_stat_start(line) == 1234


def test_the_token_must_match_a_whole_variable() -> None:
    assert holds_token(b"A=1\0SANDGUARD_EXEC=t1\0", frozenset({"t1"}))
    assert not holds_token(b"SANDGUARD_EXEC=t12\0", frozenset({"t1"}))
    assert not holds_token(b"X=SANDGUARD_EXEC=t1\0", frozenset({"t1"}))
