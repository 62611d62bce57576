"""Records the files the collector reads for one running container, from this host, into a
tree under ``dest`` that mirrors / (proc/..., sys/fs/cgroup/...). How v1_cgroupfs/ was made:

    .venv/bin/python tests/unit/collectors/testdata/record_v1.py <container-id> <dest>

fd/ directories are recorded as empty files named by descriptor (what a listing counts),
exe as a symlink to the program's path inside the container.
"""

from __future__ import annotations

import os
import shutil
import sys

CGROUP_FILES = {
    "cpuacct": ["cpuacct.usage"],
    "cpu": ["cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
    "memory": [
        "memory.usage_in_bytes",
        "memory.stat",
        "memory.limit_in_bytes",
        "memory.failcnt",
        "memory.memsw.failcnt",
        "memory.oom_control",
        "memory.memsw.limit_in_bytes",
        "cgroup.procs",
    ],
    "pids": ["pids.current", "pids.max", "pids.events", "cgroup.procs"],
}
PROC_FILES = ["cgroup", "stat", "status", "cmdline", "limits"]
NET_FILES = ["sockstat", "sockstat6", "tcp", "tcp6"]


def copy(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data)


def record(container_id: str, dest: str) -> None:
    lines = open("/proc/self/mountinfo").read().splitlines()  # noqa: SIM115
    cgroup_lines = [ln for ln in lines if " - cgroup" in ln or "/sys/fs/cgroup " in ln]
    os.makedirs(f"{dest}/proc/self", exist_ok=True)
    with open(f"{dest}/proc/self/mountinfo", "w") as f:
        f.write("\n".join(cgroup_lines) + "\n")
    copy("/proc/stat", f"{dest}/proc/stat")
    for controller, names in CGROUP_FILES.items():
        for name in names:
            rel = f"sys/fs/cgroup/{controller}/docker/{container_id}/{name}"
            copy(f"/{rel}", f"{dest}/{rel}")
    pids = open(f"/sys/fs/cgroup/pids/docker/{container_id}/cgroup.procs").read().split()  # noqa: SIM115
    for i, pid in enumerate(pids):
        for name in PROC_FILES + ([f"net/{n}" for n in NET_FILES] if i == 0 else []):
            copy(f"/proc/{pid}/{name}", f"{dest}/proc/{pid}/{name}")
        os.makedirs(f"{dest}/proc/{pid}/fd", exist_ok=True)
        for fd in os.listdir(f"/proc/{pid}/fd"):
            open(f"{dest}/proc/{pid}/fd/{fd}", "w").close()
        exe = f"{dest}/proc/{pid}/exe"
        if os.path.lexists(exe):
            os.unlink(exe)
        os.symlink(os.readlink(f"/proc/{pid}/exe"), exe)


if __name__ == "__main__":
    if os.path.exists(sys.argv[2]):
        shutil.rmtree(sys.argv[2])
    record(sys.argv[1], sys.argv[2])
