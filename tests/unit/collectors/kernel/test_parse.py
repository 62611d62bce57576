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
    State,
    chunk_sizes,
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
    ex = _exec(3159)
    assert ex.killed and ex.hit == 2 and ex.mode == 2 and ex.exec_to_kill_ns == 120620  # comm and exe
    assert (ex.comm, ex.exe_name, ex.parent_comm, ex.filename) == ("rm", "rm", "sh", "/usr/bin/rm")
    assert ex.argv == ("rm", "-f", "/work/x") and not ex.argv_truncated
    assert ex.stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.PIPE) and ex.uid == 1000


def test_names_and_arguments_with_spaces() -> None:
    ex = _exec(3158)
    assert (ex.comm, ex.exe_name, ex.filename) == ("my prog", "my prog", "/work/my prog")
    assert ex.argv == ("/work/my prog", "a b") and writable_mount(ex.filename) == "/work"
    assert not ex.killed and ex.exec_to_kill_ns == 0


def test_a_long_argv_is_cut_and_marked_truncated() -> None:
    ex = _exec(3152)
    assert ex.argv[:2] == ("sh", "-c") and ex.argv_truncated and len(ex.argv[2]) > 150
    assert ex.parent_comm == "runc"
    assert ex.parent_stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.PIPE)


def test_argv_is_printed_only_as_long_as_it_is() -> None:
    """No NUL padding past argv's end (each padding byte cost the tracer a 4-character escape)."""
    assert chunk_sizes(10) == (10, 0, 0) and chunk_sizes(100) == (64, 36, 0)
    assert chunk_sizes(500) == (64, 64, 64)
    line = next(ln for ln in LINES if b'"N ' in ln and b" cp\\\\x00" in ln)
    assert b"\\\\x00/work/my prog\\\\x00   /usr/bin/cp" in line  # the two empty chunks, then the filename
    cp = _exec(3157)
    assert cp.argv == ("cp", "/bin/true", "/work/my prog") and not cp.argv_truncated


def test_an_exec_carries_its_pid_in_the_sandbox_its_group_and_session() -> None:
    shell, rm = _exec(3152), _exec(3159)
    assert (shell.ns_pid, shell.pgid, shell.sid) == (7, 3152, 3152)  # docker exec's setsid
    assert (rm.ns_pid, rm.pgid, rm.sid) == (14, 3152, 3152)


def test_exit_connect_ack_and_lost() -> None:
    recs = _records()
    assert Exit(12866892338347, 3159, 4026532258, None, 9) in recs
    assert Exit(12866913551422, 3152, 4026532258, 3, None) in recs
    c = next(r for r in recs if isinstance(r, Connect))
    assert (c.daddr, c.dport, c.protocol, c.result, c.comm) == ("127.0.0.1", 56037, "tcp", 0, "python3")
    assert (c.sport, c.ns_pid) == (47120, 15)
    assert Ack(5, 2, 0) in recs and Ack(6, 4026532262, 4026532258) in recs and Lost(12) in recs


def test_tcp_state_changes_of_a_loopback_connection() -> None:
    states = [(r.old, r.new, r.sport, r.dport) for r in _records() if isinstance(r, State)]
    assert states == [
        ("CLOSE", "LISTEN", 56037, 0),
        ("SYN_SENT", "ESTABLISHED", 47120, 56037),  # the client
        ("SYN_RECV", "ESTABLISHED", 56037, 47120),  # the accepted end
        ("FIN_WAIT2", "CLOSE", 47120, 56037),
        ("LAST_ACK", "CLOSE", 56037, 47120),
        ("LISTEN", "CLOSE", 56037, 0),
    ]
    first = next(r for r in _records() if isinstance(r, State))
    assert (first.family, first.saddr, first.daddr, first.pid) == ("inet", "127.0.0.1", "0.0.0.0", 3160)
    with pytest.raises(ParseError):
        record_of("S", ["1 2 3"])


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
