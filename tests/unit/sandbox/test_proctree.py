"""Finding an exec's processes in a recorded /proc tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.proctree import ProcTable, exec_processes, has_token, parse_stat_ppid

NS_SANDBOX = "pid:[4026532001]"
NS_HOST = "pid:[4026531836]"


def proc(tmp: Path, pid: int, ppid: int, ns: str, env: dict[str, str], comm: str = "sh") -> None:
    d = tmp / str(pid)
    (d / "ns").mkdir(parents=True)
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 0 0 0 0\n")
    (d / "environ").write_bytes(b"".join(f"{k}={v}\0".encode() for k, v in env.items()))
    os.symlink(ns, d / "ns" / "pid")


@pytest.fixture
def table(tmp_path: Path) -> ProcTable:
    tok = {"SANDGUARD_EXEC": "t1", "HOME": "/work"}
    proc(tmp_path, 100, 90, NS_SANDBOX, {"HOME": "/work"}, "docker-init")  # the sandbox's init
    proc(tmp_path, 101, 100, NS_SANDBOX, {}, "sleep")  # its lifetime timer
    proc(tmp_path, 200, 50, NS_SANDBOX, tok)  # the exec
    proc(tmp_path, 201, 200, NS_SANDBOX, tok, "python3 (x) y")  # its child; a comm with parens
    proc(tmp_path, 202, 201, NS_SANDBOX, {"CLEARED": "1"})  # grandchild that cleared its env
    proc(tmp_path, 300, 100, NS_SANDBOX, tok, "daemon")  # double-forked: reparented to init
    proc(tmp_path, 400, 50, NS_SANDBOX, {"SANDGUARD_EXEC": "other"})  # another exec
    proc(tmp_path, 500, 1, NS_HOST, tok)  # a host process with the same token: never ours
    (tmp_path / "self").mkdir()
    return ProcTable(str(tmp_path))


def test_the_exec_its_descendants_and_its_orphans_are_found(table: ProcTable) -> None:
    assert exec_processes(table, pid_ns=NS_SANDBOX, root_pid=200, token="t1") == [200, 201, 202, 300]


def test_orphans_are_found_after_the_root_died(table: ProcTable) -> None:
    assert exec_processes(table, pid_ns=NS_SANDBOX, root_pid=None, token="other") == [400]


def test_a_vanished_process_is_skipped(table: ProcTable, tmp_path: Path) -> None:
    (tmp_path / "999").mkdir()  # listed, then gone before its stat is read
    assert 999 not in exec_processes(table, pid_ns=NS_SANDBOX, root_pid=200, token="t1")
    assert table.info(999) is None and table.environ(999) == b"" and table.pid_ns(999) is None


def test_stat_parsing_survives_hostile_command_names() -> None:
    assert parse_stat_ppid("42 (a) b) c) S 7 42 42 0") == 7


def test_the_token_must_match_a_whole_variable() -> None:
    assert has_token(b"A=1\0SANDGUARD_EXEC=t1\0", "t1")
    assert not has_token(b"SANDGUARD_EXEC=t12\0", "t1")
    assert not has_token(b"X=SANDGUARD_EXEC=t1\0", "t1")
