"""Tar archives for the archive API: writes carry their directories and the sandbox
user; reads accept only one regular file within the limit; listings follow the tree."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import pytest

from sandbox.archive import (
    ArchiveFormatError,
    list_archive,
    read_single_file,
    stat_is_dir,
    stat_is_symlink,
    write_archive,
)
from sandbox.results import FileType


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def archive(*entries: tuple[str, bytes, str]) -> bytes:
    """(name, data, kind) with kind file, dir or link (data is the link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_write_carries_every_directory_and_the_sandbox_user() -> None:
    got = members(write_archive("/work", "/work/a/b/c.txt", b"hello", mode=0o600))
    assert [(m.name, m.isdir()) for m in got] == [("a", True), ("a/b", True), ("a/b/c.txt", False)]
    assert {(m.uid, m.gid, m.uname) for m in got} == {(1000, 1000, "sandbox")}
    assert got[-1].size == 5 and got[-1].mode == 0o600 and got[0].mode == 0o755


def test_a_write_never_sets_setuid_bits() -> None:
    assert members(write_archive("/work", "/work/x.py", b"", mode=0o4755))[-1].mode == 0o755


@pytest.mark.parametrize("path", ["/work", "/etc/passwd", "/work/../etc/x"])
def test_a_write_outside_its_root_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not below"):
        write_archive("/work", path, b"")


def test_a_read_returns_the_file_from_any_chunking() -> None:
    data = bytes(range(256)) * 100
    assert read_single_file(chunks(archive(("f.bin", data, "file"))), max_bytes=len(data)) == data


@pytest.mark.parametrize(
    ("entries", "kind"),
    [
        ((("p.txt", b"/etc/passwd", "link"),), "not_regular"),
        ((("d", b"", "dir"),), "not_regular"),
        ((("big.txt", b"x" * 11, "file"),), "too_large"),
        ((), "empty"),
    ],
)
def test_a_read_refuses_anything_but_one_small_regular_file(
    entries: tuple[tuple[str, bytes, str], ...], kind: str
) -> None:
    with pytest.raises(ArchiveFormatError) as info:
        read_single_file(chunks(archive(*entries)), max_bytes=10)
    assert info.value.kind == kind


def test_a_listing_gives_children_or_the_whole_tree() -> None:
    data = archive(
        ("work", b"", "dir"),
        ("work/a.txt", b"aa", "file"),
        ("work/d", b"", "dir"),
        ("work/d/b.txt", b"b", "file"),
        ("work/l", b"/etc", "link"),
    )
    children = list_archive(chunks(data), "/work", recursive=False, limit=100)
    assert [(f.path, f.type) for f in children] == [
        ("/work/a.txt", FileType.FILE),
        ("/work/d", FileType.DIRECTORY),
        ("/work/l", FileType.SYMLINK),
    ]
    assert children[2].link_target == "/etc" and children[0].size == 2
    tree = list_archive(chunks(data), "/work/", recursive=True, limit=100)
    assert "/work/d/b.txt" in [f.path for f in tree]
    assert len(list_archive(chunks(data), "/work", recursive=True, limit=2)) == 2


def test_go_file_mode_bits() -> None:
    assert stat_is_symlink(134218239) and not stat_is_dir(134218239)
    assert stat_is_dir(2147484141) and not stat_is_symlink(420)
