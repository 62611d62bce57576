"""openat2(2) with RESOLVE_* flags, the kernel's race-free path lookup. Pure I/O helpers.

A path checked and then opened by name can be swapped for a symlink in between (the
sandbox's own code can rename a directory and a link into each other with
RENAME_EXCHANGE). ``openat2`` with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS does the
check inside the lookup: no component may be a symlink and the walk may not leave the
directory it starts from, at the instant of the open. Linux 5.6 and later.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

# The syscall number is 437 on every architecture that has it (x86_64, aarch64...).
SYS_OPENAT2 = 437
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
# No symlink anywhere, no '..' above the start, no other mount, no /proc magic links.
STRICT = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = STRICT) -> int:
    """A file descriptor for ``path`` below ``dirfd``; OSError (ELOOP for a symlink on
    the way, EXDEV for an escape) as the kernel reports it."""
    if platform.system() != "Linux":
        raise OSError(errno.ENOSYS, "openat2 needs Linux")
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    fd = _libc.syscall(SYS_OPENAT2, dirfd, raw, ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)
