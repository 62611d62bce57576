"""The Docker labels sandguard puts on what it creates: the contract between the sandbox
manager that sets them, the collectors that discover sandboxes by them, and the
enforcer that refuses to act on a container without them.

The ``sandguard.`` prefix is ours: user labels may not use it, so nobody can make a
container look like another manager's sandbox or carry a false policy id.
"""

from __future__ import annotations

PREFIX = "sandguard."
SANDBOX = "sandguard.sandbox"  # "1" on every sandbox container
MANAGER = "sandguard.manager"  # the manager instance that created the resource
HOST = "sandguard.host"
NAME = "sandguard.name"
POLICY_ID = "sandguard.policy_id"
POLICY_NAME = "sandguard.policy_name"
NETWORK_POLICY = "sandguard.network_policy"
EXPIRES_AT = "sandguard.expires_at"  # epoch seconds; the lifetime, readable by any tool
RESOURCE = "sandguard.resource"  # container, volume or network

# Docker's label filter for every sandbox.
SANDBOX_SELECTOR = f"{SANDBOX}=1"


def manager_selector(manager_id: str) -> str:
    """Docker's label filter for one manager's resources."""
    return f"{MANAGER}={manager_id}"

# What the kernel layer needs of a sandbox's policy at its start, before its first exec
# (the collector reads labels at inspect; the policies topic may arrive later).
MODE = "sandguard.mode"  # enforce or audit
BLOCKED = "sandguard.blocked_commands"  # comma-separated program names
WORKSPACE_EXEC = "sandguard.workspace_exec"  # "1": the policy allows running what the sandbox writes
