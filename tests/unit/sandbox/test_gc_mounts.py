"""The gc leaves a dead manager's workspace whose loop device is still mounted: the mount
sources come from mountinfo (the field after the filesystem type, past the " - ")."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import gc

MOUNTINFO = (
    "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
    "90 25 7:3 / /var/lib/docker/volumes/v/_data rw,relatime shared:50 - ext4 /dev/loop3 rw\n"
    "91 25 0:5 / /proc rw - proc proc rw\n"
)


def test_mount_sources_are_read_past_the_separator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    monkeypatch.setattr(gc, "MOUNTINFO", info)
    assert gc.mounted_sources() == {"/dev/root", "/dev/loop3", "proc"}


def test_this_hosts_mountinfo_is_read() -> None:
    assert gc.mounted_sources()  # at least the root filesystem
