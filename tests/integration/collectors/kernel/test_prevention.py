"""Prevention beyond exec, against the real kernel and a real sandbox: a blocked program
run without being exec'd (the dynamic loader maps and runs it: ``ld.so /bin/rm``) is
stopped in enforce mode and recorded in audit mode; health says which kernel hooks are in
force (BPF LSM refusals, or tracepoint kills where the kernel refuses LSM programs)."""

from __future__ import annotations

from typing import Any

from collectors.kernel.source import KernelSource
from schemas import ActionResult, ExecEvent, labels
from tests.conftest import NEEDS_ROOT, PYTHON_IMAGE
from tests.integration.collectors.kernel.test_kernel_source import (
    WORK_TMPFS,
    Seen,
    _exec,
    _until,
    _watch_labels,
)

pytestmark = NEEDS_ROOT  # the reason is said where it is defined
LDSO = "/lib64/ld-linux-x86-64.so.2"
# Ways to run rm's code without exec'ing rm (the kernel's exec sees ld.so, or python).
LOADER_RUNS = {
    "ld.so /bin/rm": [LDSO, "/bin/rm", "-f", "/work/victim"],
    "ld.so --argv0 ls /bin/rm": [LDSO, "--argv0", "ls", "/bin/rm", "-f", "/work/victim"],
    "ld.so via sh": ["sh", "-c", f"{LDSO} /usr/bin/rm -f /work/victim"],
}


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
    for action in seen.of(cid, ActionResult):
        assert action.details["program"] == "rm" and action.result == "applied", action
        assert action.details["exe"] == "/usr/bin/rm" and "mapping" in action.reason
    stopped = [e for e in seen.of(cid, ExecEvent) if e.blocked]
    assert stopped and all(e.program == "rm" and e.argv[:1] == (LDSO,) for e in stopped)
    # The loader itself and every other program still run in that sandbox.
    assert (await _exec(c, LDSO, "/bin/ls", "/work"))[0] == 0


async def test_in_audit_mode_the_dynamic_loader_run_is_recorded_not_stopped(
    source: tuple[KernelSource, Seen], sandbox: Any
) -> None:
    src, seen = source
    cid, survived, _ = await _run_all(src, sandbox, "audit")
    assert not any(survived.values()), survived  # audit: rm ran, as it would without sandguard
    await _until(lambda: len(seen.of(cid, ActionResult)) >= len(LOADER_RUNS))
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
