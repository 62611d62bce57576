"""Host-side file operations on a directory standing for a sandbox's mount (real kernel)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import hostfs
from sandbox.results import FileType


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    root = tmp_path / "mount"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.txt").write_bytes(b"data")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    os.symlink(tmp_path, root / "up")
    os.symlink("d", root / "rel")
    return root


def test_reads_and_writes_below_the_mount(mount: Path) -> None:
    assert hostfs.read_file(str(mount), "d/f.txt", max_bytes=10) == b"data"
    hostfs.write_file(str(mount), "new/deep/x.txt", b"hello", mode=0o4755)
    written = mount / "new" / "deep" / "x.txt"
    assert written.read_bytes() == b"hello"
    assert written.stat().st_mode & 0o7777 == 0o755  # permission bits only


@pytest.mark.parametrize("rel", ["up/outside.txt", "rel/f.txt", "../outside.txt", "/etc/passwd"])
def test_no_link_and_no_escape_is_ever_followed(mount: Path, rel: str) -> None:
    with pytest.raises(hostfs.HostFileError) as info:
        hostfs.read_file(str(mount), rel, max_bytes=100)
    assert info.value.kind == "symlink"
    with pytest.raises(hostfs.HostFileError):
        hostfs.write_file(str(mount), rel, b"x", mode=0o644)
    assert (mount.parent / "outside.txt").read_bytes() == b"secret"


def test_a_link_as_the_file_itself_is_refused_for_writes(mount: Path) -> None:
    os.symlink(mount.parent / "outside.txt", mount / "l.txt")
    with pytest.raises(hostfs.HostFileError) as info:
        hostfs.write_file(str(mount), "l.txt", b"x", mode=0o644)
    assert info.value.kind == "symlink"
    assert (mount.parent / "outside.txt").read_bytes() == b"secret"


def test_a_fifo_is_refused_without_blocking(mount: Path) -> None:
    os.mkfifo(mount / "p.txt")
    for op in (
        lambda: hostfs.read_file(str(mount), "p.txt", max_bytes=10),
        lambda: hostfs.write_file(str(mount), "p.txt", b"x", mode=0o644),
    ):
        with pytest.raises(hostfs.HostFileError) as info:
            op()
        assert info.value.kind == "not_regular"


def test_size_limit_and_shapes(mount: Path) -> None:
    with pytest.raises(hostfs.HostFileError) as info:
        hostfs.read_file(str(mount), "d/f.txt", max_bytes=3)
    assert info.value.kind == "too_large" and info.value.size == 4
    with pytest.raises(hostfs.HostFileError) as info:
        hostfs.read_file(str(mount), "missing.txt", max_bytes=3)
    assert info.value.kind == "not_found"
    with pytest.raises(hostfs.HostFileError) as info:
        hostfs.read_file(str(mount), "d", max_bytes=3)
    assert info.value.kind == "is_dir"


def test_listing_shows_links_without_following_them(mount: Path) -> None:
    entries = {e.path: e for e in hostfs.list_dir(str(mount), "", "/work", recursive=True, limit=100)}
    assert entries["/work/up"].type is FileType.SYMLINK and entries["/work/up"].link_target == str(
        mount.parent
    )
    assert "/work/up/outside.txt" not in entries
    assert entries["/work/d/f.txt"].size == 4
    assert len(hostfs.list_dir(str(mount), "", "/work", recursive=True, limit=2)) == 2


def test_lstat_sees_links_and_missing_paths(mount: Path) -> None:
    link = hostfs.lstat(str(mount), "rel")
    assert link is not None and link.is_symlink and link.link_target == "d"
    assert hostfs.lstat(str(mount), "nothing/here") is None
    assert hostfs.lstat(str(mount), "d/f.txt/below") is None
    with pytest.raises(hostfs.HostFileError):
        hostfs.lstat(str(mount), "rel/f.txt")  # a link on the way is never walked through


def test_an_unreachable_storage_is_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(hostfs.HostFileError) as info:
        hostfs.read_file(str(tmp_path / "gone"), "x", max_bytes=1)
    assert info.value.kind == "unmounted"
