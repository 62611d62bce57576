"""What this host offers the kernel source, checked once at start (and said once).

Modes: ``bpf`` (bpftrace attached: every exec, exit and connect, and in-kernel kills),
``proc_connector`` (no BPF: exec pids from the netlink proc connector, the rest read from
/proc afterwards, best effort, no kills), ``off`` (neither; the reason says why).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

BTF = "/sys/kernel/btf/vmlinux"
TRACEFS = "/sys/kernel/tracing"
EXEC_TRACEPOINT = f"{TRACEFS}/events/sched/sched_process_exec"


@dataclass(frozen=True, slots=True)
class Capabilities:
    bpftrace: str | None
    btf: bool
    tracefs: bool
    root: bool

    @property
    def mode(self) -> str:
        if self.bpftrace and self.btf and self.tracefs and self.root:
            return "bpf"
        return "proc_connector" if self.root else "off"

    def missing(self) -> list[str]:
        out = [] if self.bpftrace else ["bpftrace not installed (deploy/local/kernel.sh)"]
        out += [] if self.btf else [f"no BTF at {BTF}"]
        out += [] if self.tracefs else [f"tracefs not mounted at {TRACEFS} (deploy/local/kernel.sh)"]
        return out + ([] if self.root else ["not root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN needed)"])


def probe() -> Capabilities:
    return Capabilities(
        bpftrace=shutil.which("bpftrace"),
        btf=os.path.exists(BTF),
        tracefs=os.path.exists(EXEC_TRACEPOINT),
        root=os.geteuid() == 0,
    )
