"""The kernel source against the real kernel and Docker engine: every exec seen, blocked
programs killed before they run (also from inside allowed programs), kills scoped to
sandguard's sandboxes, connects seen."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collectors.docker_port import ContainerInfo
from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.probe import Capabilities
from collectors.kernel.source import KernelSource
from schemas import ActionResult, AuditEvent, ConnectEvent, ExecEvent, decode, labels
from tests.conftest import BUSYBOX_IMAGE, NEEDS_ROOT, PYTHON_IMAGE

pytestmark = NEEDS_ROOT  # the reason is said where it is defined
# Mount options of the sandbox's workspace (sandbox/config.py: noexec by default).
WORK_TMPFS = {"/work": "rw,nosuid,nodev,noexec,size=16m,uid=1000,gid=1000"}


class Seen:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, out: list[tuple[str, str | None, bytes]]) -> None:
        self.events.extend(decode(topic, value) for topic, _, value in out)

    def of(self, cid: str, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and getattr(e, "container_id", "") == cid]


def _watch(src: KernelSource, c: Any, blocked: str = "rm,sh,dash,bash", mode: str = "enforce") -> str:
    c.reload()
    info = ContainerInfo(id=c.id, pid=c.attrs["State"]["Pid"],
                         labels={labels.MODE: mode, labels.BLOCKED: blocked})  # fmt: skip
    assert src.add(info) is not None
    return str(c.id)


# How a stopped exec ends: SIGKILL at sched_process_exec (137), or refused with EPERM by the
# bprm_check_security LSM hook where the kernel allows BPF LSM (126: runc's "permission
# denied"; a Python execv raises PermissionError: 1).
STOPPED = (137, 126)


def stopped(code: int) -> bool:
    return code in STOPPED


async def _exec(c: Any, *cmd: str) -> tuple[int, str]:
    res = await asyncio.to_thread(c.exec_run, list(cmd), user="1000")
    return int(res.exit_code), res.output.decode(errors="replace")


async def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_thousand_execs_give_a_thousand_events(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    c = sandbox(["sleep", "600"])
    cid = _watch(src, c, blocked="rm")
    code, out = await _exec(c, "sh", "-c", "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done")
    assert code == 0, out
    await src.sync()

    def trues() -> list[ExecEvent]:
        return [e for e in seen.of(cid, ExecEvent) if e.argv == ("/bin/true",)]

    await _until(lambda: len(trues()) + src.lost >= 1000)
    assert len(trues()) == 1000 or src.lost > 0  # a loss is counted, never silent
    assert len({e.event_id for e in trues()}) == len(trues())


BYPASSES = {
    "python os.system": ["python3", "-c", "import os; os.system('rm -f /work/victim')"],
    "awk system()": ["awk", "BEGIN{system(\"rm -f /work/victim\")}"],
    "perl exec": ["perl", "-e", "exec '/bin/rm', '-f', '/work/victim'"],
    "sed e": ["sed", "-n", "1e rm -f /work/victim", "/etc/hosts"],
    "tar checkpoint": ["tar", "cf", "/dev/null", "/etc/hostname", "--checkpoint=1",
                       "--checkpoint-action=exec=rm -f /work/victim"],
    "nsenter": ["nsenter", "rm", "-f", "/work/victim"],
    "choom": ["choom", "-n", "0", "--", "rm", "-f", "/work/victim"],
    "run-parts": ["run-parts", "--regex", "^rm$", "--arg=-f", "--arg=/work/victim", "/usr/bin"],
    "shell via perl": ["perl", "-e", "exec '/bin/sh', '-c', 'echo ran > /work/victim2'"],
}  # fmt: skip


async def test_blocked_programs_never_run_even_from_allowed_ones(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE, tmpfs=WORK_TMPFS)
    cid = _watch(src, c)
    await _exec(c, "python3", "-c", "open('/work/victim','w').write('x')")
    for name, cmd in BYPASSES.items():
        await _exec(c, *cmd)
        code, _ = await _exec(c, "test", "-e", "/work/victim")
        assert code == 0, f"{name}: rm ran and deleted the file"
    code, _ = await _exec(c, "test", "-e", "/work/victim2")
    assert code == 1, "a blocked shell ran"
    await src.sync()
    await _until(lambda: len([e for e in seen.of(cid, ExecEvent) if e.blocked]) >= len(BYPASSES) - 1)
    actions = seen.of(cid, ActionResult)
    assert actions and all(a.details["program"] in {"rm", "sh"} for a in actions)


# argv[0] is the caller's text: it names the program only when the file executed is busybox,
# which runs the applet it names (one leading '-' dropped, then the basename; argv[1] after
# a literal "busybox"). A run either is rm (killed) or sleep: /tmp/v stays. name: (image, argv, killed)
EXECV_SLEEP_AS_RM = "import os; os.execv('/bin/sleep', ['rm', '0.1'])"
LONG_ARGV0_RM = 'exec -a "$(printf "/%.0s" $(seq 150))rm" /bin/busybox -f /tmp/v'
ARGV0_RUNS = {
    "rm itself": (PYTHON_IMAGE, ["rm", "-f", "/tmp/v"], True),
    "exec -a rm sleep": (PYTHON_IMAGE, ["bash", "-c", "exec -a rm sleep 0.1"], False),
    "python execv sleep as rm": (PYTHON_IMAGE, ["python3", "-c", EXECV_SLEEP_AS_RM], False),
    "busybox applet link": (BUSYBOX_IMAGE, ["rm", "-f", "/tmp/v"], True),
    "busybox rm": (BUSYBOX_IMAGE, ["busybox", "rm", "-f", "/tmp/v"], True),
    "busybox /x/rm": (BUSYBOX_IMAGE, ["busybox", "/x/rm", "-f", "/tmp/v"], True),
    "busybox as rm": (BUSYBOX_IMAGE, ["sh", "-c", "exec -a rm /bin/busybox -f /tmp/v"], True),
    "busybox as -rm": (BUSYBOX_IMAGE, ["sh", "-c", "exec -a -rm /bin/busybox -f /tmp/v"], True),
    "busybox link sleep as rm": (BUSYBOX_IMAGE, ["sh", "-c", "exec -a /x/rm /bin/sleep -f /tmp/v"], True),
    # busybox_main runs itself again for each literal "busybox" (redexec's gap)
    "busybox busybox rm": (BUSYBOX_IMAGE, ["busybox", "busybox", "rm", "-f", "/tmp/v"], True),
    "busybox x3 /x/rm": (BUSYBOX_IMAGE, ["busybox", "/y/busybox", "busybox", "/x/rm", "-f", "/tmp/v"], True),
    # argv[0] past the 96 bytes the bpftrace probe scanned (redexec's gap)
    "busybox as 150 slashes then rm": (BUSYBOX_IMAGE, ["sh", "-c", LONG_ARGV0_RM], True),
}  # fmt: skip


async def test_argv0_names_the_program_only_for_busybox(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    boxes = {image: sandbox(["sleep", "600"], image=image) for image in (PYTHON_IMAGE, BUSYBOX_IMAGE)}
    for c in boxes.values():
        _watch(src, c, blocked="rm")
    for name, (image, cmd, killed) in ARGV0_RUNS.items():
        c = boxes[image]
        assert (await _exec(c, "touch", "/tmp/v"))[0] == 0
        code, out = await _exec(c, *cmd)
        assert stopped(code) is killed, f"{name}: exit {code} {out}"
        assert (await _exec(c, "test", "-e", "/tmp/v"))[0] == 0, f"{name}: rm ran"  # killed, or it was sleep
    await src.sync()
    sleeps = [
        e for e in seen.of(str(boxes[PYTHON_IMAGE].id), ExecEvent) if e.argv[:1] == ("rm",) and not e.blocked
    ]
    assert len(sleeps) == 2 and all(e.program == "sleep" for e in sleeps), sleeps


async def test_a_copy_of_rm_in_the_workspace_is_refused_by_noexec(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, _ = source
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE, tmpfs=WORK_TMPFS)
    _watch(src, c, blocked="rm")
    script = "cp /bin/rm /work/cleaner && touch /work/v && /work/cleaner /work/v"
    code, out = await _exec(c, "sh", "-c", script)
    assert code != 0 and "Permission denied" in out
    code, _ = await _exec(c, "test", "-e", "/work/v")
    assert code == 0


MEMFD_RM = (
    "import os\nfd = os.memfd_create('cleaner')\nos.write(fd, open('/usr/bin/rm', 'rb').read())\n"
    "os.execv(f'/proc/self/fd/{fd}', ['cleaner', '-f', '/work/victim'])\n"
)


@pytest.mark.parametrize("workspace_exec", [False, True])
async def test_a_program_run_from_memory_is_refused_unless_the_policy_allows_it(
    source: tuple[KernelSource, Seen], sandbox: Any, workspace_exec: bool
) -> None:
    src, seen = source
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE, tmpfs=WORK_TMPFS)
    c.reload()
    allowed = "1" if workspace_exec else "0"
    policy = {labels.MODE: "enforce", labels.BLOCKED: "rm", labels.WORKSPACE_EXEC: allowed}
    cid = _watch_labels(src, c, policy)
    await _exec(c, "python3", "-c", "open('/work/victim','w').write('x')")
    code, _ = await _exec(c, "python3", "-c", MEMFD_RM)
    assert (code == 0) is workspace_exec and (workspace_exec or code in (1, *STOPPED))
    code, _ = await _exec(c, "test", "-e", "/work/victim")
    assert code == (1 if workspace_exec else 0)
    await src.sync()
    await _until(lambda: any(e.exe_fs == "memfd" for e in seen.of(cid, ExecEvent)))
    ev = next(e for e in seen.of(cid, ExecEvent) if e.exe_fs == "memfd")
    assert ev.exe_writable and ev.blocked is not workspace_exec


def _watch_labels(src: KernelSource, c: Any, policy: dict[str, str]) -> str:
    assert src.add(ContainerInfo(id=c.id, pid=c.attrs["State"]["Pid"], labels=policy)) is not None
    return str(c.id)


async def test_kills_are_scoped_to_sandguard_sandboxes(source: tuple[KernelSource, Seen], sandbox: Any,
                                                       tmp_path: Any) -> None:  # fmt: skip
    src, _ = source
    _watch(src, sandbox(["sleep", "600"], image=PYTHON_IMAGE))
    foreign = sandbox(["sleep", "600"], image=PYTHON_IMAGE, labels={"sandguard.sandbox": "0"})
    await src.sync()
    victim = tmp_path / "host-victim"
    victim.write_text("x")
    subprocess.run(["rm", "-f", str(victim)], check=True)
    assert not victim.exists()
    code, _ = await _exec(foreign, "sh", "-c", "touch /tmp/v && rm /tmp/v && test ! -e /tmp/v")
    assert code == 0


async def test_a_loopback_connect_and_its_tcp_states_are_seen(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE, network_mode="bridge")
    cid = _watch(src, c)
    script = ("import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
              "c=socket.create_connection(s.getsockname()); a, _ = s.accept(); "
              "c.close(); a.close(); s.close()")  # fmt: skip
    code, out = await _exec(c, "python3", "-c", script)
    assert code == 0, out
    await src.sync()

    def states() -> list[ConnectEvent]:
        return [e for e in seen.of(cid, ConnectEvent) if e.phase == "state"]

    def connects() -> list[ConnectEvent]:
        return [e for e in seen.of(cid, ConnectEvent) if e.phase == "connect" and e.daddr == "127.0.0.1"]

    await _until(lambda: bool(connects()))
    ev = connects()[0]
    assert ev.protocol == "tcp" and ev.result == 0 and ev.dport > 0 and ev.sport and ev.ns_pid
    # The client's SYN_SENT -> ESTABLISHED (often in softirq: attributed by the network
    # namespace), the listener, and each end's close, joined to the connect by its ports.
    await _until(lambda: sum(e.new_state == "CLOSE" for e in states()) >= 3)
    client = [e for e in states() if (e.sport, e.dport) == (ev.sport, ev.dport)]
    assert [(e.old_state, e.new_state) for e in client][:1] == [("SYN_SENT", "ESTABLISHED")], client
    assert client[-1].new_state == "CLOSE" and client[0].daddr == client[0].saddr == "127.0.0.1"
    assert any(e.new_state == "LISTEN" and e.sport == ev.dport for e in states())
    assert any(e.old_state == "SYN_RECV" and e.sport == ev.dport for e in states())
    assert len({e.event_id for e in states()}) == len(states())


async def test_tcp_states_of_the_host_and_of_foreign_containers_are_not_published(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    _watch(src, sandbox(["sleep", "600"], image=PYTHON_IMAGE))
    foreign = sandbox(["sleep", "600"], image=PYTHON_IMAGE, labels={"sandguard.sandbox": "0"})
    script = ("import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
              "c=socket.create_connection(s.getsockname()); c.close(); s.close()")  # fmt: skip
    await _exec(foreign, "python3", "-c", script)
    await asyncio.to_thread(subprocess.run, ["python3", "-c", script], check=True)
    await src.sync()
    assert [e for e in seen.events if isinstance(e, ConnectEvent)] == []


async def blocked_sleep_is_killed_late(src: KernelSource, seen: Seen, sandbox: Any) -> None:
    """In proc_connector mode: a blocked sleep is killed after it started, the action says so."""
    # Its init is not sleep: the connector's exec of it may be read after the watch starts,
    # and a blocked init would be killed late with its container.
    c = sandbox(["python3", "-c", "import time; time.sleep(600)"], image=PYTHON_IMAGE)
    cid = _watch(src, c, blocked="sleep")
    # Killed, not finished: had sleep run its 5 s, sh would have printed "survived".
    code, out = await _exec(c, "sh", "-c", "sleep 5 && echo survived")
    assert code == 137 and "survived" not in out, (code, out)
    await _until(lambda: any(e.program == "sleep" for e in seen.of(cid, ExecEvent)))
    ev = next(e for e in seen.of(cid, ExecEvent) if e.program == "sleep")
    assert ev.source == "proc_connector" and ev.best_effort and not ev.blocked
    await _until(lambda: bool(seen.of(cid, ActionResult)))
    assert seen.of(cid, ActionResult)[0].details["late"] is True


async def test_without_bpf_the_proc_connector_sees_execs_and_kills_late(sandbox: Any) -> None:
    seen = Seen()
    caps = Capabilities(loader=None, btf=False, tracefs=False, root=True)
    src = KernelSource(host="test", emit=seen, metrics=KernelMetrics(CollectorRegistry()), caps=caps)
    await src.start()
    try:
        assert src.mode == "proc_connector" and src.health()["prevention"] == "late (user space)"
        await blocked_sleep_is_killed_late(src, seen, sandbox)
    finally:
        await src.stop()


async def test_a_tracer_that_dies_is_said_and_restarted_with_every_sandbox(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE)
    cid = _watch(src, c, blocked="rm")
    assert src.tracer_pid is not None
    os.kill(src.tracer_pid, signal.SIGKILL)  # the tracer this test's source started
    await _until(lambda: src.restarts == 1, timeout_s=60)
    actions = {e.action for e in seen.events if isinstance(e, AuditEvent)}
    assert {"kernel_tracer_exited", "kernel_tracer_restarted"} <= actions and src.mode == "bpf"
    code, _ = await _exec(c, "sh", "-c", "touch /tmp/v && rm /tmp/v")
    assert code != 0  # rm killed again: the restarted tracer has the sandbox's blocked names
    await src.sync()
    await _until(lambda: any(e.blocked for e in seen.of(cid, ExecEvent)))


FORK_TWICE = (
    "import os\n"
    "if os.fork() == 0:\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        os.execv('/bin/true', ['true', 'ancestors-probe'])\n"
    "    os.wait()\n"
    "    os._exit(0)\n"
    "os.wait()\n"
)


async def test_an_exec_names_its_ancestors_past_forks_without_exec(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    """A process forked twice (no exec between) and in a session of its own still names the
    process that forked it first: the chain the rules join a shell to a connection by."""
    src, seen = source
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE)
    cid = _watch(src, c, blocked="rm")
    code, out = await _exec(c, "python3", "-c", FORK_TWICE)
    assert code == 0, out
    await src.sync()
    await _until(lambda: any(e.argv[1:] == ("ancestors-probe",) for e in seen.of(cid, ExecEvent)))
    execs = seen.of(cid, ExecEvent)
    probe = next(e for e in execs if e.argv[1:] == ("ancestors-probe",))
    python = next(e for e in execs if e.argv[:2] == ("python3", "-c"))
    assert probe.ppid != python.pid and probe.ancestors[0] == python.pid, (probe, python.pid)
    # python's own parent is runc's, reparented to the shim once runc exits: a pid, not named here
    assert len(probe.ancestors) >= 2 and probe.sid == probe.pid  # setsid: its own session


UDP_SENDS = (
    "import socket\n"
    "r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.sendto(b'q', r.getsockname())\n"
    "s.sendmsg([b'q'], [], 0, r.getsockname())\n"
    "print(r.getsockname()[1])\n"
)


async def test_addressed_sends_are_seen_as_connects(source: tuple[KernelSource, Seen], sandbox: Any) -> None:
    """A datagram needs no connect: sendto and sendmsg with an address are reported like one
    (result 0, not the byte count; the local port bound by the send)."""
    src, seen = source
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE)
    cid = _watch(src, c)
    code, out = await _exec(c, "python3", "-c", UDP_SENDS)
    assert code == 0, out
    port = int(out.strip().splitlines()[-1])
    await src.sync()

    def sends() -> list[ConnectEvent]:
        return [e for e in seen.of(cid, ConnectEvent) if e.dport == port]

    await _until(lambda: len(sends()) >= 2)
    assert all(e.protocol == "udp" and e.daddr == "127.0.0.1" and e.result == 0 for e in sends()), sends()
    assert len({e.sport for e in sends()}) == 1 and sends()[0].sport  # one socket, bound by the first send
