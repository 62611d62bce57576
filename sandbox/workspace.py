"""Disk-backed workspaces: a sandbox's /work and /tmp on ext4 images of their own, never in memory.

A tmpfs is charged to the sandbox's memory cgroup and cannot be reclaimed, so a big file
in it was an OOM kill that bricked the sandbox (issue 15). Here each writable mount is a
sparse ext4 image in the manager's state directory, attached to a loop device (direct I/O:
the host keeps no second copy in its page cache) and mounted by the engine's ``local``
volume driver. Writing past the size fails with ENOSPC, ``df`` inside shows the real figure,
and the page cache a write uses is reclaimable, never a kill.

Layout: ``<root>/<manager_id>/owner`` (the pid and start time of the manager's process)
and ``<root>/<manager_id>/<sandbox name>.<mount>.img``. A directory whose owner process is
gone belongs to a crashed manager: ``orphans()`` names it, ``reclaim()`` frees its loop
devices and files. Nothing outside ``<root>`` is ever touched.

Blocking (subprocesses, files): call from a thread pool. Needs root on the engine's host
(loop devices) and e2fsprogs (``mkfs.ext4``, ``debugfs``) and util-linux (``losetup``).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from schemas.exceptions import DetailedError

log = structlog.get_logger(__name__)

DEFAULT_ROOT = "/var/lib/sandguard/workspaces"
OWNER_FILE = "owner"
IMAGE_SUFFIX = ".img"
TEMPLATE_PREFIX = "template-"  # never a sandbox name: those start with "sandguard-"
# 4 KiB blocks even on small images (mke2fs picks 1 KiB below 512 MiB: a quarter of the
# throughput for big files); no journal: a workspace never outlives a crash of its host, it is
# deleted, so a journal would only cost create time and write bandwidth; no reserved blocks:
# all of the quota is the sandbox's; one inode per 8 KiB (mke2fs gives small images one per
# 4 KiB: 6.5 % of a 138 MiB image in inode tables; at 8 KiB 3 %, and still ~90,000 files in
# the default 700 MiB /work).
MKFS_ARGS = ("-q", "-F", "-b", "4096", "-m", "0", "-i", "8192", "-O", "^has_journal", "-E")
# mke2fs always makes lost+found (root-owned, 0700): out of the sandbox user's /work listing.
DEBUGFS_SCRIPT = "rmdir lost+found\nsif / mode 0{mode:o}\n"  # debugfs reads 041777, not 0o41777
DIR_TYPE = 0o040000
# Each tool finishes in ~10 ms here; 30 s covers a host whose disk is saturated by other work.
TOOL_TIMEOUT_S = 30.0
SYS_BLOCK = Path("/sys/block")
PROC = Path("/proc")
# /proc/<pid>/stat field 22 (1-based) is the start time in clock ticks: with the pid, it names
# one process for the life of the host, so a reused pid is never taken for the manager.
STAT_START_FIELD = 22


class WorkspaceError(DetailedError):
    """The workspace storage could not be made (the tool and its message say why)."""

    step: str
    reason: str
    template = "workspace {step}: {reason}"


@dataclass(frozen=True, slots=True)
class Disk:
    """One mount's storage: where it is mounted in the sandbox, its image and loop device."""

    target: str
    image: str
    device: str


@dataclass(frozen=True, slots=True)
class Workspace:
    name: str
    disks: tuple[Disk, ...]

    def devices(self) -> dict[str, str]:
        """Mount point in the sandbox -> loop device (what sandbox.config mounts)."""
        return {d.target: d.device for d in self.disks}


def _run(step: str, argv: list[str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WorkspaceError(step, f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        raise WorkspaceError(step, f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[:300]}")
    return done.stdout


def make_image(path: Path, size_mb: int, owner: tuple[int, int], mode: int) -> None:
    """A sparse ext4 image of ``size_mb`` whose root directory is owned by ``owner`` with ``mode``."""
    with path.open("wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    options = f"root_owner={owner[0]}:{owner[1]},nodiscard"
    _run("mkfs", ["mkfs.ext4", *MKFS_ARGS, options, str(path)])
    _run("debugfs", ["debugfs", "-w", "-f", "-", str(path)], DEBUGFS_SCRIPT.format(mode=DIR_TYPE | mode))
    _check_root(path, owner, mode)


def _check_root(path: Path, owner: tuple[int, int], mode: int) -> None:
    """debugfs exits 0 whatever its commands did: the root is read back (once per template)."""
    listing = _run("debugfs", ["debugfs", "-R", "ls -p /", str(path)])
    entries = [line.strip("/").split("/") for line in listing.splitlines() if line.startswith("/")]
    root = next((e for e in entries if e[4:5] == ["."]), None)
    want = [f"{DIR_TYPE | mode:o}", str(owner[0]), str(owner[1])]
    if root is None or [root[1].lstrip("0"), root[2], root[3]] != want:
        raise WorkspaceError("debugfs", f"root of {path.name} is {root}, wanted mode/uid/gid {want}")
    if any(e[4:5] == ["lost+found"] for e in entries):
        raise WorkspaceError("debugfs", f"lost+found still in {path.name}")


def copy_sparse(source: Path, target: Path) -> None:
    """Copies only the data of a sparse file (a fresh image holds ~1 MiB of it, whatever its size)."""
    size = source.stat().st_size
    with source.open("rb") as src, target.open("wb") as dst:
        dst.truncate(size)
        offset = 0
        while offset < size:
            try:
                start = os.lseek(src.fileno(), offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    return  # only a hole is left
                raise
            end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            _copy_range(src.fileno(), dst.fileno(), start, end)
            offset = end


def _copy_range(src: int, dst: int, start: int, end: int) -> None:
    while start < end:
        copied = os.copy_file_range(src, dst, end - start, start, start)
        if copied == 0:
            raise OSError(errno.EIO, f"short copy at {start}")
        start += copied


def attach(path: Path) -> str:
    """A free loop device backed by ``path`` (direct I/O), e.g. ``/dev/loop3``."""
    return _run("losetup", ["losetup", "--find", "--show", "--direct-io=on", str(path)]).strip()


def detach(device: str) -> None:
    """Detaches a loop device; one still mounted is detached by the kernel at its unmount."""
    try:
        _run("losetup", ["losetup", "-d", device])
    except WorkspaceError as exc:
        log.warning("workspace_detach_failed", device=device, error=str(exc))


def loops_under(directory: Path) -> Iterator[str]:
    """Loop devices whose backing file is in ``directory`` (deleted or not)."""
    prefix = f"{directory}/"
    for entry in sorted(SYS_BLOCK.glob("loop*/loop/backing_file")):
        try:
            backing = entry.read_text().strip()
        except OSError:
            continue  # detached between the glob and the read
        if backing.startswith(prefix):
            yield f"/dev/{entry.parent.parent.name}"


def _start_time(pid: int) -> str | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: fields after it are counted from its ")".
    return stat.rpartition(")")[2].split()[STAT_START_FIELD - 3]


def _pid_namespace() -> str:
    return os.readlink(PROC / "self" / "ns" / "pid")


def owner_mark() -> str:
    """This process, as an owner file holds it: pid, start time, pid namespace."""
    pid = os.getpid()
    return f"{pid} {_start_time(pid)} {_pid_namespace()}\n"


def owner_alive(owner_file: Path) -> bool:
    """Is the process that wrote ``owner_file`` still running? An unreadable file is not; an
    owner in another pid namespace (a manager in a container sharing the directory) cannot
    be judged from here, so it is taken as alive: its sandboxes are never reclaimed."""
    try:
        pid_text, started, namespace = owner_file.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if not namespace.startswith("pid:["):
        return False  # not a mark this module wrote
    if namespace != _pid_namespace():
        return True
    return _start_time(pid) == started


class WorkspaceStore:
    """The workspaces of one manager: made, released, and a crashed manager's reclaimed."""

    def __init__(self, root: str | Path, manager_id: str) -> None:
        self.root = Path(root)
        self.dir = self.root / manager_id
        self._opened = False
        self._lock = threading.Lock()  # make() runs on many pool threads at once
        self._templates: dict[tuple[int, int, tuple[int, int]], Path] = {}

    def open(self) -> None:
        """Makes the manager's directory, marked with this process (idempotent). Made under a
        hidden name and renamed: another manager's ``orphans()`` never sees it without owner."""
        with self._lock:
            if self._opened:
                return
            try:
                self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
                staging = self.root / f".{self.dir.name}.new"
                staging.mkdir(mode=0o700, exist_ok=True)
                (staging / OWNER_FILE).write_text(owner_mark())
                staging.rename(self.dir)
            except OSError as exc:
                raise WorkspaceError("state directory", f"{self.dir}: {exc}") from exc
            self._opened = True

    def make(self, name: str, sizes: Mapping[str, tuple[int, int]], owner: tuple[int, int]) -> Workspace:
        """One image and loop device per mount; ``sizes`` maps mount point -> (MiB, mode)."""
        self.open()
        disks: list[Disk] = []
        try:
            for target, (size_mb, mode) in sizes.items():
                image = self.dir / f"{name}.{target.strip('/').replace('/', '_')}{IMAGE_SUFFIX}"
                copy_sparse(self._template(size_mb, mode, owner), image)
                disks.append(Disk(target, str(image), attach(image)))
        except BaseException as exc:
            release(Workspace(name, tuple(disks)))
            self._remove_images(name)
            if isinstance(exc, OSError):
                raise WorkspaceError("image", str(exc)) from exc
            raise
        return Workspace(name, tuple(disks))

    def _template(self, size_mb: int, mode: int, owner: tuple[int, int]) -> Path:
        """A fresh filesystem of this shape, made once per manager: copying its ~1 MiB of data
        takes a few ms where mkfs.ext4 and debugfs take ~30 (a third of a sandbox's create)."""
        key = (size_mb, mode, owner)
        with self._lock:
            if key not in self._templates:
                path = self.dir / f"{TEMPLATE_PREFIX}{size_mb}m-{mode:o}-{owner[0]}-{owner[1]}{IMAGE_SUFFIX}"
                make_image(path, size_mb, owner, mode)
                self._templates[key] = path
            return self._templates[key]

    def _remove_images(self, name: str) -> None:
        for image in self.dir.glob(f"{name}.*{IMAGE_SUFFIX}"):
            image.unlink(missing_ok=True)

    def close(self) -> None:
        """Releases whatever this manager still has and removes its directory."""
        reclaim(self.dir)
        self._opened = False
        self._templates.clear()

    def orphans(self) -> list[str]:
        """Manager ids whose directory is here but whose process is gone (crashed)."""
        return orphans(self.root, own=self.dir)

    def reclaim_orphan(self, manager_id: str) -> None:
        if manager_id in self.orphans():
            reclaim(self.root / manager_id)


def orphans(root: Path, *, own: Path | None = None) -> list[str]:
    """Manager ids whose directory is under ``root`` but whose process is gone (crashed)."""
    if not root.is_dir():
        return []
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d != own and not owner_alive(d / OWNER_FILE)
    )


def release(workspace: Workspace | None) -> None:
    """Detaches a workspace's loop devices and deletes its images (after the engine let go)."""
    for disk in workspace.disks if workspace else ():
        detach(disk.device)
        Path(disk.image).unlink(missing_ok=True)


def reclaim(directory: Path) -> None:
    """Frees every loop device backed by a file in ``directory``, then the directory."""
    for device in loops_under(directory):
        log.warning("workspace_reclaiming_loop", device=device, directory=str(directory))
        detach(device)
    if directory.exists():
        shutil.rmtree(directory, onerror=_log_rmtree_error)


def _log_rmtree_error(function: object, path: str, exc_info: object) -> None:
    log.warning("workspace_remove_failed", path=path, error=repr(exc_info))
