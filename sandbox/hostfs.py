"""Files of a sandbox read and written from the host, on the storage behind /work and /tmp.

The Docker archive API resolves a path and then follows it as root in the engine, so
a link swapped in by the sandbox between our check and its use led to /etc (issue 17).
Here every operation starts from a descriptor of the mount's own root directory on the
host (the volume's source) and opens the already-resolved path with ``openat2``
RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV: a symlink anywhere on the way,
swapped in or not, makes the open fail (ELOOP), and nothing outside the mount can be
reached. No file operation reads or writes anything but the sandbox's /work and /tmp,
whatever the storage behind them (tmpfs or disk volumes, bind mounts), and the mounts'
noexec does not matter. Blocking: the caller runs these on its thread pool. Needs the
engine's host, like the exec kill (sandbox.proctree).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.config import SANDBOX_GID, SANDBOX_UID
from sandbox.openat2 import openat2
from sandbox.results import FileInfo, FileType
from schemas.exceptions import DetailedError

DIR_MODE = 0o755
READ_CHUNK = 1024 * 1024
# O_NONBLOCK: opening a FIFO planted where a file was expected must not hang the manager.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class HostFileError(DetailedError):
    """A file operation the storage refused; ``kind`` says why: ``symlink`` (a link on
    the way: swapped in after the check, or never allowed), ``not_regular``, ``too_large``,
    ``not_found``, ``not_dir``, ``is_dir``, ``unmounted``."""

    kind: str
    message: str
    size: int = 0
    template = "{message}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One path's lstat below a mount, as the resolver needs it."""

    is_dir: bool
    is_symlink: bool
    size: int
    link_target: str | None


def _os_error(exc: OSError, path: str) -> HostFileError:
    # EINVAL: readlink of what lstat had just seen as a link (it was swapped back).
    if exc.errno in (errno.ELOOP, errno.EXDEV, errno.EINVAL):
        return HostFileError("symlink", f"{path}: a symbolic link or another mount is on the way")
    if exc.errno == errno.ENOENT:
        return HostFileError("not_found", f"{path}: no such file or directory")
    if exc.errno == errno.ENOTDIR:
        return HostFileError("not_dir", f"{path}: a component is not a directory")
    if exc.errno == errno.EISDIR:
        return HostFileError("is_dir", f"{path}: is a directory")
    if exc.errno == errno.ENXIO:
        return HostFileError("not_regular", f"{path}: not a regular file")
    return HostFileError("io", f"{path}: {exc.strerror}")


@contextmanager
def _fd(root: str, rel: str, flags: int, mode: int = 0) -> Iterator[int]:
    """A descriptor of ``rel`` below the mount ``root``; HostFileError when it cannot be had."""
    root_fd = open_root(root)
    try:
        try:
            fd = openat2(root_fd, rel or ".", flags, mode)
        except OSError as exc:
            raise _os_error(exc, rel) from exc
    finally:
        os.close(root_fd)
    try:
        yield fd
    except OSError as exc:
        raise _os_error(exc, rel) from exc
    finally:
        os.close(fd)


def open_root(root: str) -> int:
    """The mount's root directory (a path the engine gave, not one the sandbox controls)."""
    try:
        return os.open(root, _DIR_FLAGS | os.O_CLOEXEC)
    except OSError as exc:
        raise HostFileError(
            "unmounted", f"the sandbox's storage {root} cannot be opened: {exc.strerror}"
        ) from exc


def lstat(root: str, rel: str) -> Entry | None:
    """What is at ``rel`` (not followed), None when nothing is; its parents must hold no link."""
    parent, name = posixpath.split(rel)
    try:
        with _fd(root, parent, os.O_PATH | os.O_DIRECTORY) as fd:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            target = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
    except HostFileError as exc:
        if exc.kind in ("not_found", "not_dir"):
            return None
        raise
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _os_error(exc, rel) from exc
    return Entry(stat.S_ISDIR(st.st_mode), stat.S_ISLNK(st.st_mode), st.st_size, target)


def read_file(root: str, rel: str, *, max_bytes: int) -> bytes:
    """The content of the regular file at ``rel``; HostFileError for anything else."""
    with _fd(root, rel, _READ_FLAGS) as fd:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "is_dir" if stat.S_ISDIR(st.st_mode) else "not_regular"
            raise HostFileError(kind, f"{rel} is not a regular file")
        if st.st_size > max_bytes:
            raise HostFileError("too_large", f"{rel} is {st.st_size} bytes, over {max_bytes}", st.st_size)
        os.set_blocking(fd, True)
        return _read_all(fd, rel, max_bytes)


def _read_all(fd: int, rel: str, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := os.read(fd, READ_CHUNK):
        total += len(chunk)
        if total > max_bytes:  # it grew while we read
            raise HostFileError("too_large", f"{rel} grew over {max_bytes} bytes during the read", total)
        chunks.append(chunk)
    return b"".join(chunks)


def write_file(root: str, rel: str, data: bytes, *, mode: int) -> None:
    """Replaces the content of ``rel`` (made with its missing directories, all owned by
    the sandbox user); a link or a non-file in the way is refused, never followed."""
    parent, name = posixpath.split(rel)
    _make_dirs(root, parent)
    with _fd(root, parent, os.O_PATH | os.O_DIRECTORY) as dir_fd:
        try:
            fd = openat2(dir_fd, name, _WRITE_FLAGS, mode & 0o777)
        except OSError as exc:
            raise _os_error(exc, rel) from exc
        try:
            _write_regular(fd, rel, data, mode)
        finally:
            os.close(fd)


def _write_regular(fd: int, rel: str, data: bytes, mode: int) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise HostFileError("not_regular", f"{rel} is not a regular file")
    os.set_blocking(fd, True)
    os.ftruncate(fd, 0)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    # Permission bits only: no setuid, setgid or sticky bit through the API.
    os.fchmod(fd, mode & 0o777)
    os.fchown(fd, SANDBOX_UID, SANDBOX_GID)


def _make_dirs(root: str, parent: str) -> None:
    done = ""
    for part in [p for p in parent.split("/") if p]:
        with _fd(root, done, os.O_PATH | os.O_DIRECTORY) as fd:
            try:
                os.mkdir(part, DIR_MODE, dir_fd=fd)
                os.chown(part, SANDBOX_UID, SANDBOX_GID, dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                pass  # there already; the next open refuses it if it is not a directory
        done = posixpath.join(done, part)


def list_dir(root: str, rel: str, shown: str, *, recursive: bool, limit: int) -> list[FileInfo]:
    """Entries below the directory ``rel`` (named under ``shown``), breadth first, at most
    ``limit``; links are listed, never followed."""
    out: list[FileInfo] = []
    pending: deque[tuple[str, str]] = deque([(rel, shown)])
    while pending and len(out) < limit:
        here, here_shown = pending.popleft()
        with _fd(root, here, _DIR_FLAGS) as fd:
            for name in sorted(os.listdir(fd)):
                try:
                    info = _info(fd, name, posixpath.join(here_shown, name))
                except FileNotFoundError:
                    continue  # removed since the listing: not there any more
                out.append(info)
                if recursive and info.type is FileType.DIRECTORY:
                    pending.append((posixpath.join(here, name), info.path))
                if len(out) >= limit:
                    break
    return out


def _info(dir_fd: int, name: str, path: str) -> FileInfo:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    link = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else None
    return FileInfo(
        path=path,
        name=name,
        type=_type(st.st_mode),
        size=st.st_size,
        mode=stat.S_IMODE(st.st_mode),
        mtime=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        link_target=link,
    )


def _type(mode: int) -> FileType:
    if stat.S_ISDIR(mode):
        return FileType.DIRECTORY
    if stat.S_ISLNK(mode):
        return FileType.SYMLINK
    return FileType.FILE if stat.S_ISREG(mode) else FileType.OTHER
