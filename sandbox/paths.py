"""A path checked against the policy, then resolved inside the sandbox and checked again.

Validation (sandbox.validation) sees only the text of a path; the sandbox's own code can
make ``/work/notes.txt`` a symlink to ``/etc/shadow``. So each component is looked up
in the container (the archive API's stat, which resolves links within the container's
root), the path is resolved with ``resolve_in_root``, and the result must pass the same
validation. The stats gathered on the way also refuse writes that would replace a
directory, or a file standing where a directory is needed.
"""

from __future__ import annotations

import base64
import json
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.archive import stat_is_dir, stat_is_symlink
from sandbox.config import ROOTS, WORKSPACE
from sandbox.exceptions import PathDeniedError, SandboxFileError, SandboxFileNotFound, SymlinkEscapeError
from sandbox.validation import resolve_in_root, validate_path
from schemas import SecurityPolicy

Operation = Literal["read", "write", "list"]
STAT_HEADER = "X-Docker-Container-Path-Stat"
UNRESOLVABLE = 500  # the engine's answer to a stat it could not complete


@dataclass(frozen=True, slots=True)
class PathStat:
    name: str
    size: int
    mode: int
    link_target: str | None

    @property
    def is_dir(self) -> bool:
        return stat_is_dir(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat_is_symlink(self.mode)


@dataclass(frozen=True, slots=True)
class CheckedPath:
    given: str
    resolved: str
    stat: PathStat | None  # None: does not exist (yet)

    @property
    def root(self) -> str:
        """The writable root (a volume mount) the path lives under."""
        return next(r for r in ROOTS if self.resolved == r or self.resolved.startswith(r + "/"))


def parse_stat(header: str) -> PathStat:
    raw: dict[str, Any] = json.loads(base64.b64decode(header))
    return PathStat(str(raw["name"]), int(raw["size"]), int(raw["mode"]), raw.get("linkTarget") or None)


class PathChecker:
    def __init__(self, api: Any, call: Callable[[Callable[[], Any]], Awaitable[Any]]) -> None:
        self._api = api
        self._call = call  # runs a blocking function off the event loop

    def stat(self, container_id: str, path: str) -> PathStat | None:
        """Blocking: the archive API's stat of ``path`` (None when it does not exist)."""
        res = self._api.head(self._api._url("/containers/{0}/archive", container_id), params={"path": path})
        if res.status_code == 404:
            return None
        if res.status_code == UNRESOLVABLE:
            # The engine could not follow it (a link loop, ELOOP); a HEAD answer has no body.
            raise PathDeniedError(
                path, path, "it cannot be resolved inside the sandbox (too many symbolic links?)"
            )
        self._api._raise_for_status(res)
        return parse_stat(res.headers[STAT_HEADER])

    async def check(
        self,
        container_id: str,
        policy: SecurityPolicy,
        path: str,
        operation: Operation,
        size: int | None = None,
    ) -> CheckedPath:
        """Raises PathDeniedError (SymlinkEscapeError for a link to a denied place),
        SandboxFileNotFound, or SandboxFileError for a shape the operation cannot take."""
        normalized = validate_path(
            path, policy, operation=operation, size=size, workspace=WORKSPACE, roots=ROOTS
        )
        resolved, stats = await self._call(lambda: self._resolve(container_id, normalized))
        if resolved != normalized:
            try:
                validate_path(
                    resolved, policy, operation=operation, size=size, workspace=WORKSPACE, roots=ROOTS
                )
            except PathDeniedError as exc:
                raise SymlinkEscapeError(path, normalized, resolved, exc.reason) from exc
        checked = CheckedPath(path, resolved, stats.get(resolved))
        _check_shape(checked, stats, operation)
        if operation == "read" and checked.stat is not None and size is None:
            # The size is known now: the read is judged by it before a byte moves.
            validate_path(
                resolved,
                policy,
                operation=operation,
                size=checked.stat.size,
                workspace=WORKSPACE,
                roots=ROOTS,
            )
        return checked

    def _resolve(self, container_id: str, normalized: str) -> tuple[str, dict[str, PathStat | None]]:
        stats: dict[str, PathStat | None] = {}

        def readlink(p: str) -> str | None:
            if p == "/" or p in ROOTS:
                return None  # mount points of ours: never links
            if p not in stats:
                parent = stats.get(posixpath.dirname(p))
                # Below a file nothing exists (the engine answers 500 "not a directory").
                stats[p] = None if parent is not None and not parent.is_dir else self.stat(container_id, p)
            st = stats[p]
            return st.link_target if st is not None and st.is_symlink else None

        resolved = resolve_in_root(normalized, readlink)
        if resolved not in stats and resolved not in ROOTS:
            readlink(resolved)
        return resolved, stats


def _check_shape(checked: CheckedPath, stats: dict[str, PathStat | None], operation: Operation) -> None:
    resolved, st = checked.resolved, checked.stat
    parent = posixpath.dirname(resolved)
    while parent not in ("/", *ROOTS):
        pst = stats.get(parent)
        if pst is not None and not pst.is_dir:
            raise SandboxFileError(checked.given, f"{parent} is not a directory")
        parent = posixpath.dirname(parent)
    if resolved in ROOTS:
        if operation != "list":
            raise SandboxFileError(checked.given, "is a directory")
        return
    if operation == "write":
        if st is not None and st.is_dir:
            raise SandboxFileError(checked.given, "is a directory")
        return
    if st is None:
        raise SandboxFileNotFound(checked.given)
    if operation == "read" and st.is_dir:
        raise SandboxFileError(checked.given, "is a directory")
    if operation == "list" and not st.is_dir:
        raise SandboxFileError(checked.given, "is not a directory")
