"""Where the kernel loader is installed but cannot run, the kernel source falls back to the netlink
proc connector, says so once with the loader's own reason, and names the mode and its cause
in health and metrics. The failures are the real kernel's: the tracer run without
CAP_SYS_ADMIN (as in a container not given it), or with an empty directory over tracefs
(as where tracefs is not mounted into the collector's mount namespace); and a tracer that
keeps being killed."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.source import TRACER_ENDS_MAX, KernelSource
from schemas import AuditEvent
from tests.conftest import NEEDS_ROOT
from tests.integration.collectors.kernel.test_kernel_source import Seen, _until, blocked_sleep_is_killed_late

pytestmark = NEEDS_ROOT  # the reason is said where it is defined

# setpriv drops the capabilities the loader needs to load its program and attach (root
# without them, like a container without SYS_ADMIN); unshare puts an empty tmpfs over
# tracefs in a mount namespace of the loader's own (the host's tracefs is untouched).
NO_CAP_SYS_ADMIN = ("setpriv", "--bounding-set", "-sys_admin,-bpf,-perfmon",
                    "--inh-caps", "-sys_admin,-bpf,-perfmon")  # fmt: skip
NO_TRACEFS = ("unshare", "-m", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs none /sys/kernel/tracing && exec "$@"', "sh")  # fmt: skip
# What the loader (libbpf) says (one of): without the capabilities it cannot load the
# program; without tracefs it cannot find a tracepoint's id.
FAILURES = {
    "no CAP_SYS_ADMIN": (NO_CAP_SYS_ADMIN, ("BTF", "Operation not permitted")),
    "no tracefs": (NO_TRACEFS, ("tracepoint",)),
}
# A failed attach is known when the loader exits (well under a second), far from ATTACH_TIMEOUT_S.
FAILS_WITHIN_S = 20.0


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.mark.parametrize("failure", sorted(FAILURES))
async def test_a_tracer_that_cannot_attach_falls_back_to_the_proc_connector(
    sandbox: Any, failure: str
) -> None:
    prefix, words = FAILURES[failure]
    seen, registry = Seen(), CollectorRegistry()
    src = KernelSource(host="test", emit=seen, metrics=KernelMetrics(registry), tracer_prefix=prefix)
    assert src.mode == "bpf"  # the host has everything: the failure is at attach time
    with capture_logs() as logs:
        await asyncio.wait_for(src.start(), FAILS_WITHIN_S)
    try:
        health = src.health()
        assert (health["mode"], health["cause"]) == ("proc_connector", "attach_failed"), health
        assert any(w in health["reason"] for w in words) and health["prevention"] == "late (user space)"
        said = [e for e in logs if e["event"] == "kernel_events_degraded"]
        assert len(said) == 1 and said[0]["reason"] == health["reason"]
        assert _metric(registry, "sandguard_collector_kernel_mode", mode="proc_connector") == 1
        assert _metric(registry, "sandguard_collector_kernel_mode", mode="bpf") == 0
        assert _metric(registry, "sandguard_collector_kernel_fallback", cause="attach_failed") == 1
        assert src.tracer_pid is None
        await blocked_sleep_is_killed_late(src, seen, sandbox)
    finally:
        await src.stop()


def _restarted_past(src: KernelSource, restarts: int) -> Callable[[], bool]:
    return lambda: src.restarts > restarts and src.tracer_pid is not None


async def test_a_tracer_that_keeps_ending_gives_way_to_the_proc_connector(sandbox: Any) -> None:
    seen, registry = Seen(), CollectorRegistry()
    src = KernelSource(host="test", emit=seen, metrics=KernelMetrics(registry))
    await src.start()
    try:
        assert src.mode == "bpf", src.health()
        while src.restarts < TRACER_ENDS_MAX:
            os.kill(src.tracer_pid or 0, signal.SIGKILL)  # the tracer this test's source started
            await _until(_restarted_past(src, src.restarts), timeout_s=60)
        os.kill(src.tracer_pid or 0, signal.SIGKILL)
        await _until(lambda: src.mode != "bpf", timeout_s=30)
        health = src.health()
        assert (health["mode"], health["cause"]) == ("proc_connector", "tracer_unstable"), health
        assert f"ended {TRACER_ENDS_MAX + 1} times" in health["reason"]
        modes = [e for e in seen.events if isinstance(e, AuditEvent) and e.action == "kernel_mode"]
        assert [m.details["mode"] for m in modes] == ["proc_connector"]
        assert _metric(registry, "sandguard_collector_kernel_fallback", cause="tracer_unstable") == 1
        await blocked_sleep_is_killed_late(src, seen, sandbox)
    finally:
        await src.stop()
