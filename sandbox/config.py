"""A policy turned into a Docker container configuration (DESIGN.md principle 1).

Everything the kernel can hold is set here, at creation, and nothing is run inside the
container afterwards: memory with swap equal to it, a CPU quota, a pids limit, ulimits,
a read-only root with size-bounded tmpfs-backed volumes at /work and /tmp, no
capabilities, no-new-privileges, a non-root user, Docker's default seccomp profile, no
host mounts, an init that reaps zombies, and the network of the policy.

The container's main process is ``sleep <execution_timeout>`` under that init: the
sandbox ends when its lifetime does, even if the manager is gone.

Pure: builds the body of ``POST /containers/create``, so every setting is unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.exceptions import InvalidSandboxRequest
from sandbox.labels import RESOURCE
from schemas import NetworkPolicy, SecurityPolicy
from schemas.policy import CPU_PERIOD_US, MIB, cpu_quota_us

SANDBOX_USER = "1000:1000"  # the images' `sandbox` user (deploy/local/images.sh)
SANDBOX_UID = 1000
SANDBOX_GID = 1000
WORKSPACE = "/work"
TMP = "/tmp"  # noqa: S108 - the sandbox's own /tmp, a private tmpfs volume
ROOTS = (WORKSPACE, TMP)
DEFAULT_IMAGE = "sandguard/python:3"

# The sandbox itself uses two pids: the init (docker-init) and its lifetime `sleep`.
RESERVED_PIDS = 2
MIN_PROCESSES = RESERVED_PIDS + 1
# disk_mb is split: /tmp a quarter, /dev/shm a sixteenth (at most 64 MiB, Docker's
# default), /work the rest; each at least 1 MiB.
TMP_SHARE = 4
SHM_SHARE = 16
MAX_SHM_MB = 64
# Under host memory pressure, sandboxes are killed before the host's own services
# (range -1000..1000; Docker's default is 0).
OOM_SCORE_ADJ = 500
# The sandbox runs nothing on its console; its logs are bounded anyway.
LOG_MAX_SIZE = "1m"


@dataclass(frozen=True, slots=True)
class DiskSplit:
    work_mb: int
    tmp_mb: int
    shm_mb: int


def split_disk(disk_mb: int) -> DiskSplit:
    """/work, /tmp and /dev/shm sizes whose sum stays within disk_mb (or 3 MiB when smaller)."""
    tmp = max(1, disk_mb // TMP_SHARE)
    shm = max(1, min(MAX_SHM_MB, disk_mb // SHM_SHARE))
    work = max(1, disk_mb - tmp - shm)
    return DiskSplit(work, tmp, shm)


def check_policy_fits(policy: SecurityPolicy) -> None:
    """Refuses policies a sandbox cannot run under, before anything is created."""
    if policy.resource_limits.max_processes < MIN_PROCESSES:
        raise InvalidSandboxRequest(
            "resource_limits.max_processes",
            f"{policy.resource_limits.max_processes} leaves no room for a command: the sandbox's "
            f"init and lifetime timer take {RESERVED_PIDS}, so at least {MIN_PROCESSES}",
        )


def _exec_option(policy: SecurityPolicy) -> str:
    """noexec unless the policy allows running files written in the sandbox: a program the
    sandbox writes (a copied /bin/rm, a downloaded binary) is then refused by the kernel."""
    return "exec" if policy.allow_workspace_exec else "noexec"


def _tmpfs_volume(
    target: str, size_mb: int, mode: str, labels: Mapping[str, str], exec_opt: str = "noexec"
) -> dict[str, Any]:
    """An anonymous tmpfs-backed volume: writable through the archive API (a --tmpfs mount of a
    read-only container is not), owned by the sandbox user, removed with the container."""
    options = f"size={size_mb}m,uid={SANDBOX_UID},gid={SANDBOX_GID},mode={mode},nosuid,nodev,{exec_opt}"
    return {
        "Type": "volume",
        "Target": target,
        "ReadOnly": False,
        "VolumeOptions": {
            "NoCopy": True,
            "Labels": {**labels, RESOURCE: "volume"},
            "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs", "o": options}},
        },
    }


def _network_mode(network: NetworkPolicy, network_name: str | None) -> str:
    if network is NetworkPolicy.NONE:
        return "none"
    if network_name is None:
        raise InvalidSandboxRequest("network", f"network policy {network} needs a Docker network")
    return network_name


def live_limits(policy: SecurityPolicy) -> dict[str, int]:
    """The policy's limits in the Docker API's fields: set at creation, and the body of
    ``POST /containers/{id}/update`` that puts them back in force."""
    limits = policy.resource_limits
    memory = limits.memory_mb * MIB
    return {
        "Memory": memory,
        "MemorySwap": memory,  # swap equal to memory: no swap at all
        "CpuPeriod": CPU_PERIOD_US,
        "CpuQuota": cpu_quota_us(limits.cpu_percent),
        "PidsLimit": limits.max_processes,
    }


def host_config(
    policy: SecurityPolicy,
    *,
    network_name: str | None,
    volume_labels: Mapping[str, str],
    runtime: str | None = None,
) -> dict[str, Any]:
    limits = policy.resource_limits
    disk = split_disk(limits.disk_mb)
    cfg: dict[str, Any] = {
        **live_limits(policy),
        "Ulimits": [
            {"Name": "nofile", "Soft": limits.max_open_files, "Hard": limits.max_open_files},
            {"Name": "core", "Soft": 0, "Hard": 0},
        ],
        "ReadonlyRootfs": True,
        "CapDrop": ["ALL"],
        "CapAdd": [],
        "SecurityOpt": ["no-new-privileges:true"],  # and no seccomp override: the default profile
        "Privileged": False,
        "Init": True,
        "NetworkMode": _network_mode(policy.network_policy, network_name),
        "Binds": [],
        "Devices": [],
        "Mounts": [
            _tmpfs_volume(WORKSPACE, disk.work_mb, "0755", volume_labels, _exec_option(policy)),
            _tmpfs_volume(TMP, disk.tmp_mb, "1777", volume_labels, _exec_option(policy)),
        ],
        "IpcMode": "private",
        "ShmSize": disk.shm_mb * MIB,  # Docker mounts /dev/shm noexec,nosuid,nodev
        "OomScoreAdj": OOM_SCORE_ADJ,
        "RestartPolicy": {"Name": "no"},
        "AutoRemove": False,
        "LogConfig": {"Type": "json-file", "Config": {"max-size": LOG_MAX_SIZE, "max-file": "1"}},
    }
    if policy.network_policy is not NetworkPolicy.NONE:
        # No IPv6 stack at all, so no fc00::/7 or fe80::/10 to reach; without NET_ADMIN the
        # sandbox cannot turn it back on.
        cfg["Sysctls"] = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
    if runtime:
        cfg["Runtime"] = runtime
    return cfg


def container_config(
    policy: SecurityPolicy,
    *,
    image: str,
    labels: Mapping[str, str],
    network_name: str | None,
    volume_labels: Mapping[str, str],
    runtime: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for a sandbox under ``policy``."""
    check_policy_fits(policy)
    return {
        "Image": image,
        "Cmd": ["sleep", str(policy.resource_limits.execution_timeout)],
        "Entrypoint": [""],  # the image's entrypoint must not wrap the lifetime timer
        "User": SANDBOX_USER,
        "WorkingDir": WORKSPACE,
        "Hostname": "sandbox",
        "Env": [f"HOME={WORKSPACE}", f"TMPDIR={TMP}"],
        "Labels": dict(labels),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StopSignal": "SIGKILL",  # nothing in a sandbox needs a graceful stop
        "HostConfig": host_config(
            policy, network_name=network_name, volume_labels=volume_labels, runtime=runtime
        ),
    }
