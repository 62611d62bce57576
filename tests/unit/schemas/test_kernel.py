"""Kernel events: stable ids, the wire round trip, and the topic they travel on."""

from __future__ import annotations

import pytest

from schemas import (
    ConnectEvent,
    EventDecodeError,
    ExecEvent,
    ExitEvent,
    StdioKind,
    decode,
    encode,
    kernel_event_id,
)
from schemas import topics as t
from schemas.kernel import busybox_applet


def test_ids_are_stable_per_boot_pid_time_and_kind() -> None:
    a = kernel_event_id("boot", 42, 1000, "exec")
    assert a == kernel_event_id("boot", 42, 1000, "exec")
    assert a != kernel_event_id("boot", 42, 1000, "exit")
    assert a != kernel_event_id("other-boot", 42, 1000, "exec")


def test_each_kind_round_trips_on_the_kernel_topic() -> None:
    stdio = (StdioKind.INET, StdioKind.INET, StdioKind.PIPE)
    ex = ExecEvent(container_id="c", pid=5, filename="/bin/sh", exe="/bin/busybox", program="sh",
                   argv=("sh", "-c", "true"), stdio=stdio)  # fmt: skip
    for ev in (ex, ExitEvent(container_id="c", pid=5, exit_code=0),
               ConnectEvent(container_id="c", pid=5, daddr="127.0.0.1", dport=80, result=0)):  # fmt: skip
        assert decode(t.KERNEL, encode(ev)) == ev
    assert t.TOPICS[t.KERNEL].partitions == 12


def test_a_bad_stdio_kind_names_the_field() -> None:
    bad = encode(ExecEvent(container_id="c", pid=5)).replace(b'"unknown"', b'"weird"', 1)
    with pytest.raises(EventDecodeError, match="stdio"):
        decode(t.KERNEL, bad)


@pytest.mark.parametrize(
    ("argv", "applet"),
    [
        (("rm", "-f", "x"), "rm"),
        (("/bin/rm",), "rm"),
        (("-sh",), "sh"),  # a login shell's mark
        (("--rm",), "-rm"),  # one '-' only, as busybox does: no such applet
        (("-/x/rm",), "rm"),
        (("busybox", "/x/rm", "-f"), "rm"),
        (("/bin/busybox", "rm"), "rm"),
        (("busybox",), "busybox"),
        ((), "busybox"),
    ],
)
def test_busybox_applet_is_picked_as_busybox_picks_it(argv: tuple[str, ...], applet: str) -> None:
    assert busybox_applet(argv) == applet
