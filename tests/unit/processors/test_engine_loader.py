"""The dynamic loader run as a program runs its first operand without an exec of it:
that operand is the program judged (blocked, allowlist, written in the sandbox, shell)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from processors.engine.programs import identify, loader_operand
from schemas import ExecEvent
from schemas.kernel import busybox_applet
from tests.unit.processors.conftest import Feed, kexec

LD = "/lib64/ld-linux-x86-64.so.2"
LD_EXE = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"


@pytest.mark.parametrize(
    ("argv", "operand"),
    [
        ((LD, "/usr/bin/rm", "-f", "x"), "/usr/bin/rm"),
        ((LD, "--argv0", "ls", "/usr/bin/rm", "-f"), "/usr/bin/rm"),
        ((LD, "--inhibit-cache", "--library-path", "/lib", "rm"), "rm"),
        ((LD, "--preload", "/x.so", "--", "--odd-name"), "--odd-name"),
        ((LD, "--list", "/usr/bin/rm"), "/usr/bin/rm"),
        ((LD, "--help"), ""),
        ((LD,), ""),
    ],
)
def test_the_loaders_operand(argv: tuple[str, ...], operand: str) -> None:
    assert loader_operand(argv) == operand


def _ld(*argv: str, **kw: object) -> ExecEvent:
    return kexec(1, 10, LD, LD, *argv, exe=LD_EXE, **kw)


def test_a_blocked_program_run_by_the_loader_is_reported(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands={"rm"})
    f(_ld("--argv0", "ls", "/usr/bin/rm", "-f", "/work/x"))
    assert [(v.rule_id, v.message.split(":")[0]) for v in f.violations] == [
        ("process.blocked", "blocked program rm ran")
    ]


def test_the_loader_names_the_program_for_the_allowlist(feed: Callable[..., Feed]) -> None:
    f = feed(allowed_commands={"python3", "ld-linux-x86-64.so.2", "ls"})
    f(_ld("/usr/bin/python3", "-c", "1"), _ld("/usr/bin/sed", "-n", "p"))
    assert [v.message.split(" ")[0] for v in f.violations if v.rule_id == "process.not_allowed"] == ["sed"]


def test_a_program_in_the_workspace_run_by_the_loader_was_written_there(feed: Callable[..., Feed]) -> None:
    f = feed(allow_workspace_exec=True)
    f(_ld("./tool", "--x", cwd="/work"))
    written = [v for v in f.violations if v.rule_id == "process.written_exec"]
    assert len(written) == 1 and "/work/tool" in written[0].message


def test_a_shell_run_by_the_loader_is_a_shell() -> None:
    ident = identify(_ld("/usr/bin/bash", "-i"))
    assert (ident.loaded, ident.shell, ident.label) == ("bash", True, "bash")


def test_loader_options_alone_name_nothing(feed: Callable[..., Feed]) -> None:
    f = feed(blocked_commands={"rm"})
    f(_ld("--list-diagnostics"), _ld("--version"))
    assert f.violations == []


def test_the_loader_is_known_by_its_cut_kernel_name_or_its_image_link() -> None:
    """A run as short as the loader's is often gone before /proc is read: the exe is then
    the kernel's 15-character name."""
    cut = kexec(1, 10, LD, LD, "/usr/bin/rm", exe="ld-linux-x86-64.")
    link = kexec(1, 11, "/usr/bin/ld.so", "/usr/bin/ld.so", "/usr/bin/rm", exe="ld-linux-x86-64.")
    assert identify(cut).loaded == identify(link).loaded == "rm"


@pytest.mark.parametrize(
    ("argv", "applet"),
    [
        (("busybox", "busybox", "rm", "-f"), "rm"),
        (("/bin/busybox", "busybox", "busybox", "/x/rm"), "rm"),
        (("-busybox", "busybox", "rm"), "rm"),
        (("busybox",), "busybox"),
        (("busybox", "--list"), "--list"),
    ],
)
def test_busybox_runs_the_applet_past_every_literal_busybox(argv: tuple[str, ...], applet: str) -> None:
    assert busybox_applet(argv) == applet


def test_a_link_written_to_an_image_program_is_not_a_written_program(feed: Callable[..., Feed]) -> None:
    """python3 -m venv /tmp/venv: /tmp/venv/bin/python is a link to the image's python."""
    f = feed()
    venv = kexec(1, 10, "/tmp/venv/bin/python", "python", "-c", "1", exe="/usr/bin/python3.11",
                 exe_writable=True, exe_fs="/tmp")  # fmt: skip
    copy = kexec(2, 11, "/work/tool", "tool", exe="/work/tool", exe_writable=True, exe_fs="/work")
    script = kexec(3, 12, "/work/run.py", "/usr/bin/python3", "/work/run.py", exe="/usr/bin/python3.11",
                   exe_writable=True, exe_fs="/work", script="/work/run.py")  # fmt: skip
    f(venv, copy, script)
    written = [v.message.split(": ")[1] for v in f.violations if v.rule_id == "process.written_exec"]
    assert written == ["/work/tool", "/work/run.py"]


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        ((LD, "/bin/busybox", "rm", "-f", "x"), "rm"),  # busybox image: the loader runs busybox rm
        ((LD, "--argv0", "rm", "/bin/busybox", "-f", "x"), "rm"),  # busybox runs argv[0]'s applet
        ((LD, "/bin/rm", "-f", "x"), "rm"),  # /bin/rm -> busybox: argv[0] is /bin/rm
        ((LD, "--argv0", "-sh", "/bin/busybox"), "sh"),
    ],
)
def test_busybox_run_by_the_loader_is_judged_by_its_applet(argv: tuple[str, ...], loaded: str) -> None:
    assert identify(kexec(1, 10, LD, *argv, exe=LD_EXE)).loaded == loaded
