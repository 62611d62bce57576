"""Reclaiming what a gone manager left, and ending sandboxes past their lifetime.

Any sandguard component on the engine's host can run ``reclaim`` (every manager does,
at start, every ``RECLAIM_EVERY_S`` and at cleanup; ``sandguard sandbox gc`` does it
by hand). It acts only on resources that carry the ``sandguard.lease`` label, so
sandboxes made without a lease (another version, another tool) are never touched:

- a leased container running past its ``sandguard.expires_at`` by more than the grace
  is killed: the lifetime holds even if its timer was stopped and its manager is gone;
- containers, volumes and networks leased in the reclaimer's own lease directory whose
  manager (``sandguard.manager`` on this ``sandguard.host``) holds no live lease there
  are removed. Another directory is another world (a test's, another deployment's):
  its resources are judged only by its own reclaimers;
- given a workspace root (``sandguard sandbox gc`` does), the loop images of managers whose
  process is gone (sandbox.workspace) are detached and deleted, unless one is still mounted
  (a sandbox of it still runs: a later round takes it).
Blocking (Docker SDK): callers run it on a thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import structlog

from sandbox import workspace
from sandbox.labels import EXPIRES_AT, HOST, LEASE, MANAGER
from sandbox.lease import lease_alive

log = structlog.get_logger(__name__)

# The owner's own check kills a sandbox 2 s after its end (sandbox.follower); others
# wait 10 s more, so a live owner sees its sandbox expire rather than vanish.
EXPIRY_GRACE_S = 12.0
RECLAIM_EVERY_S = 30.0
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass
class GcReport:
    killed: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    workspaces: list[str] = field(default_factory=list)  # manager ids whose loop images went

    def total(self) -> int:
        return sum(len(v) for v in vars(self).values())


@dataclass(frozen=True, slots=True)
class Reclaimer:
    api: Any
    lease_dir: Path
    host: str
    spare: frozenset[str] = frozenset()  # managers never reclaimed (the caller itself)
    workspace_root: Path | None = None  # loop images of dead managers too (after their volumes)

    def abandoned(self, labels: dict[str, str]) -> bool:
        """Made under a lease on this host by a manager whose lease is gone."""
        manager = labels.get(MANAGER)
        if not manager or labels.get(LEASE) != str(self.lease_dir) or manager in self.spare:
            return False
        if labels.get(HOST) != self.host:
            return False
        return not lease_alive(self.lease_dir, manager)

    def run(self, *, now: float | None = None) -> GcReport:
        report = GcReport()
        self._containers(report, now or time.time())
        self._volumes(report)
        self._networks(report)
        if self.workspace_root is not None:
            report.workspaces = reclaim_workspaces(self.workspace_root)
        if report.total():
            log.warning("sandguard_gc_reclaimed", **{k: len(v) for k, v in vars(report).items()})
        return report

    def _containers(self, report: GcReport, now: float) -> None:
        for c in self.api.containers(all=True, filters={"label": LEASE}):
            cid, labels = str(c["Id"]), c.get("Labels") or {}
            if self.abandoned(labels):
                self._quietly(lambda cid=cid: self.api.remove_container(cid, force=True, v=True))
                report.containers.append(cid)
            elif c.get("State") == "running" and _expired(labels, now):
                self._quietly(lambda cid=cid: self.api.kill(cid))
                report.killed.append(cid)

    def _volumes(self, report: GcReport) -> None:
        for v in self.api.volumes(filters={"label": LEASE}).get("Volumes") or []:
            if self.abandoned(v.get("Labels") or {}) and self._quietly(
                lambda name=v["Name"]: self.api.remove_volume(name, force=True)
            ):
                report.volumes.append(str(v["Name"]))

    def _networks(self, report: GcReport) -> None:
        for n in self.api.networks(filters={"label": LEASE}):
            if self.abandoned(n.get("Labels") or {}) and self._quietly(
                lambda nid=n["Id"]: self.api.remove_network(nid)
            ):
                report.networks.append(str(n["Id"]))

    @staticmethod
    def _quietly(action: Any) -> bool:
        """Gone already or still in use (a volume of a container being removed): the next
        round takes it. Logged, never raised: one stuck resource must not stop the rest."""
        try:
            action()
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            log.warning("sandguard_gc_skipped", error=str(exc.explanation))
            return False
        return True


def reclaim_workspaces(root: Path) -> list[str]:
    """Frees the workspace storage of managers whose process is gone; their ids. A directory
    with a loop device still mounted is left (logged): a sandbox of it still runs."""
    freed = []
    mounted = mounted_sources()
    for manager_id in workspace.orphans(root):
        directory = root / manager_id
        busy = [device for device in workspace.loops_under(directory) if device in mounted]
        if busy:
            log.warning("sandguard_gc_workspace_in_use", manager_id=manager_id, devices=busy)
            continue
        workspace.reclaim(directory)
        freed.append(manager_id)
    return freed


def mounted_sources() -> set[str]:
    """The sources of this mount namespace's mounts (``/dev/loop3`` ...), from mountinfo."""
    return {
        fields[1]
        for line in MOUNTINFO.read_text().splitlines()
        if len(fields := line.partition(" - ")[2].split()) > 1
    }


def _expired(labels: dict[str, str], now: float) -> bool:
    try:
        expires = float(labels[EXPIRES_AT])
    except (KeyError, ValueError):
        return False
    return now > expires + EXPIRY_GRACE_S
