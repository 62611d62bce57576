"""Prevention beyond exec, against the real kernel and a real sandbox: a blocked program
run without being exec'd (the dynamic loader maps and runs it: ``ld.so /bin/rm``) is
stopped in enforce mode and recorded in audit mode (the bpftrace program let all of these
run); health says which kernel hooks are in force (BPF LSM refusals, or tracepoint kills
where the kernel refuses LSM programs).

Two defences: the exec of ld.so is judged by the program its argv names (its operand,
like a busybox applet), and an executable mapping of a blocked program's file by another
program is refused or killed: that one catches a name argv hides (a link named otherwise)."""

from __future__ import annotations

from typing import Any

from collectors.kernel.source import KernelSource
from schemas import ActionResult, ExecEvent, labels
from tests.conftest import BUSYBOX_IMAGE, NEEDS_ROOT, PYTHON_IMAGE
from tests.integration.collectors.kernel.test_kernel_source import (
    WORK_TMPFS,
    Seen,
    _exec,
    _until,
    _watch_labels,
)

pytestmark = NEEDS_ROOT  # the reason is said where it is defined
LDSO = "/lib64/ld-linux-x86-64.so.2"
LINKED = f"ln -sf /usr/bin/rm /tmp/cleaner && {LDSO} /tmp/cleaner -f /work/victim"
# Ways to run rm's code without exec'ing rm (the kernel's exec sees ld.so). The last one
# names rm nowhere in argv: only the mapping of rm's file shows it.
LOADER_RUNS = {
    "ld.so /bin/rm": [LDSO, "/bin/rm", "-f", "/work/victim"],
    "ld.so --argv0 ls /bin/rm": [LDSO, "--argv0", "ls", "/bin/rm", "-f", "/work/victim"],
    "ld.so via sh": ["sh", "-c", f"{LDSO} /usr/bin/rm -f /work/victim"],
    "ld.so through a link named cleaner": ["sh", "-c", LINKED],
}  # fmt: skip


async def _victim(c: Any) -> None:
    code, out = await _exec(c, "python3", "-c", "open('/work/victim','w').write('x')")
    assert code == 0, out


async def _run_all(src: KernelSource, sandbox: Any, mode: str) -> tuple[str, dict[str, bool], Any]:
    """Each loader run against a fresh victim: {name: the victim survived}."""
    c = sandbox(["sleep", "600"], image=PYTHON_IMAGE, tmpfs=WORK_TMPFS)
    c.reload()
    cid = _watch_labels(src, c, {labels.MODE: mode, labels.BLOCKED: "rm"})
    await src.sync()
    survived = {}
    for name, cmd in LOADER_RUNS.items():
        await _victim(c)
        await _exec(c, *cmd)
        survived[name] = (await _exec(c, "test", "-e", "/work/victim"))[0] == 0
    await src.sync()
    return cid, survived, c


async def test_the_dynamic_loader_cannot_run_a_blocked_program(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    cid, survived, c = await _run_all(src, sandbox, "enforce")
    assert all(survived.values()), f"rm ran through the dynamic loader: {survived}"
    await _until(lambda: len(seen.of(cid, ActionResult)) >= len(LOADER_RUNS))
    actions = seen.of(cid, ActionResult)
    assert all(a.details["program"] == "rm" and a.result == "applied" for a in actions), actions
    mapped = [a for a in actions if "mapping" in a.reason]  # the link: argv does not name rm
    assert len(mapped) == 1 and mapped[0].details["exe"] == "/usr/bin/rm", actions
    stopped = [e for e in seen.of(cid, ExecEvent) if e.blocked]
    assert stopped and all(e.program == "rm" and e.argv[:1] == (LDSO,) for e in stopped), stopped
    # The loader itself and every other program still run in that sandbox.
    assert (await _exec(c, LDSO, "/bin/ls", "/work"))[0] == 0


async def test_in_audit_mode_the_dynamic_loader_run_is_recorded_not_stopped(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    cid, survived, _ = await _run_all(src, sandbox, "audit")
    assert not any(survived.values()), survived  # audit: rm ran, as it would without sandguard
    # Each run is recorded at the mapping of rm's file, and the three that name rm at the exec too.
    await _until(lambda: len(seen.of(cid, ActionResult)) >= 2 * len(LOADER_RUNS) - 1)
    assert all(a.result == "audit_only" and a.details["program"] == "rm" for a in seen.of(cid, ActionResult))


async def test_health_names_the_kernel_hooks_in_force(source: tuple[KernelSource, Seen]) -> None:
    src, _ = source
    lsm = src.health()["lsm"]
    with open("/sys/kernel/security/lsm", encoding="ascii") as f:
        bpf_lsm_listed = "bpf" in f.read().split(",")
    if lsm["hooks"]:
        assert bpf_lsm_listed and "bprm_check_security" in lsm["hooks"], lsm
    else:  # the kernel refused the LSM programs: why is said, tracepoint kills in force
        assert lsm["error"] and src.health()["prevention"] == "in-kernel", lsm


# The busybox image's rm is busybox: a mapping of it names nothing blocked. ld.so's operand
# (after its options) names the program, and when that is busybox, --argv0's value or the
# words after it name the applet, as for busybox itself: killed at the exec of ld.so.
BUSYBOX_TWICE = ["/bin/busybox", "busybox", "rm", "-f", "/tmp/v"]
BUSYBOX_LOADER_RUNS = {
    "ld.so /bin/busybox rm": [LDSO, "/bin/busybox", "rm", "-f", "/tmp/v"],
    "ld.so /bin/rm (a link to busybox)": [LDSO, "/bin/rm", "-f", "/tmp/v"],
    "ld.so --argv0 rm /bin/busybox": [LDSO, "--argv0", "rm", "/bin/busybox", "-f", "/tmp/v"],
    "ld.so --library-path /lib busybox busybox rm": [LDSO, "--library-path", "/lib", *BUSYBOX_TWICE],
    "ld.so --inhibit-cache /bin/rm": [LDSO, "--inhibit-cache", "/bin/rm", "-f", "/tmp/v"],
}  # fmt: skip
BUSYBOX_LOADER_BENIGN = {
    "ld.so /bin/busybox ls": [LDSO, "/bin/busybox", "ls", "/tmp"],
    "ld.so --argv0 ls /bin/busybox /tmp": [LDSO, "--argv0", "ls", "/bin/busybox", "/tmp"],
    "ld.so /bin/busybox echo rm": [LDSO, "/bin/busybox", "echo", "rm"],
}


async def test_the_dynamic_loader_cannot_run_a_blocked_busybox_applet(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    c = sandbox(["sleep", "600"], image=BUSYBOX_IMAGE)
    c.reload()
    cid = _watch_labels(src, c, {labels.MODE: "enforce", labels.BLOCKED: "rm"})
    await src.sync()
    for name, cmd in BUSYBOX_LOADER_RUNS.items():
        assert (await _exec(c, "touch", "/tmp/v"))[0] == 0
        code, out = await _exec(c, *cmd)
        assert code == 137, f"{name}: exit {code} {out}"  # killed at the exec of ld.so (its operand)
        assert (await _exec(c, "test", "-e", "/tmp/v"))[0] == 0, f"{name}: rm ran"
    for name, cmd in BUSYBOX_LOADER_BENIGN.items():
        code, out = await _exec(c, *cmd)
        assert code == 0, f"{name}: exit {code} {out}"
    await src.sync()
    await _until(lambda: len(seen.of(cid, ActionResult)) >= len(BUSYBOX_LOADER_RUNS))
