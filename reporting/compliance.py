"""CIS Docker Benchmark (v1.6.0) section 5 checks, plus 4.1, over ``docker inspect`` data.

Every check is a pure function of one container's inspect dict (and, for the
"if applicable" ones, the host's security options from ``docker info``), so they
are tested on recorded inspect JSON. Checks that need more than the configuration
(5.6 sshd, 5.8 open ports, 5.22/5.23 exec options, 5.26 health, 5.27 image updates)
are listed as not covered rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

BENCHMARK = "CIS Docker Benchmark v1.6.0, section 5 (container runtime) and 4.1"
PASS, FAIL, NA = "pass", "fail", "not_applicable"

# CIS 5.5: host directories a container must never mount.
SENSITIVE_DIRS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
# CIS 5.7: ports below 1024 need root on the host to bind.
PRIVILEGED_PORT_MAX = 1023
# CIS 5.14: on-failure restarts capped at 5.
MAX_RESTARTS = 5
NOT_COVERED = {
    "5.6": "sshd inside the container: needs the process list (see the hunting queries)",
    "5.8": "only needed ports open: needs the application's intent",
    "5.22": "docker exec --privileged: an exec-time option, audited per exec",
    "5.23": "docker exec --user=root: an exec-time option, audited per exec",
    "5.26": "health check: sandboxes run untrusted code, not services",
    "5.27": "image updates: a registry concern",
}

Inspect = dict[str, Any]
Outcome = tuple[str, str]  # (status, detail)


@dataclass(frozen=True, slots=True)
class CheckResult:
    check_id: str
    title: str
    status: str
    detail: str


def _host(i: Inspect) -> dict[str, Any]:
    return i.get("HostConfig") or {}


def _security_opts(i: Inspect) -> list[str]:
    return list(_host(i).get("SecurityOpt") or [])


def _mounts(i: Inspect) -> list[dict[str, Any]]:
    mounts = [m for m in i.get("Mounts") or [] if m.get("Type", "bind") == "bind"]
    seen = {(m.get("Source"), m.get("Destination")) for m in mounts}
    for bind in _host(i).get("Binds") or []:  # also in Mounts once started; counted once
        src, _, rest = bind.partition(":")
        dst = rest.split(":", maxsplit=1)[0]
        if (src, dst) not in seen:
            mounts.append({"Source": src, "Destination": dst, "Propagation": ""})
    return mounts


def _ok(cond: bool, good: str, bad: str) -> Outcome:
    return (PASS, good) if cond else (FAIL, bad)


def user_not_root(i: Inspect, _: frozenset[str]) -> Outcome:
    user = str((i.get("Config") or {}).get("User") or "")
    root = user in ("", "root", "0") or user.split(":", maxsplit=1)[0] in ("root", "0")
    return _ok(
        not root, f"runs as {user!r}", "runs as root (no User set)" if not user else f"runs as {user!r}"
    )


def apparmor(i: Inspect, host: frozenset[str]) -> Outcome:
    if "apparmor" not in host:
        return NA, "AppArmor is not enabled on this host"
    profile = str(i.get("AppArmorProfile") or "")
    return _ok(profile not in ("", "unconfined"), f"profile {profile}", "no AppArmor profile")


def selinux(i: Inspect, host: frozenset[str]) -> Outcome:
    if "selinux" not in host:
        return NA, "SELinux is not enabled on this host"
    labels = [o for o in _security_opts(i) if o.startswith("label")]
    return _ok(bool(labels) and "label=disable" not in labels, f"{labels}", "no SELinux label options")


def capabilities(i: Inspect, _: frozenset[str]) -> Outcome:
    add = [c.upper() for c in _host(i).get("CapAdd") or []]
    drop = [c.upper() for c in _host(i).get("CapDrop") or []]
    dropped_all = "ALL" in drop or "CAP_ALL" in drop
    if add:
        return FAIL, f"capabilities added: {', '.join(add)}"
    return _ok(
        dropped_all, "all capabilities dropped", f"default capabilities kept (dropped: {drop or 'none'})"
    )


def not_privileged(i: Inspect, _: frozenset[str]) -> Outcome:
    return _ok(not _host(i).get("Privileged"), "not privileged", "runs --privileged")


def no_sensitive_mounts(i: Inspect, _: frozenset[str]) -> Outcome:
    def sensitive(src: str) -> bool:
        src = src.rstrip("/") or "/"
        return any(src == d or (d != "/" and src.startswith(d + "/")) for d in SENSITIVE_DIRS)

    bad = [m["Source"] for m in _mounts(i) if sensitive(str(m.get("Source", "")))]
    return _ok(not bad, "no sensitive host directory mounted", f"mounts {', '.join(bad)}")


def _bindings(i: Inspect) -> list[dict[str, Any]]:
    ports = _host(i).get("PortBindings") or {}
    return [b for bs in ports.values() for b in bs or []]


def no_privileged_ports(i: Inspect, _: frozenset[str]) -> Outcome:
    low = [b.get("HostPort") for b in _bindings(i) if str(b.get("HostPort") or "").isdigit()
           and int(b["HostPort"]) <= PRIVILEGED_PORT_MAX]  # fmt: skip
    return _ok(not low, "no privileged host port", f"host ports {low}")


def _mode(key: str, what: str) -> Callable[[Inspect, frozenset[str]], Outcome]:
    def check(i: Inspect, _: frozenset[str]) -> Outcome:
        mode = str(_host(i).get(key) or "")
        return _ok(mode != "host", f"own {what} namespace", f"shares the host's {what} namespace")

    return check


def memory_limited(i: Inspect, _: frozenset[str]) -> Outcome:
    mem = int(_host(i).get("Memory") or 0)
    return _ok(mem > 0, f"memory limit {mem // (1024 * 1024)} MiB", "no memory limit")


def cpu_limited(i: Inspect, _: frozenset[str]) -> Outcome:
    h = _host(i)
    quota = int(h.get("NanoCpus") or 0) or int(h.get("CpuQuota") or 0)
    shares = int(h.get("CpuShares") or 0)
    return _ok(quota > 0 or shares not in (0, 1024), "CPU quota or shares set", "no CPU limit or priority")


def read_only_root(i: Inspect, _: frozenset[str]) -> Outcome:
    return _ok(bool(_host(i).get("ReadonlyRootfs")), "read-only root filesystem", "writable root filesystem")


def bound_interface(i: Inspect, _: frozenset[str]) -> Outcome:
    wild = [b.get("HostPort") for b in _bindings(i) if str(b.get("HostIp") or "") in ("", "0.0.0.0", "::")]  # noqa: S104
    return _ok(not wild, "no port published on every interface", f"ports on all interfaces: {wild}")


def restart_policy(i: Inspect, _: frozenset[str]) -> Outcome:
    rp = _host(i).get("RestartPolicy") or {}
    name, count = str(rp.get("Name") or "no"), int(rp.get("MaximumRetryCount") or 0)
    ok = name in ("", "no") or (name == "on-failure" and 0 < count <= MAX_RESTARTS)
    return _ok(ok, f"restart policy {name}", f"restart policy {name} (max {count})")


def no_devices(i: Inspect, _: frozenset[str]) -> Outcome:
    devs = [d.get("PathOnHost") for d in _host(i).get("Devices") or []]
    return _ok(not devs, "no host device", f"host devices {devs}")


def ulimits_set(i: Inspect, _: frozenset[str]) -> Outcome:
    names = [u.get("Name") for u in _host(i).get("Ulimits") or []]
    return _ok(bool(names), f"ulimits {names}", "default ulimits (nofile/nproc not set)")


def no_shared_propagation(i: Inspect, _: frozenset[str]) -> Outcome:
    shared = [m.get("Destination") for m in _mounts(i) if m.get("Propagation") in ("shared", "rshared")]
    return _ok(not shared, "no shared mount propagation", f"shared propagation on {shared}")


def seccomp(i: Inspect, host: frozenset[str]) -> Outcome:
    if "seccomp" not in host:
        return NA, "seccomp is not enabled on this host"
    off = [o for o in _security_opts(i) if o.replace(":", "=") == "seccomp=unconfined"]
    return _ok(not off, "seccomp profile in force", "seccomp=unconfined")


def cgroup_parent(i: Inspect, _: frozenset[str]) -> Outcome:
    parent = str(_host(i).get("CgroupParent") or "")
    return _ok(not parent, "default cgroup", f"cgroup parent {parent}")


def no_new_privileges(i: Inspect, _: frozenset[str]) -> Outcome:
    opts = [o.replace("=", ":") for o in _security_opts(i)]
    ok = "no-new-privileges" in opts or "no-new-privileges:true" in opts
    return _ok(ok, "no-new-privileges set", "no-new-privileges not set")


def pids_limited(i: Inspect, _: frozenset[str]) -> Outcome:
    limit = int(_host(i).get("PidsLimit") or 0)
    return _ok(limit > 0, f"pids limit {limit}", "no pids limit (fork bombs reach the host)")


def not_default_bridge(i: Inspect, _: frozenset[str]) -> Outcome:
    mode = str(_host(i).get("NetworkMode") or "default")
    return _ok(mode not in ("default", "bridge"), f"network {mode}", "on the default docker0 bridge")


def no_docker_socket(i: Inspect, _: frozenset[str]) -> Outcome:
    socks = [m.get("Source") for m in _mounts(i) if str(m.get("Source", "")).endswith("docker.sock")]
    return _ok(not socks, "docker socket not mounted", f"mounts {socks}")


CHECKS: tuple[tuple[str, str, Callable[[Inspect, frozenset[str]], Outcome]], ...] = (
    ("4.1", "Container runs as a non-root user", user_not_root),
    ("5.1", "AppArmor profile enabled (if applicable)", apparmor),
    ("5.2", "SELinux security options set (if applicable)", selinux),
    ("5.3", "Linux kernel capabilities restricted", capabilities),
    ("5.4", "Privileged containers not used", not_privileged),
    ("5.5", "Sensitive host directories not mounted", no_sensitive_mounts),
    ("5.7", "Privileged ports not mapped", no_privileged_ports),
    ("5.9", "Host network namespace not shared", _mode("NetworkMode", "network")),
    ("5.10", "Memory usage limited", memory_limited),
    ("5.11", "CPU priority set", cpu_limited),
    ("5.12", "Root filesystem mounted read-only", read_only_root),
    ("5.13", "Incoming traffic bound to a specific host interface", bound_interface),
    ("5.14", "Restart policy on-failure at most 5", restart_policy),
    ("5.15", "Host PID namespace not shared", _mode("PidMode", "PID")),
    ("5.16", "Host IPC namespace not shared", _mode("IpcMode", "IPC")),
    ("5.17", "Host devices not exposed", no_devices),
    ("5.18", "Default ulimits overridden", ulimits_set),
    ("5.19", "Mount propagation not shared", no_shared_propagation),
    ("5.20", "Host UTS namespace not shared", _mode("UTSMode", "UTS")),
    ("5.21", "Default seccomp profile not disabled", seccomp),
    ("5.24", "cgroup usage confirmed", cgroup_parent),
    ("5.25", "Container restricted from acquiring additional privileges", no_new_privileges),
    ("5.28", "PIDs cgroup limit used", pids_limited),
    ("5.29", "Docker's default bridge not used", not_default_bridge),
    ("5.30", "Host user namespace not shared", _mode("UsernsMode", "user")),
    ("5.31", "Docker socket not mounted", no_docker_socket),
)


def host_security(docker_info: dict[str, Any]) -> frozenset[str]:
    """Security features of the host from ``docker info`` (SecurityOptions: 'name=seccomp,...')."""
    names = set()
    for opt in docker_info.get("SecurityOptions") or []:
        for part in str(opt).split(","):
            if part.startswith("name="):
                names.add(part.removeprefix("name="))
    return frozenset(names)


def check_container(inspect: Inspect, host: frozenset[str]) -> list[CheckResult]:
    return [CheckResult(cid, title, *fn(inspect, host)) for cid, title, fn in CHECKS]


def compliance_report(inspects: Iterable[Inspect], host: frozenset[str]) -> dict[str, Any]:
    """Pass or fail per check for every container, with totals."""
    containers = []
    for i in inspects:
        results = check_container(i, host)
        containers.append({
            "container_id": i.get("Id", ""),
            "name": str(i.get("Name", "")).lstrip("/"),
            "image": (i.get("Config") or {}).get("Image", ""),
            "passed": sum(r.status == PASS for r in results),
            "failed": sum(r.status == FAIL for r in results),
            "compliant": all(r.status != FAIL for r in results),
            "checks": [asdict(r) for r in results],
        })  # fmt: skip
    return {
        "benchmark": BENCHMARK,
        "host_security": sorted(host),
        "containers": containers,
        "not_covered": NOT_COVERED,
        "summary": {
            "containers": len(containers),
            "compliant": sum(c["compliant"] for c in containers),
            "failed_checks": sum(c["failed"] for c in containers),
        },
    }
