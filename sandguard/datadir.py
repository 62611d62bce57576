"""One process owns an embedded engine's data directory: a lock file says which.

chdb opens one data directory per process and fails obscurely ("Error initializing
EmbeddedServer") when another process holds it. Before opening, the process takes an
exclusive ``flock`` on ``<dir>/sandguard.lock`` (released by the kernel when the process
exits, even killed) and writes its pid there; a second process gets DataDirInUseError,
naming the owner and the two ways out.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import threading
from pathlib import Path
from typing import IO

LOCK_NAME = "sandguard.lock"

_held: dict[Path, IO[str]] = {}  # kept open for the life of the process
_lock = threading.Lock()


class DataDirInUseError(RuntimeError):
    """Raised when another process owns the embedded engine's data directory (carries the
    directory and the owner's pid, None when it could not be read)."""

    def __init__(self, path: Path, owner: int | None) -> None:
        self.path = path
        self.owner = owner
        who = f"process {owner}" if owner is not None else "another process"
        super().__init__(
            f"the embedded ClickHouse engine at {path} is in use by {who} (lock file {path / LOCK_NAME}); "
            "chdb opens one data directory per process. Either give this process a data directory "
            "of its own (SandboxManager(data_dir=...), --data-dir or SANDGUARD_DATA_DIR), or run one "
            "host pipeline (`sandguard run --bus kafka`) and have every process join it with "
            "SandboxManager(security_policy=..., bus=KafkaBus(...)); see docs/deployment.md"
        )


def lock_data_dir(path: Path) -> None:
    """Takes this process's lock on ``path`` (idempotent); DataDirInUseError if another holds it."""
    path = path.resolve()
    with _lock:
        if path in _held:
            return
        path.mkdir(parents=True, exist_ok=True)
        handle = (path / LOCK_NAME).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(handle)
            handle.close()
            raise DataDirInUseError(path, owner) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _held[path] = handle


@atexit.register
def _release_all() -> None:
    """At exit the kernel would release the locks anyway; closing says the handles were held
    on purpose (no 'unclosed file' warning from the interpreter's last collection)."""
    with _lock:
        for handle in _held.values():
            handle.close()
        _held.clear()


def _owner(handle: IO[str]) -> int | None:
    handle.seek(0)
    text = handle.read().strip()
    return int(text) if text.isdigit() else None
