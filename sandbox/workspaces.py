"""The manager's side of disk workspaces (sandbox.workspace): which kind, made for a create,
released with a failed one, closed with the manager, and what crashed managers left reclaimed.

A manager killed with -9 leaves its sandboxes running (until their lifetime ends) and their
workspace storage attached. Its workspace directory names it (sandbox.workspace: a directory
whose owner process is gone); its containers and volumes carry its manager label. Only those
are removed by the next manager's ``cleanup()``: another manager's sandboxes are never touched.
"""

from __future__ import annotations

from functools import partial

import structlog

from sandbox.config import SANDBOX_GID, SANDBOX_UID, volume_sizes
from sandbox.docker_sandbox import remove_container
from sandbox.engine import Engine
from sandbox.exceptions import InvalidSandboxRequest, SandboxCreateError
from sandbox.labels import manager_selector
from sandbox.workspace import Workspace, WorkspaceError, WorkspaceStore, release
from schemas import SecurityPolicy

log = structlog.get_logger(__name__)

# Where /work and /tmp live: "disk" (ext4 images: full is ENOSPC) or "tmpfs" (the sandbox's
# memory: only for hosts where the manager cannot make loop devices, e.g. a remote engine).
DISK = "disk"
KINDS = (DISK, "tmpfs")


def store_for(kind: str, root: str, manager_id: str) -> WorkspaceStore | None:
    """The manager's workspace store (None: tmpfs volumes); an unknown kind is refused."""
    if kind not in KINDS:
        raise InvalidSandboxRequest("workspace", f"{kind!r} is not one of {KINDS}")
    return WorkspaceStore(root, manager_id) if kind == DISK else None


async def make_for(engine: Engine, name: str, policy: SecurityPolicy, image: str) -> Workspace | None:
    """The storage of one sandbox about to be created (None without a store)."""
    store = engine.workspaces
    if store is None:
        return None
    sizes = volume_sizes(policy.resource_limits.disk_mb)
    try:
        return await engine.call(partial(store.make, name, sizes, (SANDBOX_UID, SANDBOX_GID)))
    except WorkspaceError as exc:
        engine.metrics.create_failures.inc()
        raise SandboxCreateError(image, str(exc)) from exc


async def release_for(engine: Engine, workspace: Workspace | None) -> None:
    await engine.call(partial(release, workspace))


async def close(engine: Engine) -> list[str]:
    """Removes this manager's storage, then crashed managers' (their ids)."""
    store = engine.workspaces
    if store is None:
        return []
    await engine.call(store.close)
    return await reclaim_crashed(engine, store)


async def reclaim_crashed(engine: Engine, store: WorkspaceStore) -> list[str]:
    """Removes the containers, volumes and workspace storage of crashed managers; their ids."""
    crashed = await engine.call(store.orphans)
    for manager_id in crashed:
        log.warning("reclaiming_crashed_manager", manager_id=manager_id)
        await remove_labelled(engine, manager_selector(manager_id), "crashed_manager")
        await engine.call(partial(store.reclaim_orphan, manager_id))
    return crashed


async def remove_labelled(engine: Engine, selector: str, why: str) -> None:
    """Removes the containers and volumes with the label ``selector`` (each one logged)."""
    for container_id in await engine.port.containers(selector):
        log.warning("removing_container", container_id=container_id, why=why)
        await remove_container(engine, container_id)
    for name in await engine.port.volumes(selector):
        log.warning("removing_volume", volume=name, why=why)
        await engine.port.remove_volume(name)
