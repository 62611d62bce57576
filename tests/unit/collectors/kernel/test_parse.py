"""The tracer's output, recorded from bpftrace 0.17 on this kernel (testdata/), parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.kernel.events import exe_of_this_exec, program_name, script_of, writable_mount
from collectors.kernel.parse import (
    Ack,
    Connect,
    Exec,
    Exit,
    Lost,
    ParseError,
    parse_json_line,
    record_of,
    unescape,
)
from schemas.kernel import StdioKind

LINES = (Path(__file__).parent / "testdata" / "bpftrace.jsonl").read_bytes().splitlines()


def _records() -> list[object]:
    out = list[object]()
    for line in LINES:
        parsed = parse_json_line(line)
        out.append(parsed if parsed is None or isinstance(parsed, Lost) else record_of(*parsed))
    return [r for r in out if r is not None]


def _exec(pid: int) -> Exec:
    return next(r for r in _records() if isinstance(r, Exec) and r.pid == pid)


def test_a_killed_exec_carries_its_judgement_and_strings() -> None:
    ex = _exec(14998)
    assert ex.killed and ex.hit == 4 and ex.mode == 2 and ex.exec_to_kill_ns == 114881
    assert (ex.comm, ex.exe_name, ex.parent_comm, ex.filename) == ("rm", "rm", "sh", "/usr/bin/rm")
    assert ex.argv == ("rm", "-f", "/work/x") and not ex.argv_truncated
    assert ex.stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.PIPE) and ex.uid == 1000


def test_names_and_arguments_with_spaces() -> None:
    ex = _exec(14997)
    assert (ex.comm, ex.exe_name, ex.filename) == ("my prog", "my prog", "/work/my prog")
    assert ex.argv == ("/work/my prog", "a b") and writable_mount(ex.filename) == "/work"
    assert not ex.killed and ex.exec_to_kill_ns == 0


def test_a_long_argv_is_cut_and_marked_truncated() -> None:
    ex = _exec(14970)
    assert ex.argv[:2] == ("sh", "-c") and ex.argv_truncated and len(ex.argv[2]) > 150
    assert ex.parent_comm == "runc" and ex.parent_stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.PIPE)


def test_exit_connect_ack_and_lost() -> None:
    recs = _records()
    assert Exit(3783513182779, 14998, 4026533492, None, 9) in recs
    assert Exit(3783852119696, 14970, 4026533492, 3, None) in recs
    c = next(r for r in recs if isinstance(r, Connect))
    assert (c.daddr, c.dport, c.protocol, c.result, c.comm) == ("127.0.0.1", 53857, "tcp", 0, "python3")
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
        record_of("N", ["1 2 3"])


def test_a_bare_backslash_is_a_byte_not_an_escape() -> None:
    # bpftrace prints 0x5c as is: `expr 6 \* 7` and port 4444 (0x115c) once ended the reader.
    assert unescape("expr\\x006\\x00\\*\\x007") == b"expr\x006\x00\\*\x007"
    assert unescape("\\x11\\") == b"\x11\\"
    assert unescape("a\\ b\\q") == b"a\\ b\\q"


def test_the_exe_link_is_kept_only_when_it_is_this_execs() -> None:
    # /proc is read after the event: `stdbuf -i0 /bin/sh` may already be dash.
    assert exe_of_this_exec("/usr/bin/stdbuf", "stdbuf") == "/usr/bin/stdbuf"
    assert exe_of_this_exec("/usr/bin/dash", "stdbuf") == ""
    assert exe_of_this_exec("/usr/bin/sha256sum", "sh") == ""
    assert exe_of_this_exec("/usr/bin/a-very-long-program-name", "a-very-long-pro") != ""
    assert exe_of_this_exec("", "sh") == ""
