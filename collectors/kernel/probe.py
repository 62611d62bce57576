"""What this host offers the kernel source, checked once at start (and said once).

Modes: ``bpf`` (the loader attached: every exec, exit and connect, and in-kernel
prevention), ``proc_connector`` (no BPF: exec pids from the netlink proc connector, the
rest read from /proc afterwards, best effort, kills late from user space), ``off``
(neither; the reason says why).

The loader (collectors/kernel/bpf, built by deploy/local/kernel.sh or the collector
image's build stage) is found at ``SANDGUARD_KERNEL_LOADER``, else at LOADER_PATH.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

BTF = "/sys/kernel/btf/vmlinux"
TRACEFS = "/sys/kernel/tracing"
EXEC_TRACEPOINT = f"{TRACEFS}/events/sched/sched_process_exec"
LOADER_ENV = "SANDGUARD_KERNEL_LOADER"
LOADER_PATH = "/usr/local/libexec/sandguard/sandguard-kernel-loader"


@dataclass(frozen=True, slots=True)
class Capabilities:
    loader: str | None
    btf: bool
    tracefs: bool
    root: bool

    @property
    def mode(self) -> str:
        if self.loader and self.btf and self.tracefs and self.root:
            return "bpf"
        return "proc_connector" if self.root else "off"

    def missing(self) -> list[str]:
        where = f"${LOADER_ENV} or {LOADER_PATH}"
        out = [] if self.loader else [f"no kernel loader at {where} (deploy/local/kernel.sh)"]
        out += [] if self.btf else [f"no BTF at {BTF}"]
        out += [] if self.tracefs else [f"tracefs not mounted at {TRACEFS} (deploy/local/kernel.sh)"]
        return out + ([] if self.root else ["not root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN needed)"])


def loader_path() -> str | None:
    path = os.environ.get(LOADER_ENV) or LOADER_PATH
    return path if os.access(path, os.X_OK) else None


def probe() -> Capabilities:
    return Capabilities(
        loader=loader_path(),
        btf=os.path.exists(BTF),
        tracefs=os.path.exists(EXEC_TRACEPOINT),
        root=os.geteuid() == 0,
    )
