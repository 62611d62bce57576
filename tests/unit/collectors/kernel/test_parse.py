"""The tracer's output, recorded from bpftrace 0.17 on this kernel (testdata/), parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.kernel.events import program_name, script_of, writable_mount
from collectors.kernel.parse import (
    Ack,
    Connect,
    Exec,
    ExecAssembler,
    Exit,
    Lost,
    ParseError,
    parse_json_line,
    record_of,
)
from schemas.kernel import StdioKind

LINES = (Path(__file__).parent / "testdata" / "bpftrace.jsonl").read_bytes().splitlines()


def _records() -> list[object]:
    asm, out = ExecAssembler(), list[object]()
    for line in LINES:
        parsed = parse_json_line(line)
        if parsed is None or isinstance(parsed, Lost):
            out.append(parsed)
            continue
        rec = record_of(*parsed)
        out.append(rec if rec is not None else asm.feed(*parsed))
    return [r for r in out if r is not None]


def test_a_killed_exec_is_joined_from_its_two_lines() -> None:
    ex = next(r for r in _records() if isinstance(r, Exec) and r.pid == 3981)
    assert ex.killed and ex.hit == 4 and ex.exec_to_kill_ns == 177635
    assert (ex.comm, ex.exe_name, ex.parent_comm, ex.filename) == ("rm", "rm", "sh", "/usr/bin/rm")
    assert ex.argv == ("rm", "-f", "/work/x") and not ex.argv_truncated
    assert ex.stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.PIPE) and ex.uid == 1000


def test_names_and_arguments_with_spaces() -> None:
    ex = next(r for r in _records() if isinstance(r, Exec) and r.pid == 3980)
    assert (ex.comm, ex.exe_name, ex.filename) == ("my prog", "my prog", "/work/my prog")
    assert ex.argv == ("/work/my prog", "a b") and writable_mount(ex.filename) == "/work"
    assert not ex.killed and ex.mode == 2


def test_a_long_argv_is_cut_and_marked_truncated() -> None:
    ex = next(r for r in _records() if isinstance(r, Exec) and r.pid == 3964)
    assert ex.argv[:2] == ("sh", "-c") and ex.argv_truncated and len(ex.argv[2]) > 150
    assert ex.parent_comm == "containerd-shim"


def test_exit_connect_ack_and_lost() -> None:
    recs = _records()
    assert Exit(2215025798116, 3981, 4026532317, None, 9) in recs
    assert Exit(2215132907231, 3964, 4026532317, 3, None) in recs
    c = next(r for r in recs if isinstance(r, Connect))
    assert (c.daddr, c.dport, c.protocol, c.result, c.comm) == ("127.0.0.1", 41079, "tcp", 0, "python3")
    assert Ack(5, 7, 0) in recs and Lost(12) in recs


def test_a_shebang_script_is_told_from_an_interpreter_run_directly() -> None:
    assert script_of("/work/x.sh", ("/bin/sh", "/work/x.sh", "a")) == "/work/x.sh"
    assert script_of("/work/x.py", ("/usr/bin/env", "python3", "/work/x.py")) == "/work/x.py"
    assert script_of("/bin/sh", ("/bin/sh", "/work/x.sh")) is None
    assert script_of("/bin/sh", ("sh",)) is None


def test_busybox_by_its_own_name_is_judged_by_the_applet() -> None:
    assert program_name("/bin/busybox", "busybox", ("/bin/busybox", "/x/rm", "-f")) == "rm"
    assert program_name("/usr/bin/rm", "rm", ("anything",)) == "rm"


def test_malformed_lines_raise_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_json_line(b"not json")
    with pytest.raises(ParseError):
        record_of("X", ["1", "two"])
    with pytest.raises(ParseError):
        ExecAssembler().feed("E", ["1"])


def test_an_exec_missing_its_second_line_waits_a_whole_tick() -> None:
    head = next(x for x in LINES if b'"E ' in x)
    asm = ExecAssembler()
    parsed = parse_json_line(head)
    assert isinstance(parsed, tuple) and asm.feed(*parsed) is None
    assert asm.tick() == []  # arrived in this interval: its part may still come
    late = asm.tick()
    assert len(late) == 1 and late[0].argv == () and asm.pending() == 0
