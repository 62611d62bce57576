"""Exec rules over kernel events: judged by the file executed, never by argv text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from processors.engine.programs import allowed_by, identify, reads_stdin, unversioned
from schemas import ExecEvent, ProcessInfo
from tests.unit.processors.conftest import Feed, kexec, kexit, proc, snapshot

BLOCK_RM = {"blocked_commands": {"rm"}}


def _rules(f: Feed) -> list[tuple[str, str]]:
    return [(v.rule_id, v.message.split(":")[0]) for v in f.violations]


@pytest.mark.parametrize(
    "ev",
    [
        kexec(1, 10, "/usr/bin/rm", "rm", "-f", "/work/x"),  # plain
        kexec(1, 10, "/bin/rm", "/bin/rm", "-f", "x", exe="/usr/bin/rm"),  # through the /bin symlink
        kexec(1, 10, "/bin/rm", "rm", "-f", "x", exe="/bin/busybox"),  # busybox applet by its link
        kexec(1, 10, "/bin/sh", "rm", "-f", "x", exe="/bin/busybox"),  # busybox runs argv[0]'s applet
        kexec(1, 10, "/bin/busybox", "busybox", "rm", "-f", "x"),  # busybox rm
        kexec(1, 10, "/bin/busybox", "busybox", "/x/rm", "-f", "x"),  # busybox /x/rm
        kexec(1, 10, "/bin/busybox", "-rm", "-f", "x"),  # exec -a -rm busybox: one '-' dropped
        kexec(1, 10, "/bin/sleep", "/x/rm", "-f", "x", exe="/bin/busybox"),  # a busybox link run as rm
        kexec(1, 10, "/work/python3", "python3", "-f", "x", exe="/usr/bin/rm"),  # a symlink in /work
    ],
)
def test_blocked_program_is_judged_by_the_file_executed(feed: Callable[..., Feed], ev: ExecEvent) -> None:
    f = feed(**BLOCK_RM)
    f(ev)
    assert _rules(f) == [("process.blocked", "blocked program rm ran")]
    assert f.violations[0].evidence.process is not None
    assert f.violations[0].evidence.samples[0]["source"] == "kernel:bpf"


def test_argv_naming_a_blocked_program_is_not_that_program(feed: Callable[..., Feed]) -> None:
    """argv[0] is the caller's text: only busybox runs what it names."""
    f = feed(**BLOCK_RM)
    f(
        kexec(1, 10, "/usr/bin/python3", "rm", "-c", "print(1)", exe="/usr/bin/python3.11"),
        kexec(2, 11, "/usr/bin/grep", "grep", "-e", "rm", "/work/notes.txt"),
        kexec(3, 12, "/usr/bin/sed", "sed", "-e", "s/rm/x/", "/work/notes.txt"),
        kexec(4, 13, "/usr/bin/sleep", "rm", "1"),  # exec -a rm sleep 1
        kexec(
            5, 14, "/bin/sleep", "/bin/rm", "1", exe="/usr/bin/sleep"
        ),  # os.execv('/bin/sleep', ['/bin/rm', '1'])
        kexec(6, 15, "/bin/busybox", "--rm", "-f", "x"),  # busybox drops one '-': applet "-rm" does not exist
    )
    assert f.violations == []


def test_prevented_exec_says_it_never_ran(feed: Callable[..., Feed]) -> None:
    f = feed(**BLOCK_RM)
    f(kexec(1, 10, "/bin/rm", "rm", "x", exe="/bin/busybox", blocked=True, mode="enforce"))
    assert [v.rule_id for v in f.violations] == ["process.blocked"]
    v = f.violations[0]
    assert "prevented" in v.message and "rm" in v.message
    assert v.evidence.samples[0]["prevented"] is True


def test_prevented_exec_outside_the_allowlist(feed: Callable[..., Feed]) -> None:
    f = feed(allowed_commands={"python3"})
    f(kexec(1, 10, "/usr/bin/perl", "perl", "-e", "1", blocked=True))
    assert _rules(f) == [("process.not_allowed", "perl is outside the allowlist")]
    assert "prevented" in f.violations[0].message


def test_written_then_executed_is_a_finding_of_its_own(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(kexec(1, 10, "/work/tool", "/work/tool", exe_writable=True, exe_fs="/work"))
    assert _rules(f) == [("process.written_exec", "program written inside the sandbox executed")]
    assert f.violations[0].severity.value == "high"


def test_a_copy_of_a_blocked_binary_in_the_workspace(feed: Callable[..., Feed]) -> None:
    """cp /bin/rm /work/x; /work/x: the name is gone, the written file is the finding."""
    f = feed(**BLOCK_RM)
    f(kexec(1, 10, "/work/x", "/work/x", "victim", exe_writable=True, exe_fs="/work"))
    assert [v.rule_id for v in f.violations] == ["process.written_exec"]


def test_a_written_script_names_the_script(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(
        kexec(
            1, 10, "/tmp/run.sh", "/tmp/run.sh", exe="/usr/bin/dash", script="/tmp/run.sh", exe_writable=True
        )
    )
    assert f.violations[0].message.startswith("program written inside the sandbox executed: /tmp/run.sh")


@pytest.mark.parametrize(
    ("ev", "ok"),
    [
        (kexec(1, 10, "/usr/bin/python3", "python3", exe="/usr/bin/python3.11"), True),  # versioned exe
        (kexec(1, 10, "/usr/bin/awk", "awk", "1", exe="/usr/bin/mawk"), True),  # the image's alternative
        (kexec(1, 10, "/bin/sh", "sh", exe="/bin/busybox"), True),  # busybox applet sh
        (kexec(1, 10, "/bin/sh", "rm", exe="/bin/busybox"), False),  # busybox applet rm
        (kexec(1, 10, "/work/python3", "python3", exe="/usr/bin/perl"), False),  # a symlink in /work
        (kexec(1, 10, "/usr/bin/perl", "python3", exe="/usr/bin/perl"), False),  # argv[0] lies
    ],
)
def test_allowlist_passes_the_program_actually_loaded(
    feed: Callable[..., Feed], ev: ExecEvent, ok: bool
) -> None:
    f = feed(allowed_commands={"python3", "sh", "awk"}, blocked_commands=set())
    f(ev)
    assert [v.rule_id for v in f.violations] == ([] if ok else ["process.not_allowed"])


def test_suspicious_tool_by_exe_through_alternatives(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(kexec(1, 10, "/usr/bin/nc", "nc", "-z", "127.0.0.1", "1", exe="/usr/bin/nc.openbsd"))
    assert _rules(f) == [("process.suspicious", "suspicious tool nc ran")]


def test_a_snapshot_does_not_judge_a_pid_its_exec_event_judged(feed: Callable[..., Feed]) -> None:
    f = feed(**BLOCK_RM)
    f(kexec(1, 10, "/bin/rm", "rm", "x"))
    f(snapshot(2, proc(10, "rm", "rm", "x", exe="/bin/rm")))
    f(kexit(3, 10), snapshot(4, proc(10, "rm", "rm", "x", exe="/bin/rm", start=5)))  # the snapshot lags
    assert [(v.rule_id, v.count) for v in f.violations] == [("process.blocked", 1)]
    # A process the tracer never saw exec (older than it) is still judged by the snapshot.
    f(snapshot(5, proc(11, "rm", "rm", "y", exe="/bin/rm")))
    assert f.state is not None and f.state.findings["process.blocked\x1frm"].count == 2


def test_audited_command_lines_are_not_judged_once_kernel_events_come(feed: Callable[..., Feed]) -> None:
    from tests.unit.processors.conftest import audit

    f = feed()
    f(kexec(1, 10, "/bin/sh", "sh", "-c", "true", exe="/bin/busybox"))
    f(audit(2, "lifecycle", "exec_start", "bash -i >& /dev/tcp/127.0.0.1/1 0>&1", actor="collector"))
    assert f.violations == []


def test_identity_helpers() -> None:
    assert unversioned("python3.11") == "python" and unversioned("perl5.36.0") == "perl"
    assert unversioned("7z") == "7z" and unversioned("123") == "123"
    assert reads_stdin(("sh",)) and reads_stdin(("sh", "-i")) and not reads_stdin(("sh", "-c", "ls"))
    assert not reads_stdin(("bash", "script.sh"))
    ident = identify(kexec(1, 1, "/usr/bin/gawk", "gawk", "BEGIN{}"))
    assert ident.awk and ident.interpreter and not ident.shell
    assert allowed_by(
        identify(kexec(1, 1, "/usr/bin/python3", exe="/usr/bin/python3.11")), frozenset({"python3"})
    )


def test_kernel_state_survives_serialisation(feed: Callable[..., Feed]) -> None:
    from processors.engine.state import ContainerState

    f = feed()
    f(kexec(1, 10, "/bin/sh", "sh", exe="/bin/busybox"))
    assert f.state is not None
    again = ContainerState.from_bytes(f.state.to_bytes())
    assert again.kernel and again.procs.keys() == {10} and again.kjudged == {10: 1000}
    assert again.procs[10] == f.state.procs[10]


def test_evidence_process_matches_the_exec(feed: Callable[..., Feed]) -> None:
    f = feed(**BLOCK_RM)
    f(kexec(1, 10, "/bin/rm", "rm", "x", ppid=4))
    p = f.violations[0].evidence.process
    assert isinstance(p, ProcessInfo) and (p.pid, p.ppid, p.exe, p.argv) == (10, 4, "/bin/rm", ("rm", "x"))


def test_a_written_script_run_by_the_image_interpreter_names_the_script(feed: Callable[..., Feed]) -> None:
    """The collector may leave ``script`` empty: the executed path is then the script."""
    f = feed()
    f(
        kexec(
            1,
            10,
            "./t1",
            "/bin/sh",
            "./t1",
            exe="/bin/busybox",
            cwd="/work",
            exe_writable=True,
            exe_fs="/work",
        )
    )
    assert f.violations[0].message.startswith("program written inside the sandbox executed: /work/t1")


def test_written_scripts_whose_process_is_gone_stay_apart(feed: Callable[..., Feed]) -> None:
    """A short-lived process leaves ``exe`` as a bare name (best effort): the path names it."""
    f = feed()
    f(
        kexec(1, 10, "/work/t1", "/work/t1", exe="busybox", cwd="", exe_writable=True, best_effort=True),
        kexec(2, 11, "/work/t2", "/work/t2", exe="busybox", cwd="", exe_writable=True, best_effort=True),
    )
    assert [v.message.split(": ")[1] for v in f.violations] == ["/work/t1", "/work/t2"]
