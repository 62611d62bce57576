"""The loader's binary records (bpf/records.h), built here as the kernel writes them, read
back; a stream of another layout is a clear error."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import orjson
import pytest

from collectors.kernel.events import (
    Context,
    Sandbox,
    exe_of_this_exec,
    exec_fields,
    exit_fields,
    program_name,
    script_of,
    wire,
    writable_mount,
)
from collectors.kernel.records import (
    ACK,
    CONNECT,
    EXEC,
    EXIT,
    FORMATS,
    HELLO,
    KILLED,
    LOST,
    MMAP,
    RECORDS_VERSION,
    STATE,
    Ack,
    Connect,
    Exec,
    Exit,
    Hello,
    Lost,
    RecordError,
    State,
    split,
)
from schemas import ExecEvent, ExitEvent, decode, encode, topics
from schemas.kernel import StdioKind, kernel_event_id

RECORDS_H = Path(__file__).parents[4] / "collectors" / "kernel" / "bpf" / "records.h"


def _pack(kind: int, *fields: object) -> bytes:
    fmt = FORMATS[kind]
    return fmt.pack(kind, fmt.size, *fields)


def _path(*leaf_first: str) -> bytes:
    return b"".join(p.encode() + b"\0" for p in leaf_first)


def _exec(argv: bytes = b"rm\0-f\0/work/x\0", flags: int = 2 | KILLED, argv_len: int | None = None,
          exe: bytes = _path("rm", "bin", "usr"), hit: int = 2) -> bytes:  # fmt: skip
    stdio = 7 | (4 << 4) | (4 << 8) | (1 << 12) | (1 << 16) | (1 << 20)  # dev pipe pipe, parent inet x3
    cwd, pexe = _path("work"), _path("sh", "bin", "usr")
    return _pack(EXEC, 1_000, 120_620, 3159, 3100, 7, 7, 1, 1000, 4026532000, flags, hit, stdio,
                 len(argv) if argv_len is None else argv_len, 3000, 2900, 1, 0, len(argv), len(exe), len(cwd),
                 len(pexe),
                 b"rm", b"rm", b"sh", b"/usr/bin/rm", argv, exe, cwd, pexe)  # fmt: skip


def _read_exec(raw: bytes) -> Exec:
    (ex,), rest = split(raw)
    assert isinstance(ex, Exec) and rest == b""
    return ex


def test_an_exec_record_carries_its_judgement_names_argv_and_paths() -> None:
    ex = _read_exec(_exec())
    assert ex.killed and ex.hit == 2 and ex.mode == 2 and ex.exec_to_kill_ns == 120_620
    assert (ex.comm, ex.exe_name, ex.parent_comm, ex.filename) == ("rm", "rm", "sh", "/usr/bin/rm")
    assert ex.argv == ("rm", "-f", "/work/x") and not ex.argv_truncated
    assert (ex.exe, ex.cwd, ex.parent_exe) == ("/usr/bin/rm", "/work", "/usr/bin/sh")
    assert ex.stdio == (StdioKind.DEV, StdioKind.PIPE, StdioKind.PIPE)
    assert ex.parent_stdio == (StdioKind.INET,) * 3 and (ex.ns_pid, ex.pgid, ex.sid) == (7, 7, 1)
    assert ex.ancestors == (3000, 2900, 1)  # 0: past the top


def test_a_long_argv_is_marked_truncated_and_a_cut_path_is_unknown() -> None:
    ex = _read_exec(_exec(argv=b"sh\0-c\0" + b"x" * 200, argv_len=4000, flags=2 | 32))
    assert ex.argv[:2] == ("sh", "-c") and ex.argv_truncated and len(ex.argv[2]) == 200
    assert ex.exe == "" and not ex.killed and ex.exec_to_kill_ns == 0  # the walk was cut: /proc then


def test_a_mapping_record_names_the_blocked_file() -> None:
    ex = _read_exec(_exec(argv=b"/lib64/ld-linux-x86-64.so.2\0/bin/rm\0", flags=2 | KILLED | MMAP))
    assert ex.mapping and ex.killed and not ex.refused and ex.argv[1] == "/bin/rm"


def test_the_root_and_a_memfd_as_paths() -> None:
    ex = _read_exec(_exec(exe=_path("memfd:cleaner")))
    assert ex.exe == "/memfd:cleaner" and writable_mount(ex.exe) == "memfd"
    ex = _read_exec(_exec(exe=b""))
    assert ex.exe == "/"


# The sockaddr's port bytes (network order) as the kernel's u16 field holds them.
PORT_8080_AS_READ = int.from_bytes((8080).to_bytes(2, "big"), "little")


def test_exit_connect_state_ack_lost_hello() -> None:
    addr = bytes([127, 0, 0, 1]) + bytes(12)
    stream = b"".join((
        _pack(HELLO, RECORDS_VERSION, 0, -1, 0),
        _pack(EXIT, 5, 42, 9, 0, 9),  # killed by SIGKILL
        _pack(EXIT, 6, 43, 9, 256, 0),  # exit(1)
        _pack(CONNECT, 7, 44, 9, 1000, 3, -111, 2, 1, 5555, PORT_8080_AS_READ, addr, b"python3"),
        _pack(STATE, 8, 0, 9, 2, 1, 2, 5555, 8080, 0, addr, addr),
        _pack(ACK, 5, 17, 0),
        _pack(LOST, 3),
    ))  # fmt: skip
    hello, died, ended, conn, state, ack, lost = split(stream)[0]
    assert hello == Hello(RECORDS_VERSION, 0, -1) and hello.hooks() == []
    assert died == Exit(5, 42, 9, None, 9) and ended == Exit(6, 43, 9, 1, None)
    assert isinstance(conn, Connect) and (conn.daddr, conn.dport, conn.result) == ("127.0.0.1", 8080, 111)
    assert (conn.protocol, conn.sport, conn.ns_pid, conn.comm) == ("tcp", 5555, 3, "python3")
    assert isinstance(state, State) and (state.old, state.new, state.pid) == ("SYN_SENT", "ESTABLISHED", 0)
    assert ack == Ack(5, 17, 0) and lost == Lost(3)


def test_a_record_cut_by_a_read_waits_for_the_rest() -> None:
    whole = _exec() + _pack(LOST, 1)
    first, rest = split(whole[:1000])
    assert first == [] and rest == whole[:1000]
    records, rest = split(rest + whole[1000:])
    assert [type(r) for r in records] == [Exec, Lost] and rest == b""


def test_another_layout_is_a_clear_error() -> None:
    with pytest.raises(RecordError, match=f"version {RECORDS_VERSION + 1}"):
        split(_pack(HELLO, RECORDS_VERSION + 1, 0, 0, 0))
    with pytest.raises(RecordError, match="record kind 2 of 100 bytes"):
        split(struct.pack("<II", EXEC, 100) + bytes(92))
    with pytest.raises(RecordError, match="unknown kind"):
        split(struct.pack("<II", 99, 16) + bytes(8))


def test_the_formats_follow_records_h() -> None:
    """The version and the buffer sizes written in records.h are the ones read here."""
    text = RECORDS_H.read_text()
    assert f"#define RECORDS_VERSION {RECORDS_VERSION}\n" in text
    sizes = {name: int(n) for name, n in re.findall(r"#define (\w+_LEN) (\d+)", text)}
    strings = 3 * sizes["NAME_LEN"] + sizes["FILENAME_LEN"] + sizes["ARGV_LEN"] + 3 * sizes["PATH_LEN"]
    head, numbers, padding = 8 + 16, 11 * 4 + 4 * 4 + 4 * 2, 4  # the struct's padding to 8 bytes
    assert FORMATS[EXEC].size == head + numbers + strings + padding


@pytest.mark.parametrize(
    ("filename", "exe_name", "argv", "program"),
    [
        ("/bin/sh", "busybox", ("sh", "-c", "x"), "sh"),
        ("/bin/busybox", "busybox", ("busybox", "rm", "-f"), "rm"),
        ("/usr/bin/python3", "python3.11", ("python3",), "python3"),
        ("/bin/sleep", "sleep", ("rm", "1"), "sleep"),
    ],
)
def test_program_names(filename: str, exe_name: str, argv: tuple[str, ...], program: str) -> None:
    assert program_name(filename, exe_name, argv) == program


def test_scripts_and_proc_links() -> None:
    assert script_of("/work/run.sh", ("/bin/sh", "/work/run.sh")) == "/work/run.sh"
    assert script_of("/bin/ls", ("ls", "-l")) is None
    assert exe_of_this_exec("/usr/bin/dash", "sh") == ""  # /proc read after a second exec
    assert exe_of_this_exec("/usr/bin/a-very-long-program-name", "a-very-long-pro") != ""


CTX = Context("host-1", "boot-1", "/nonexistent-proc", 1_700_000_000_000_000_000)
SANDBOX = Sandbox("c" * 64, 4026532000, True, frozenset({"rm"}))


@pytest.mark.parametrize(
    "raw",
    [
        _exec(),
        _exec(argv=b"sh\0-c\0" + b"x" * 200, argv_len=4000, flags=2 | 32),  # cut: /proc (gone here)
        _exec(argv=b"/lib64/ld-linux-x86-64.so.2\0/bin/rm\0", flags=2 | KILLED | MMAP),
        _exec(exe=_path("memfd:cleaner"), flags=2),
    ],
)
def test_the_fast_exec_json_is_what_the_model_encodes(raw: bytes) -> None:
    """wire() skips the model on the hot path: the same JSON, decoded into the same event."""
    fields = exec_fields(CTX, SANDBOX, _read_exec(raw))
    fast = wire(fields)
    model = ExecEvent.model_validate(fields)
    assert orjson.loads(fast) == orjson.loads(encode(model))
    assert decode(topics.KERNEL, fast) == model and model.event_id == kernel_event_id(
        "boot-1", 3159, 1_000, "exec"
    )


@pytest.mark.parametrize("record", [Exit(5, 42, 9, None, 9), Exit(6, 43, 9, 1, None)])
def test_the_fast_exit_json_is_what_the_model_encodes(record: Exit) -> None:
    fields = exit_fields(CTX, SANDBOX, record)
    model = ExitEvent.model_validate(fields)
    assert (
        orjson.loads(wire(fields)) == orjson.loads(encode(model))
        and decode(topics.KERNEL, wire(fields)) == model
    )
