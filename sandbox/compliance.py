"""A running container against a policy: what can be re-applied live, what cannot. Pure.

The engine updates memory, swap, CPU quota and the pids limit of a running container;
everything else of the hardening (read-only root, capabilities, no-new-privileges,
user, network, ulimits, mounts, init) is fixed at creation, so a container that
differs there is reported, never "fixed" by running commands inside it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas import NetworkPolicy, SecurityPolicy


class ConfigGap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    setting: str
    expected: Any
    actual: Any
    reason: str = "fixed at creation: recreate the sandbox to change it"


class PolicyApplication(BaseModel):
    """What ``SandboxSecurityManager.apply_security_policy`` did to one container."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    container_id: str
    policy_id: str
    applied: dict[str, int] = Field(description="limits updated on the running container")
    gaps: tuple[ConfigGap, ...] = Field((), description="settings that differ and cannot change live")

    @property
    def compliant(self) -> bool:
        return not self.gaps


def _nofile(host: dict[str, Any]) -> int | None:
    for u in host.get("Ulimits") or []:
        if u.get("Name") == "nofile":
            return int(u.get("Hard", 0))
    return None


def _network_ok(policy: NetworkPolicy, mode: str, internal: bool) -> bool:
    if policy is NetworkPolicy.NONE:
        return mode == "none"
    if policy is NetworkPolicy.FULL:
        return mode not in ("none", "host")
    return mode not in ("none", "host", "bridge", "default") and (
        internal or policy is NetworkPolicy.RESTRICTED
    )


def _opts(host: dict[str, Any]) -> list[str]:
    return [str(o) for o in host.get("SecurityOpt") or []]


def _non_root(user: str) -> bool:
    return user not in ("", "0", "root") and not user.startswith(("0:", "root:"))


def _no_host_mounts(host: dict[str, Any]) -> bool:
    return not host.get("Binds") and not any(m.get("Type") == "bind" for m in host.get("Mounts") or [])


def config_gaps(
    policy: SecurityPolicy, info: dict[str, Any], *, network_internal: bool = False
) -> list[ConfigGap]:
    """Settings of an inspected container (``docker inspect``) that break the policy."""
    host: dict[str, Any] = info.get("HostConfig") or {}
    user = str((info.get("Config") or {}).get("User") or "")
    opts = _opts(host)
    nofile = policy.resource_limits.max_open_files
    mode = str(host.get("NetworkMode") or "")
    checks: list[tuple[str, Any, Any, bool]] = [
        ("read_only_rootfs", True, bool(host.get("ReadonlyRootfs")), bool(host.get("ReadonlyRootfs"))),
        (
            "cap_drop",
            ["ALL"],
            host.get("CapDrop"),
            "ALL" in (host.get("CapDrop") or []) and not host.get("CapAdd"),
        ),
        ("no_new_privileges", True, opts, any(o.startswith("no-new-privileges") for o in opts)),
        ("seccomp", "default", opts, not any(o.startswith("seccomp=unconfined") for o in opts)),
        ("privileged", False, bool(host.get("Privileged")), not host.get("Privileged")),
        ("user", "non-root", user or "root", _non_root(user)),
        ("host_mounts", [], host.get("Binds") or [], _no_host_mounts(host)),
        ("init", True, bool(host.get("Init")), bool(host.get("Init"))),
        ("nofile", nofile, _nofile(host), _nofile(host) == nofile),
        (
            "network",
            policy.network_policy.value,
            mode,
            _network_ok(policy.network_policy, mode, network_internal),
        ),
    ]
    return [ConfigGap(setting=s, expected=e, actual=a) for s, e, a, ok in checks if not ok]
