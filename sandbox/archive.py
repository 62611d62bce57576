"""Tar archives for the Docker archive API: files in, files and listings out. Pure.

Writes are archives PUT at a workspace root (``/work`` or ``/tmp``) that hold every
directory on the way down to the file: Docker's extraction replaces anything in the
way that is not a directory (a symlink swapped in by the sandbox's own code included),
so a write cannot be redirected after its path was checked. Every entry belongs to the
sandbox user: files arrive with the tar entry's owner.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from sandbox.config import SANDBOX_GID, SANDBOX_UID
from sandbox.results import FileInfo, FileType

DIR_MODE = 0o755
FILE_MODE = 0o644
# Go's os.FileMode bits in the archive API's stat header (X-Docker-Container-Path-Stat).
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27


class ArchiveFormatError(ValueError):
    """The engine sent an archive that is not what was asked for; ``kind`` is ``empty``,
    ``not_regular`` (a symlink swapped in after the check, say) or ``too_large``."""

    def __init__(self, kind: str, message: str, size: int = 0) -> None:
        self.kind = kind
        self.size = size
        super().__init__(message)


def _entry(name: str, kind: bytes, mode: int, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = int(mtime)
    info.uid, info.gid = SANDBOX_UID, SANDBOX_GID
    info.uname = info.gname = "sandbox"
    return info


def write_archive(root: str, path: str, data: bytes, *, mode: int = FILE_MODE) -> bytes:
    """The archive to PUT at ``root`` so that ``path`` (below root) holds ``data``."""
    rel = posixpath.relpath(path, root)
    if rel.startswith("..") or rel == "." or posixpath.isabs(rel):
        raise ValueError(f"{path} is not below {root}")
    parts = rel.split("/")
    now = time.time()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for depth in range(1, len(parts)):
            tar.addfile(_entry("/".join(parts[:depth]), tarfile.DIRTYPE, DIR_MODE, 0, now))
        # Permission bits only: no setuid, setgid or sticky bit from the API (the mounts
        # are nosuid as well).
        tar.addfile(_entry(rel, tarfile.REGTYPE, mode & 0o777, len(data), now), io.BytesIO(data))
    return buf.getvalue()


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (the engine's response body)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def read_single_file(chunks: Iterable[bytes], *, max_bytes: int) -> bytes:
    """The content of the one regular file in an archive of a file path.

    Raises ArchiveFormatError for anything but a regular file (a symlink swapped in after
    the check included) and when the file is larger than ``max_bytes``.
    """
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks)), mode="r|") as tar:
        member = tar.next()
        if member is None:
            raise ArchiveFormatError("empty", "empty archive")
        if not member.isreg():
            raise ArchiveFormatError("not_regular", f"{member.name} is a {_kind(member)}, not a regular file")
        if member.size > max_bytes:
            raise ArchiveFormatError(
                "too_large", f"{member.name} is {member.size} bytes, over the {max_bytes} limit", member.size
            )
        handle = tar.extractfile(member)
        if handle is None:
            raise ArchiveFormatError("empty", f"{member.name} has no content")
        return handle.read()


def _kind(member: tarfile.TarInfo) -> FileType:
    if member.isdir():
        return FileType.DIRECTORY
    if member.issym():
        return FileType.SYMLINK
    return FileType.FILE if member.isreg() else FileType.OTHER


def _info(member: tarfile.TarInfo, path: str) -> FileInfo:
    return FileInfo(
        path=path,
        name=posixpath.basename(path),
        type=_kind(member),
        size=member.size,
        mode=member.mode & 0o7777,
        mtime=datetime.fromtimestamp(member.mtime, tz=UTC),
        link_target=member.linkname or None,
    )


def list_archive(chunks: Iterable[bytes], directory: str, *, recursive: bool, limit: int) -> list[FileInfo]:
    """Entries below ``directory`` in the archive of that directory (the engine names them
    ``<basename>/...``), children only unless ``recursive``, at most ``limit``."""
    parent = posixpath.dirname(directory.rstrip("/")) or "/"
    out: list[FileInfo] = []
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks)), mode="r|") as tar:
        for member in tar:
            rel = member.name.rstrip("/").split("/", 1)
            if len(rel) < 2 or (not recursive and "/" in rel[1]):
                continue  # the directory itself, or deeper than asked
            out.append(_info(member, posixpath.join(parent, member.name.rstrip("/"))))
            if len(out) >= limit:
                break
    return out


def stat_is_symlink(mode: int) -> bool:
    return bool(mode & GO_MODE_SYMLINK)


def stat_is_dir(mode: int) -> bool:
    return bool(mode & GO_MODE_DIR)
