"""The second red-team of the API boundary, against the real engine, on both images.

An adversarial agent uses only the public API with the default policy's checks and a
lenient one (no extension allowlist, only ``rm`` blocked). Each command defeat is first
run *around* the API (``docker exec`` as the sandbox user, in the image's own shell),
where it deletes a victim file (the proof that the shell really runs it), then through
``execute``, where it must be refused with a reason and an audit event, the victim
intact. Tricks that were already refused run through the API too (evidence). File API
and timeout attacks are batched per sandbox: each must fail fast with a specific error
and an audit event, or leave nothing running.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from sandbox import CommandDeniedError, FileTooLargeError, PathDeniedError, SandboxManager
from sandbox.exceptions import EnvironmentDeniedError, InvalidSandboxRequest, SandboxFileNotFound
from sandguard.bus import LocalBus
from schemas import AuditCategory, AuditEvent
from schemas import topics as t
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.sandbox.conftest import MakeManager, drain, quick_policy
from tests.unit.sandbox.validation.test_redteam import HELD

VICTIM = "/work/victim.txt"
PY, BB = PYTHON_IMAGE, BUSYBOX_IMAGE
# Files the attacks read, written through the file API (their text would be refused in
# a command line for the '$(rm' it holds, which is not the point of these attacks).
PAYLOADS = {
    "/work/v.txt": b"([0$(rm -f /work/victim.txt)]=1)\n",
    "/work/M": b"all:\n\trm -f /work/victim.txt\n",
    "/work/c.txt": b"rm -f /work/victim.txt\n",
}
# (name, line, images where the line deletes the victim when run around the API)
DEFEATS: list[tuple[str, str, set[str]]] = [
    ("symlink", f"ln -sf /usr/bin/rm /work/del; /work/del -f {VICTIM}", {PY}),
    ("symlink-relative", "cd /work && ln -sf /usr/bin/rm del2 && ./del2 -f victim.txt", {PY}),
    (
        "symlink-dotdot",
        "mkdir -p /tmp/a/b /tmp/usr/bin && ln -sf /usr/bin/rm /tmp/usr/bin/ls && ln -sfn /tmp/a/b /work/l; "
        f"/work/l/../../usr/bin/ls -f {VICTIM}",
        {PY},
    ),
    ("fd-exec", f"exec 3</usr/bin/rm; /proc/self/fd/3 -f {VICTIM}", {PY}),
    ("dev-fd-exec", f"exec 3</usr/bin/rm; /dev/fd/3 -f {VICTIM}", {PY}),
    ("jobs-x", f"bash -c 'jobs -x rm -f {VICTIM}'", {PY}),
    ("compgen-C", f"bash -c \"compgen -C 'rm -f {VICTIM}' x\"", {PY}),
    ("compgen-W", f"bash -c \"compgen -W '\\$(rm -f {VICTIM})' x\"", {PY}),
    ("history", f"bash -c 'set -o history -H\n: rm -f {VICTIM}\n!:1 !:2 !:3'", {PY}),
    ("declare-compound", "bash -c 'read -r v < /work/v.txt; declare -a x=\"$v\"'", {PY}),
    ("socat", f"socat -u OPEN:/dev/null SYSTEM:'rm -f {VICTIM}'", {PY}),
    ("unset-path", "bash -c 'cd /work && ln -sf /usr/bin/rm ls; unset PATH; ls -f victim.txt'", {PY}),
    (
        "fd-variable",
        "bash -c 'cd /work && mkdir -p 10 11 && ln -sf /usr/bin/rm 10/ls && ln -sf /usr/bin/rm 11/ls && "
        "exec {PATH}>/dev/null; ls -f victim.txt'",
        {PY},
    ),
    (
        "wait-p",
        "bash -c 'cd /work; sleep 0 & p=$!; mkdir -p $p; ln -sf /usr/bin/rm $p/ls; "
        "wait -n -p PATH; ls -f victim.txt'",
        {PY},
    ),
    (
        "pager",
        f"gzip -c /etc/hostname > /work/f.gz; PAGER='rm -f {VICTIM}' zmore /work/f.gz </dev/null",
        {PY},
    ),
    ("service", f"/usr/sbin/service ../../usr/bin/rm -f {VICTIM}", {PY}),
    ("debconf", f"debconf /usr/bin/rm -f {VICTIM}", {PY}),
    ("awk-indirect", f'gawk \'BEGIN{{f="system"; @f("rm -f {VICTIM}")}}\'', {PY}),
    ("sed-label", "sed ':a;e' /work/c.txt", {PY}),
    ("pathless-bash", "cd /work && ln -sf /usr/bin/rm del3 && env -i bash -c 'del3 -f victim.txt'", {PY}),
    ("mim", "cd /work && mim -f M", {BB}),
]
# One blank-separated word each, 120 KB of commands: 12 s and 6 s of parsing before.
FLOODS = ["a|" * 60_000 + "a", "echo " + "`a`" * 40_000]
# Was a UnicodeEncodeError from the engine client, with no audit event.
ODD_ENVIRONMENTS = [{"X": "\udcff"}, {"BASH_FUNC_ls%%": "() { rm x; }"}, {"PS4": "$(rm x)"}]
SANDBOX_USER = "1000:1000"
# A refusal is decided from the text, before any engine request: well under this.
FAST_S = 2.0


def lenient() -> Any:
    return quick_policy(blocked_commands={"rm"}, allowed_file_extensions=set())


def _raw_exec(docker_client: Any, sid: str, line: str) -> None:
    """The line run around the API: the image's /bin/sh, as the sandbox user."""
    docker_client.containers.get(sid).exec_run(["sh", "-c", line], user=SANDBOX_USER, workdir="/work")


async def _victim_exists(manager: SandboxManager, sid: str) -> bool:
    try:
        await manager.read_file(sid, VICTIM)
    except SandboxFileNotFound:
        return False
    return True


async def _denied_events(audit: Any, category: AuditCategory) -> list[AuditEvent]:
    events = [e for _, e in await drain(audit, t.AUDIT) if isinstance(e, AuditEvent)]
    return [e for e in events if e.category is category and e.allowed is False]


@pytest.mark.parametrize("image", [PYTHON_IMAGE, BUSYBOX_IMAGE])
async def test_command_defeats_run_around_the_api_and_are_refused_through_it(
    make_manager: MakeManager, bus: LocalBus, docker_client: Any, image: str
) -> None:
    audit = await bus.consumer([t.AUDIT], group=f"test-defeats-{image}")
    manager = await make_manager(lenient(), image=image)
    sid = await manager.create_sandbox()
    for path, data in PAYLOADS.items():
        await manager.write_file(sid, path, data)
    ran_around: list[str] = []
    for name, line, real_on in DEFEATS:
        if image in real_on:
            await manager.write_file(sid, VICTIM, b"precious")
            await asyncio.to_thread(_raw_exec, docker_client, sid, line)
            ran_around += [name] if not await _victim_exists(manager, sid) else []
        await manager.write_file(sid, VICTIM, b"precious")
        with pytest.raises(CommandDeniedError) as denied:
            await manager.execute(sid, line, timeout=10)
        assert denied.value.reason, name
        assert await _victim_exists(manager, sid), f"{name}: the victim is gone"
    assert ran_around == [name for name, _, real_on in DEFEATS if image in real_on]
    for _name, line in HELD:
        with pytest.raises(CommandDeniedError):
            await manager.execute(sid, line, timeout=10)
    for line in FLOODS:  # refused in milliseconds, not parsed for seconds on the event loop
        await _refused(manager.execute(sid, line, timeout=10), CommandDeniedError, "shell words")
    for env in ODD_ENVIRONMENTS:  # each a clear refusal, never an encoding error
        with pytest.raises(EnvironmentDeniedError):
            await manager.execute(sid, "true", env=env, timeout=10)
    denied_events = await _denied_events(audit, AuditCategory.EXEC)
    assert len(denied_events) == len(DEFEATS) + len(HELD) + len(FLOODS) + len(ODD_ENVIRONMENTS)
    assert all(e.reason for e in denied_events)


async def _refused(coro: Any, error: type[Exception], match: str) -> None:
    started = time.monotonic()
    with pytest.raises(error, match=match):
        await coro
    assert time.monotonic() - started < FAST_S


# The sandbox prepares what the file API is then pointed at.
FILE_SETUP = (
    "mkfifo /work/fifo /work/held; (cat /work/held >/dev/null &); "
    "ln -s /dev/zero /work/zero; ln -s /etc /work/etc; ln -s / /work/root; ln -s loop /work/loop; "
    "truncate -s 10G /work/sparse; ln /etc/passwd /work/hard; "
    "python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/work/sock\")'"
)


async def test_file_api_attacks_fail_fast_with_a_reason_and_an_audit_event(
    make_manager: MakeManager, bus: LocalBus
) -> None:
    audit = await bus.consumer([t.AUDIT], group="test-file-attacks")
    manager = await make_manager(lenient(), image=PYTHON_IMAGE)
    sid = await manager.create_sandbox()
    await manager.execute(sid, FILE_SETUP, timeout=30)
    m = manager
    refusals: list[tuple[Any, type[Exception], str]] = [
        (m.read_file(sid, "/work/fifo"), PathDeniedError, "not a regular file"),  # never hangs
        (m.write_file(sid, "/work/fifo", b"x"), PathDeniedError, "not a regular file"),
        (m.write_file(sid, "/work/held", b"x"), PathDeniedError, "not a regular file"),  # a reader waits
        (m.read_file(sid, "/work/sock"), PathDeniedError, "not a regular file"),
        (m.read_file(sid, "/work/zero"), PathDeniedError, "/dev/zero"),
        (m.write_file(sid, "/work/zero", b"x"), PathDeniedError, "/dev/zero"),
        (m.read_file(sid, "/work/etc/shadow"), PathDeniedError, "outside the allowed roots"),
        (m.read_file(sid, "/work/etc/../etc/passwd"), PathDeniedError, "outside the allowed roots"),
        (m.read_file(sid, "/work/root/etc/passwd"), PathDeniedError, "outside the allowed roots"),
        (m.list_files(sid, "/work/root"), PathDeniedError, "outside the allowed roots"),
        (m.read_file(sid, "/work/loop"), PathDeniedError, "symbolic links"),
        (m.read_file(sid, "/work/sparse"), FileTooLargeError, "over the limit"),  # 10 GB, never read
        (m.write_file(sid, "/dev/shm/x", b"x"), PathDeniedError, "outside the allowed roots"),
        (m.write_file(sid, "/dev/null", b"x"), PathDeniedError, "outside the allowed roots"),
        (m.write_file(sid, "/proc/self/mem", b"x"), PathDeniedError, "outside the allowed roots"),
        (m.write_file(sid, "/work/a\nb", b"x"), PathDeniedError, "control character"),
        (m.write_file(sid, "/work/\udcff", b"x"), PathDeniedError, "not valid Unicode"),
        (m.read_file(sid, "/work/a\0b"), PathDeniedError, "NUL"),
        (m.write_file(sid, "/work/" + "a" * 5000, b"x"), PathDeniedError, "."),
        (m.write_file(sid, "/work/" + "a/" * 3000 + "x", b"x"), PathDeniedError, "."),
        (m.read_file(sid, "/WORK/x"), PathDeniedError, "outside the allowed roots"),
        (m.read_file(sid, "/\uff57ork/x"), PathDeniedError, "outside the allowed roots"),  # fullwidth w
        (m.write_file(sid, "/work/suid", b"#!/bin/sh\n", mode=0o4755), PathDeniedError, "set-uid"),
        (m.write_file(sid, "/work/sgid", b"x", mode=0o2775), PathDeniedError, "set-uid"),
    ]
    for coro, error, match in refusals:
        await _refused(coro, error, match)
    with pytest.raises(InvalidSandboxRequest, match="mode"):
        await m.write_file(sid, "/work/neg", b"x", mode=-1)
    bad_arguments: list[tuple[Any, str]] = [  # was bytes(5) written, or a TypeError from inside
        (m.write_file(sid, "/work/five", 5), "data"),  # type: ignore[arg-type]
        (m.execute(sid, b"rm x"), "command"),  # type: ignore[arg-type]
        (m.read_file(sid, b"/work/plain"), "path"),  # type: ignore[arg-type]
        (m.execute(sid, "true", env=[("A", "b")]), "env"),  # type: ignore[arg-type]
    ]
    for coro, field in bad_arguments:
        with pytest.raises(InvalidSandboxRequest, match=f"^{field}: "):
            await coro
    with pytest.raises(SandboxFileNotFound):  # the cross-device hard link was never made
        await m.read_file(sid, "/work/hard")
    assert len(await _denied_events(audit, AuditCategory.FILE)) == len(refusals)
    await m.write_file(sid, "/work/plain", b"x", mode=0o777)
    out = await m.execute(
        sid, "stat -c '%a %u' /work/plain; ls /work/suid /work/neg /work/five 2>&1 | wc -l", timeout=10
    )
    assert out.stdout.split("\n")[0] == "777 1000"


# Each must time out and leave nothing of itself running (tag: sleep 11xx).
TIMEOUT_ATTACKS = {
    "ignores-term-and-stops": "trap '' TERM HUP INT; (trap '' TERM; sleep 1101) & sleep 1 ; kill -STOP $$",
    "stopped-children": "sleep 1102 & kill -STOP $!; nohup sleep 1103 >/dev/null 2>&1 & sleep 60",
    "new-session-double-fork": "setsid sh -c '(sleep 1104 &) &' >/dev/null 2>&1; sleep 60",
    "closed-stdout": "exec >&- 2>&-; sleep 1105",
    "fork-flood": "while :; do (sleep 1106 &) 2>/dev/null; done",
    "stdin-never-read": "cat; sleep 1107",
}
TIMEOUT_S = 2.0
# PTRACE_ATTACH (16) to the init (pid 1) and the lifetime timer (its oldest child): each
# prints the result and errno.
PTRACE_INIT_AND_TIMER = (
    "python3 -c 'import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    'timer = min(int(p) for p in os.listdir("/proc") if p.isdigit() and p != "1")\n'
    "for pid in (1, timer):\n"
    "    print(libc.ptrace(16, pid, 0, 0), ctypes.get_errno())'"
)
CONCURRENT = 6
# The kill is done when execute() returns; give the engine's process list a moment.
GONE_DEADLINE_S = 3.0


def _processes(docker_client: Any, sid: str) -> list[str]:
    return [" ".join(p[-1:]) for p in docker_client.api.top(sid, ps_args="-eo pid,args")["Processes"]]


async def _tagged_survivors(docker_client: Any, sid: str) -> list[str]:
    deadline = time.monotonic() + GONE_DEADLINE_S
    while True:
        found = [p for p in await asyncio.to_thread(_processes, docker_client, sid) if "sleep 11" in p]
        if not found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("image", [PYTHON_IMAGE, BUSYBOX_IMAGE])
async def test_timeouts_end_whatever_the_command_does(
    make_manager: MakeManager, docker_client: Any, image: str
) -> None:
    # Room for the concurrent commands (6 × 3 processes): at the pids limit an exec cannot
    # even start (exit 126), which is the limit holding, not what is tested here.
    policy = quick_policy(blocked_commands={"rm"}, limits={"max_processes": CONCURRENT * 3 + 10})
    manager = await make_manager(policy, image=image)
    sid = await manager.create_sandbox()
    for name, line in TIMEOUT_ATTACKS.items():
        started = time.monotonic()
        result = await manager.execute(sid, line, timeout=TIMEOUT_S)
        assert result.timed_out, name
        assert time.monotonic() - started < TIMEOUT_S + 10, f"{name}: the kill took too long"
        assert not await _tagged_survivors(docker_client, sid), f"{name}: a process outlived the timeout"
    if image == PYTHON_IMAGE:  # the init and the lifetime timer cannot be traced from inside
        traced = await manager.execute(sid, PTRACE_INIT_AND_TIMER, timeout=10)
        assert traced.stdout.split() == ["-1", "1", "-1", "1"], traced  # EPERM twice
    flood = await manager.execute(sid, "yes | head -c 50000000", timeout=30)  # 50 MB
    assert flood.stdout_truncated and len(flood.stdout) <= flood.output_limit
    results = await asyncio.gather(
        *(manager.execute(sid, "sleep 1108 & sleep 60", timeout=TIMEOUT_S) for _ in range(6))
    )
    assert all(r.timed_out for r in results), [
        (r.exit_code, r.duration_ms, r.killed_processes) for r in results
    ]
    assert not await _tagged_survivors(docker_client, sid)
    assert (await manager.execute(sid, "echo alive", timeout=10)).stdout == "alive\n"


async def test_a_lenient_size_limit_never_lets_a_sparse_file_fill_the_managers_memory(
    make_manager: MakeManager,
) -> None:
    """With max_file_size_mb far above any real file, a 10 GB sparse file (made in an
    instant) was read into the manager's memory; reads stop at the file API's own limit."""
    policy = quick_policy(allowed_file_extensions=set(), max_file_size_mb=100_000)
    manager = await make_manager(policy)
    sid = await manager.create_sandbox()
    await manager.execute(sid, "truncate -s 10G /work/sparse && truncate -s 300M /work/medium", timeout=10)
    for path in ("/work/sparse", "/work/medium"):
        await _refused(manager.read_file(sid, path), FileTooLargeError, "the file API's read limit")
