"""A policy turned into a Docker container configuration (DESIGN.md principle 1).

Everything the kernel can hold is set here, at creation, and nothing is run inside the
container afterwards: memory with swap equal to it, a CPU quota, a pids limit, ulimits,
a read-only root with size-bounded disk-backed volumes at /work and /tmp (sandbox.workspace;
tmpfs-backed when no workspace devices are given), no capabilities, no-new-privileges,
a non-root user, the project's seccomp profile (sandbox.seccomp), no
host mounts, an init that reaps zombies, and the network of the policy.

The container's main process is ``sleep <execution_timeout>`` under that init: the
sandbox ends when its lifetime does, even if the manager is gone.

Pure: builds the body of ``POST /containers/create``, so every setting is unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.exceptions import InvalidSandboxRequest
from sandbox.labels import RESOURCE
from sandbox.seccomp import security_option
from schemas import NetworkPolicy, SecurityPolicy
from schemas.policy import CPU_PERIOD_US, MIB, cpu_quota_us, split_disk

SANDBOX_USER = "1000:1000"  # the images' `sandbox` user (deploy/local/images.sh)
# The init and the lifetime timer run as nobody: the sandbox user cannot signal (stop)
# them; every exec runs as SANDBOX_USER.
LIFETIME_USER = "65534:65534"
SANDBOX_UID = 1000
SANDBOX_GID = 1000
WORKSPACE = "/work"
TMP = "/tmp"  # noqa: S108 - the sandbox's own /tmp, a private volume
ROOTS = (WORKSPACE, TMP)
DEFAULT_IMAGE = "sandguard/python:3"

# The sandbox itself uses two pids: the init (docker-init) and its lifetime `sleep`.
RESERVED_PIDS = 2
MIN_PROCESSES = RESERVED_PIDS + 1
# Under host memory pressure, sandboxes are killed before the host's own services
# (range -1000..1000; Docker's default is 0).
OOM_SCORE_ADJ = 500
# The mount flags of the writable volumes, whatever backs them: no set-uid programs, no device
# nodes. One tuple so another flag (noexec) is added once for both kinds of volume.
VOLUME_FLAGS = ("nosuid", "nodev")
# /dev/shm is a tmpfs (memory the sandbox cannot give back while the files stay): full, it
# holds at most a quarter of the memory limit, so filling it is ENOSPC and the rest of the
# memory still runs commands (a 64 MiB /dev/shm in a 64 MiB sandbox killed every command).
SHM_MEMORY_SHARE = 4
# Root directory modes of the writable volumes: /work the sandbox user's, /tmp sticky for all.
VOLUME_MODES = {WORKSPACE: 0o755, TMP: 0o1777}
# The sandbox runs nothing on its console; its logs are bounded anyway.
LOG_MAX_SIZE = "1m"


def check_policy_fits(policy: SecurityPolicy) -> None:
    """Refuses policies a sandbox cannot run under, before anything is created."""
    if policy.resource_limits.max_processes < MIN_PROCESSES:
        raise InvalidSandboxRequest(
            "resource_limits.max_processes",
            f"{policy.resource_limits.max_processes} leaves no room for a command: the sandbox's "
            f"init and lifetime timer take {RESERVED_PIDS}, so at least {MIN_PROCESSES}",
        )


def volume_flags(policy: SecurityPolicy) -> tuple[str, ...]:
    """noexec unless the policy allows running files written in the sandbox: a program the
    sandbox writes (a copied /bin/rm, a downloaded binary) is then refused by the kernel."""
    return (*VOLUME_FLAGS, "exec" if policy.allow_workspace_exec else "noexec")


def shm_mb(disk_mb: int, memory_mb: int) -> int:
    """The shared-memory mount's size: its share of disk_mb, at most a quarter of the memory."""
    return max(1, min(split_disk(disk_mb).shm_mb, memory_mb // SHM_MEMORY_SHARE))


def volume_sizes(disk_mb: int) -> dict[str, tuple[int, int]]:
    """Mount point -> (MiB, root mode) of the writable volumes under a policy's disk_mb."""
    disk = split_disk(disk_mb)
    return {WORKSPACE: (disk.work_mb, VOLUME_MODES[WORKSPACE]), TMP: (disk.tmp_mb, VOLUME_MODES[TMP])}


def _volume(target: str, driver_options: dict[str, str], labels: Mapping[str, str]) -> dict[str, Any]:
    """An anonymous volume of the ``local`` driver: mounted on the host too, where the file API
    reaches it (a --tmpfs mount is only in the container), removed with the container."""
    return {
        "Type": "volume",
        "Target": target,
        "ReadOnly": False,
        "VolumeOptions": {
            "NoCopy": True,
            "Labels": {**labels, RESOURCE: "volume"},
            "DriverConfig": {"Name": "local", "Options": driver_options},
        },
    }


def _tmpfs_volume(
    target: str, size_mb: int, mode: int, labels: Mapping[str, str], flags: tuple[str, ...]
) -> dict[str, Any]:
    """A tmpfs-backed volume owned by the sandbox user. Its pages are charged to the sandbox's
    memory: only for hosts where a disk workspace cannot be made (sandbox.workspace)."""
    options = ",".join((f"size={size_mb}m,uid={SANDBOX_UID},gid={SANDBOX_GID},mode={mode:o}", *flags))
    return _volume(target, {"type": "tmpfs", "device": "tmpfs", "o": options}, labels)


def _disk_volume(
    target: str, device: str, labels: Mapping[str, str], flags: tuple[str, ...]
) -> dict[str, Any]:
    """An ext4 filesystem on a loop device (sandbox.workspace made it, owner and mode set),
    mounted by the engine: full is ENOSPC, never memory."""
    return _volume(target, {"type": "ext4", "device": device, "o": ",".join(flags)}, labels)


def _volumes(
    disk_mb: int, devices: Mapping[str, str] | None, labels: Mapping[str, str], flags: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The writable volumes: on the workspace's loop devices, or tmpfs when there are none."""
    mounts = []
    for target, (size_mb, mode) in volume_sizes(disk_mb).items():
        if devices is None:
            mounts.append(_tmpfs_volume(target, size_mb, mode, labels, flags))
        elif target in devices:
            mounts.append(_disk_volume(target, devices[target], labels, flags))
        else:
            raise InvalidSandboxRequest("workspace", f"no device for {target}")
    return mounts


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
    workspace: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``workspace``: mount point -> loop device of a disk workspace (None: tmpfs volumes)."""
    limits = policy.resource_limits
    cfg: dict[str, Any] = {
        **live_limits(policy),
        "Ulimits": [
            {"Name": "nofile", "Soft": limits.max_open_files, "Hard": limits.max_open_files},
            {"Name": "core", "Soft": 0, "Hard": 0},
        ],
        "ReadonlyRootfs": True,
        "CapDrop": ["ALL"],
        "CapAdd": [],
        "SecurityOpt": ["no-new-privileges:true", security_option()],  # the project's profile
        "Privileged": False,
        "Init": True,
        "NetworkMode": _network_mode(policy.network_policy, network_name),
        "Binds": [],
        "Devices": [],
        "Mounts": _volumes(limits.disk_mb, workspace, volume_labels, volume_flags(policy)),
        "IpcMode": "private",
        "ShmSize": shm_mb(limits.disk_mb, limits.memory_mb) * MIB,
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
    workspace: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for a sandbox under ``policy``."""
    check_policy_fits(policy)
    return {
        "Image": image,
        "Cmd": ["sleep", str(policy.resource_limits.execution_timeout)],
        "Entrypoint": [""],  # the image's entrypoint must not wrap the lifetime timer
        "User": LIFETIME_USER,
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
            policy,
            network_name=network_name,
            volume_labels=volume_labels,
            runtime=runtime,
            workspace=workspace,
        ),
    }
