"""Where a container's cgroups are, found from its init process rather than guessed.

``/proc/<pid>/cgroup`` names the cgroup of each hierarchy and ``/proc/self/mountinfo``
where each hierarchy is mounted (and which cgroup the mount exposes, which is not "/"
inside a cgroup namespace). That covers cgroup v1 and v2, the cgroupfs driver
(``/docker/<id>``), the systemd driver (``/system.slice/docker-<id>.scope``) and hybrid
hosts (v1 controllers plus an empty unified hierarchy) without knowing any of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from collectors.exceptions import CgroupNotFoundError
from collectors.files import read_once
from collectors.parsers.proc import CgroupEntry, CgroupMount, parse_mountinfo, parse_proc_cgroup

# The controllers the collector reads.
CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")


@dataclass(frozen=True, slots=True)
class CgroupDir:
    path: str
    version: int  # 1 or 2


@dataclass(frozen=True, slots=True)
class CgroupPaths:
    """The directory of each controller for one container (v2: the same one for all)."""

    dirs: dict[str, CgroupDir]

    def get(self, controller: str) -> CgroupDir | None:
        return self.dirs.get(controller)


class CgroupLocator:
    """Resolves cgroup directories of processes; the mount table is read once."""

    def __init__(self, *, proc_root: str = "/proc", host_root: str = "/") -> None:
        self.proc_root = proc_root
        self._host_root = host_root.rstrip("/")
        self._mounts = parse_mountinfo(read_once(f"{proc_root}/self/mountinfo", 65536))

    def locate(self, container_id: str, pid: int) -> CgroupPaths:
        """Raises CgroupNotFoundError when no controller can be found for ``pid``."""
        try:
            entries = parse_proc_cgroup(read_once(f"{self.proc_root}/{pid}/cgroup"))
        except OSError as exc:
            raise CgroupNotFoundError(container_id, pid, f"/proc/{pid}/cgroup: {exc.strerror}") from exc
        dirs = {c: d for c in CONTROLLERS if (d := self._dir_for(c, entries)) is not None}
        if not dirs:
            raise CgroupNotFoundError(container_id, pid, "no cpu, memory or pids cgroup found")
        return CgroupPaths(dirs)

    def _dir_for(self, controller: str, entries: list[CgroupEntry]) -> CgroupDir | None:
        for entry in entries:
            if controller in entry.controllers:
                mount = self._mount(1, controller, entry.path)
                if mount is not None:
                    return CgroupDir(self._join(mount, entry.path), 1)
        for entry in entries:
            if entry.hierarchy == 0 and not entry.controllers:
                mount = self._mount(2, controller, entry.path)
                if mount is not None:
                    path = self._join(mount, entry.path)
                    if _enabled_v2(path, controller):
                        return CgroupDir(path, 2)
        return None

    def _mount(self, version: int, controller: str, path: str) -> CgroupMount | None:
        for m in self._mounts:
            if m.version != version or (version == 1 and controller not in m.options):
                continue
            if m.root in ("/", path) or path.startswith(m.root + "/"):
                return m
        return None

    def _join(self, mount: CgroupMount, path: str) -> str:
        rel = path if mount.root == "/" else path[len(mount.root) :]
        return self._host_root + mount.mount_point + rel.rstrip("/")


def _enabled_v2(path: str, controller: str) -> bool:
    """v2 lists a cgroup's controllers in cgroup.controllers; cpuacct is part of cpu there.
    On a hybrid host the unified hierarchy has none, and v1 serves them all."""
    want = "cpu" if controller == "cpuacct" else controller
    try:
        return want in read_once(os.path.join(path, "cgroup.controllers")).decode().split()
    except OSError:
        return False
