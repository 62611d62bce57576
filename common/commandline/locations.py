"""Where a program named by a path lives, and whether its name can be trusted. Pure.

A command word with a slash runs the file at that path, and validation judges it by
its last component. That holds where the sandbox cannot make files: the image's
read-only system directories. In ``/work``, ``/tmp``, ``/dev/shm`` (or relative to a
working directory the command may have changed) the sandbox can make ``del`` a symbolic
link to ``/usr/bin/rm``: the kernel follows it, and noexec does not apply to the target.
Under ``/proc`` and ``/dev`` a path can name an open descriptor (``/proc/self/fd/3``
after ``exec 3</usr/bin/rm``) or another process's executable: the name says nothing.
"""

from __future__ import annotations

from common.commandline.shell_words import Refusal

# The image's read-only directories (the root filesystem is mounted read-only): a name
# there is the name the image gave the file.
SYSTEM_DIRS = frozenset(("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt", "etc"))
# Directories whose entries name descriptors, processes or devices, not programs.
OPAQUE_DIRS = frozenset(("proc", "dev"))


def untrusted_location(path: str) -> bool:
    """True when ``path`` (a command word with a slash) may lead through a place the
    sandbox can write, so its last component need not be the program's name. Raises
    Refusal for paths under /proc or /dev, whose names never say which program runs."""
    if not path.startswith("/"):
        return True  # relative to a working directory only known at run time
    stack: list[str] = []
    untrusted = False
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == "..":
            if stack:
                stack.pop()
            continue
        stack.append(part)
        if stack[0] in OPAQUE_DIRS:
            raise Refusal(path, f"a program run as {path!r} is whatever file a descriptor or process "
                          "there holds: its name cannot be judged")  # fmt: skip
        # Every directory the kernel walks through, '..' or not, must be the image's.
        is_directory = i < len(parts) - 1
        untrusted |= is_directory and stack[0] not in SYSTEM_DIRS
    return untrusted
