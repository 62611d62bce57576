"""A manager's lease: a file on the host that says it is alive, so others can reclaim
what it made once it is gone (issue 17: after a ``kill -9`` of the manager, its
sandboxes, volumes and networks stayed, and no other manager looked at them).

The file ``<lease_dir>/<manager_id>.json`` holds the manager's pid and that process's
start time (a reused pid is not the manager) and is touched every heartbeat. A lease is
alive while that process runs, or, where the process cannot be checked, while the file
is fresh. Everything the manager creates carries the ``sandguard.lease`` label, so a
reclaimer touches only what was made under a lease, never anyone else's resources.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LEASE_DIR = "/run/sandguard/leases"
LEASE_DIR_ENV = "SANDGUARD_LEASE_DIR"
# Touched every 5 s; stale after 6 missed beats (30 s), for a manager whose pid cannot
# be checked (another pid namespace).
HEARTBEAT_S = 5.0
STALE_S = 30.0


def lease_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(LEASE_DIR_ENV) or DEFAULT_LEASE_DIR)


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks after boot; None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


@dataclass(frozen=True, slots=True)
class Lease:
    directory: Path
    manager_id: str

    @property
    def path(self) -> Path:
        return self.directory / f"{self.manager_id}.json"

    def take(self) -> None:
        """Writes the lease for this process (the directory is made, root-only)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        pid = os.getpid()
        body = {"manager_id": self.manager_id, "pid": pid, "start": process_start(pid), "pid_ns": _pid_ns()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body), encoding="utf-8")
        tmp.replace(self.path)

    def beat(self) -> None:
        try:
            os.utime(self.path)
        except FileNotFoundError:
            self.take()  # removed by hand or by a cleaner: written again

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def lease_alive(directory: Path, manager_id: str, *, now: float | None = None) -> bool:
    """Is the manager behind this lease still running? No lease file: it is gone."""
    path = directory / f"{manager_id}.json"
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        mtime = path.stat().st_mtime
    except (FileNotFoundError, ValueError):
        return False
    pid, start = body.get("pid"), body.get("start")
    if isinstance(pid, int) and isinstance(start, int) and body.get("pid_ns") == _pid_ns():
        return process_start(pid) == start
    # Another pid namespace (a manager in a container): its pid means nothing here.
    return (now or time.time()) - mtime < STALE_S


def _pid_ns() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
