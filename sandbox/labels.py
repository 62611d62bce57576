"""Labels on every Docker resource sandguard creates: what it is, who made it, under which policy.

Collectors discover sandboxes by ``sandguard.sandbox=1``; cleanup finds what one manager
made by ``sandguard.manager=<id>``; events name the policy by ``sandguard.policy_id``.
The ``sandguard.`` prefix is ours: user labels may not use it, so nobody can make a
container look like another manager's sandbox or carry a false policy id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sandbox.exceptions import InvalidSandboxRequest
from schemas.labels import (
    BLOCKED,
    EXPIRES_AT,
    HOST,
    MANAGER,
    MODE,
    NAME,
    NETWORK_POLICY,
    POLICY_ID,
    POLICY_NAME,
    PREFIX,
    RESOURCE,
    SANDBOX,
    WORKSPACE_EXEC,
    manager_selector,
)

# Put on everything made by a manager holding a lease (sandbox.lease), with the lease
# directory as its value: what a reclaimer of the same directory may remove once that
# lease is gone. Defined here, not in schemas: only sandbox reads it.
LEASE = f"{PREFIX}lease"

__all__ = [
    "EXPIRES_AT", "HOST", "LEASE", "MANAGER", "NAME", "NETWORK_POLICY", "POLICY_ID", "POLICY_NAME", "PREFIX",
    "RESOURCE", "SANDBOX", "check_user_labels", "manager_labels", "manager_selector", "sandbox_labels",
]  # fmt: skip

# Docker accepts far longer labels; these bounds keep events and ClickHouse rows small.
MAX_LABELS = 64
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 1024


def check_user_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's labels, refused with the reason when they would impersonate ours."""
    if not labels:
        return {}
    if len(labels) > MAX_LABELS:
        raise InvalidSandboxRequest("labels", f"{len(labels)} labels; at most {MAX_LABELS}")
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidSandboxRequest("labels", f"keys and values must be strings: {key!r}={value!r}")
        if not key or len(key) > MAX_KEY_CHARS or len(value) > MAX_VALUE_CHARS:
            raise InvalidSandboxRequest("labels", f"label {key[:40]!r} is empty or too long")
        if key.startswith(PREFIX):
            raise InvalidSandboxRequest("labels", f"{key!r}: the {PREFIX!r} prefix is reserved for sandguard")
        out[key] = value
    return out


def manager_labels(
    manager_id: str, host: str, extra: Mapping[str, str] | None = None, *, lease: str | None = None
) -> dict[str, str]:
    """Labels on everything one manager creates (containers, volumes, networks); ``lease``
    is the directory of the manager's lease, when it holds one."""
    return {**(extra or {}), MANAGER: manager_id, HOST: host, **({LEASE: lease} if lease else {})}


def sandbox_labels(
    base: Mapping[str, str],
    *,
    name: str,
    policy_id: str,
    policy_name: str,
    network_policy: str,
    expires_at: int,
    user: Mapping[str, str],
    mode: str = "enforce",
    blocked: Iterable[str] = (),
    workspace_exec: bool = False,
) -> dict[str, str]:
    """Labels of one sandbox container: the user's first, ours last so ours always win."""
    return {
        **user,
        **base,
        SANDBOX: "1",
        RESOURCE: "container",
        NAME: name,
        POLICY_ID: policy_id,
        POLICY_NAME: policy_name,
        NETWORK_POLICY: network_policy,
        EXPIRES_AT: str(expires_at),
        MODE: mode,  # the kernel layer judges execs by these two from the sandbox's start
        BLOCKED: ",".join(sorted(blocked)),
        WORKSPACE_EXEC: "1" if workspace_exec else "0",
    }
