"""The proc connector's messages, built as the kernel lays them out, parsed back."""

from __future__ import annotations

import struct

from collectors.kernel import procconn as pc


def _message(what: int, body: bytes, ktime: int = 123) -> bytes:
    event = struct.pack("=IIQ", what, 0, ktime) + body
    cn = struct.pack("=IIIIHH", pc.CN_IDX_PROC, pc.CN_VAL_PROC, 0, 0, len(event), 0) + event
    return struct.pack("=IHHII", 16 + len(cn), pc.NLMSG_DONE, 0, 0, 0) + cn


def test_exec_and_exit_in_one_datagram() -> None:
    data = _message(pc.PROC_EVENT_EXEC, struct.pack("=ii", 41, 41)) + _message(
        pc.PROC_EVENT_EXIT, struct.pack("=iiII", 41, 41, 256, 17) + b"\0" * 8, ktime=456
    )
    assert pc.parse(data) == [pc.ProcEvent("exec", 41, 123), pc.ProcEvent("exit", 41, 456, 256)]


def test_thread_exits_and_other_events_are_skipped() -> None:
    thread_exit = _message(pc.PROC_EVENT_EXIT, struct.pack("=iiII", 42, 41, 0, 17))
    fork = _message(0x1, struct.pack("=iiii", 1, 1, 2, 2))
    assert pc.parse(thread_exit + fork + b"\x01") == []


def test_the_listen_message_subscribes() -> None:
    msg = pc.listen_message()
    assert struct.unpack_from("=I", msg, 0)[0] == len(msg)
    assert struct.unpack_from("=I", msg, len(msg) - 4)[0] == pc.PROC_CN_MCAST_LISTEN
