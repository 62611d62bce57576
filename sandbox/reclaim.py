"""What a crashed manager left on this host, reclaimed by the next manager's ``cleanup()``.

A manager killed with -9 leaves its sandboxes running (until their lifetime ends) and their
workspace storage attached. Its workspace directory names it (sandbox.workspace: a directory
whose owner process is gone); its containers and volumes carry its manager label. Only those
are removed: another manager's sandboxes, alive or not ours, are never touched.
"""

from __future__ import annotations

from functools import partial

import docker.errors
import structlog

from sandbox.docker_sandbox import remove_container
from sandbox.engine import Engine
from sandbox.labels import manager_selector
from sandbox.workspace import WorkspaceStore

log = structlog.get_logger(__name__)


async def reclaim_crashed(engine: Engine, store: WorkspaceStore) -> list[str]:
    """Removes the containers, volumes and workspace storage of crashed managers; their ids."""
    crashed = await engine.call(store.orphans)
    for manager_id in crashed:
        log.warning("reclaiming_crashed_manager", manager_id=manager_id)
        await _remove_resources(engine, manager_id)
        await engine.call(partial(store.reclaim_orphan, manager_id))
    return crashed


async def _remove_resources(engine: Engine, manager_id: str) -> None:
    api = engine.api
    label = {"label": manager_selector(manager_id)}
    for found in await engine.call(lambda: api.containers(all=True, filters=label)):
        await remove_container(engine, str(found["Id"]))
    volumes = (await engine.call(lambda: api.volumes(filters=label))).get("Volumes") or []
    for name in [str(v["Name"]) for v in volumes]:
        try:
            await engine.call(partial(api.remove_volume, name, force=True))
        except docker.errors.NotFound:
            log.info("volume_already_gone", volume=name)
