"""The tracer's output, recorded from bpftrace 0.17 on this kernel (testdata/), parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.kernel.events import program_name, writable_mount
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


def test_a_killed_busybox_exec_is_joined_from_its_four_lines() -> None:
    ex = next(r for r in _records() if isinstance(r, Exec) and r.pid == 17158)
    assert ex.killed and ex.hit == 1 and ex.exec_to_kill_ns == 41000
    assert (ex.comm, ex.exe_name, ex.parent_comm, ex.filename) == ("exe", "busybox", "sh", "/proc/self/exe")
    assert ex.argv == ("busybox", "rm", "x") and not ex.argv_truncated
    assert ex.stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.PIPE)
    assert ex.parent_stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.INET)
    assert program_name(ex.filename, ex.exe_name, ex.argv) == "rm"


def test_parts_before_their_head_and_names_with_spaces() -> None:
    ex = next(r for r in _records() if isinstance(r, Exec) and r.pid == 17200)
    assert (ex.comm, ex.exe_name, ex.filename) == ("my prog", "python3.11", "/work/my prog")
    assert ex.argv == ("my prog", "a b") and ex.stdio == (StdioKind.INET,) * 3
    assert not ex.killed and ex.mode == 1 and writable_mount(ex.filename) == "/work"


def test_exit_connect_ack_and_lost() -> None:
    recs = _records()
    assert Exit(836831741015, 17158, 4026532524, None, 9) in recs
    assert Exit(836903632211, 17185, 4026532524, 1, None) in recs
    c = next(r for r in recs if isinstance(r, Connect))
    assert (c.daddr, c.dport, c.protocol, c.result, c.comm) == ("127.0.0.1", 9, "tcp", 111, "nc")
    assert Ack(5, 7, 0) in recs and Lost(12) in recs


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
