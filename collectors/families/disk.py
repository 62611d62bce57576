"""Disk: bytes used on the container's writable mounts (a sandbox's /work and /tmp).

A sandbox's /work and /tmp are filesystems of their own (ext4 images, sandbox.workspace),
so the statvfs of each mount point is exactly the sandbox's use of its quota, and the
used blocks are what the quota holds (ENOSPC at the end, no kill). Read with statvfs through
/proc/<pid>/root, which resolves paths in the container's own mount namespace, from the
host and without entering the container; the mount points sit on the read-only root, so
the sandbox cannot put a link in their place.
"""

from __future__ import annotations

import os


class DiskFamily:
    name = "disk"

    def __init__(self, proc_root: str, pid: int, mounts: tuple[str, ...]) -> None:
        root = f"{proc_root}/{pid}/root"
        self._paths = tuple(root + m for m in mounts)

    def read(self) -> int | None:
        """Bytes used on the mounts; None when the container has no writable mount to measure."""
        if not self._paths:
            return None
        used = 0
        for path in self._paths:
            st = os.statvfs(path)
            used += (st.f_blocks - st.f_bfree) * st.f_frsize
        return used

    def close(self) -> None:
        """Nothing kept open: a statvfs costs one syscall and no descriptor."""
