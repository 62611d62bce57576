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
from schemas.events import stable_id
from schemas.kernel import busybox_applet, is_loader, loader_program


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
        (("busybox", "busybox", "rm"), "rm"),  # busybox_main runs itself again
        (("busybox", "/y/busybox", "busybox", "/x/rm", "-f"), "rm"),
    ],
)
def test_busybox_applet_is_picked_as_busybox_picks_it(argv: tuple[str, ...], applet: str) -> None:
    assert busybox_applet(argv) == applet


LDSO = "/lib64/ld-linux-x86-64.so.2"


@pytest.mark.parametrize(
    ("argv", "program"),
    [
        ((LDSO, "/usr/bin/rm", "-f", "x"), "rm"),
        ((LDSO, "--argv0", "ls", "/usr/bin/rm", "-f"), "rm"),
        ((LDSO, "--inhibit-cache", "--library-path", "/lib", "/bin/rm"), "rm"),
        ((LDSO, "--", "/bin/sh", "-c", "x"), "sh"),
        ((LDSO, "/bin/busybox", "rm", "-f"), "rm"),
        ((LDSO, "--argv0", "rm", "/bin/busybox", "-f"), "rm"),
        ((LDSO, "/bin/busybox", "busybox", "/x/rm"), "rm"),
        ((LDSO, "--list"), ""),
        ((LDSO,), ""),
    ],
)
def test_the_program_the_dynamic_loader_runs(argv: tuple[str, ...], program: str) -> None:
    assert loader_program(argv) == program and is_loader("ld-linux-x86-64.so.2") and not is_loader("ls")


ID_PARTS = [("boot", 1, 2, "exec"), ("é-boot", 4_194_303, 123_456_789_012, "state:1>2:CLOSE")]


@pytest.mark.parametrize("parts", ID_PARTS)
def test_kernel_event_ids_are_the_stable_ids_of_their_parts(parts: tuple[str, int, int, str]) -> None:
    assert kernel_event_id(*parts) == stable_id("kernel", *parts)
