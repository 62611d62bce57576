"""A path checked against the policy, then resolved on the sandbox's storage and checked again.

Validation (sandbox.validation) sees only the text of a path; the sandbox's own code can
make ``/work/notes.txt`` a symlink to ``/etc/shadow``. So each component below /work and
/tmp is looked up from the host on the storage behind those mounts (sandbox.hostfs,
never following a link), the path is resolved with ``resolve_in_root``, and the result
must pass the same validation. A link that leads out of /work and /tmp is never looked
into: the resolved path is then outside the roots and denied. The operation itself then
opens the resolved path with no symlink allowed on the way, so a link swapped in after
this check fails the operation instead of redirecting it. The stats gathered on the way
also refuse writes that would replace a directory, or a file where a directory is needed.

The same resolution tells where a command path in /work or /tmp leads (``program_links``):
a venv's ``bin/python`` is a link to the image's ``/usr/bin/python3``, which validation
can then judge by its name. The image itself is not readable from here: a link's target
outside /work and /tmp is where the resolution stops. It also reads the script file a
shell runs (``script_files``: ``sh /work/run.sh``), as the file API reads, for validation
to judge its content.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from sandbox import hostfs
from sandbox.config import ROOTS, WORKSPACE
from sandbox.exceptions import PathDeniedError, SandboxFileError, SandboxFileNotFound, SymlinkEscapeError
from sandbox.hostfs import Entry
from sandbox.port import SandboxEngine
from sandbox.validation import Operation, resolve_in_root, validate_path
from schemas import SecurityPolicy

log = structlog.get_logger(__name__)

PathStat = Entry

# A script an agent writes is a few KiB; validation parses at most 128 KiB of shell code
# (MAX_COMMAND_BYTES) anyway, so a bigger file is not read: it stays refused.
MAX_SCRIPT_BYTES = 256 * 1024


def root_of(path: str) -> str | None:
    """The writable root (a mount) ``path`` lives under, None when outside them."""
    return next((r for r in ROOTS if path == r or path.startswith(r + "/")), None)


@dataclass(frozen=True, slots=True)
class CheckedPath:
    given: str
    resolved: str
    stat: PathStat | None  # None: does not exist (yet)

    @property
    def root(self) -> str:
        """The writable root (a volume mount) the path lives under."""
        root = root_of(self.resolved)
        if root is None:
            raise ValueError(f"{self.resolved} is outside {ROOTS}")
        return root

    @property
    def rel(self) -> str:
        """The path below its root ('' for the root itself)."""
        root = self.root
        return "" if self.resolved == root else self.resolved[len(root) + 1 :]


class MountSources:
    """Where each root of a container lives on the host, from the engine's inspect
    (a volume's or a bind mount's source); ``load`` asks once per container, ``source``
    (blocking code on the pool) reads what was loaded."""

    def __init__(self, port: SandboxEngine) -> None:
        self._port = port
        self._cache: dict[str, dict[str, str]] = {}

    async def load(self, container_id: str) -> None:
        if container_id not in self._cache:
            mounts = (await self._port.inspect(container_id)).get("Mounts") or []
            sources = {str(m["Destination"]): str(m["Source"]) for m in mounts if m.get("Source")}
            self._cache[container_id] = sources

    def source(self, container_id: str, root: str) -> str:
        """The host directory behind ``root`` in the container (loaded first)."""
        sources = self._cache.get(container_id, {})
        if root not in sources:
            raise hostfs.HostFileError(
                "unmounted", f"{root} of {container_id[:12]} has no storage of its own"
            )
        return sources[root]

    def forget(self, container_id: str) -> None:
        self._cache.pop(container_id, None)


class PathChecker:
    def __init__(self, sources: MountSources, call: Callable[[Callable[[], Any]], Awaitable[Any]]) -> None:
        self.sources = sources
        self._call = call  # runs a blocking function off the event loop

    def stat(self, container_id: str, path: str) -> PathStat | None:
        """Blocking: what is at ``path`` below /work or /tmp, not followed (None when
        nothing is, or when the path is outside them: never looked into)."""
        root = root_of(path)
        if root is None or path == root:
            return None
        rel = posixpath.relpath(path, root)
        try:
            return hostfs.lstat(self.sources.source(container_id, root), rel)
        except hostfs.HostFileError as exc:
            if exc.kind == "symlink":  # a parent became a link since it was looked at
                raise PathDeniedError(
                    path, path, "it changed while it was resolved (a symbolic link appeared)"
                ) from exc
            raise

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
        await self.sources.load(container_id)
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

    async def program_links(self, container_id: str, paths: Iterable[str]) -> dict[str, str]:
        """Command path -> the program outside /work and /tmp it leads to, for each
        absolute path that does (through links on the storage, each read without
        following anything). A relative path (its working directory is known only at
        run time), a path that stays in /work or /tmp, or one that cannot be resolved
        is left out: validation keeps refusing it."""
        wanted = [p for p in paths if p.startswith("/")]
        if not wanted:
            return {}
        await self.sources.load(container_id)
        found: dict[str, str] = await self._call(lambda: self._program_links(container_id, wanted))
        return found

    async def script_files(
        self, container_id: str, policy: SecurityPolicy, paths: Mapping[str, str]
    ) -> dict[str, str]:
        """Script path as written -> its content, for each absolute path in ``paths``'
        values the policy lets be read and that holds a regular UTF-8 file of at most
        MAX_SCRIPT_BYTES (read without following a link, as the file API reads). Any other
        is left out: validation keeps refusing it. No audit event: a lookup, not an access.
        The extension allowlist is not applied: it governs what the file API hands over,
        and this content stays in the manager (the sandbox can read its own file anyway)."""
        scripts: dict[str, str] = {}
        policy = policy.model_copy(update={"allowed_file_extensions": frozenset()})
        for written, path in paths.items():
            content = await self._script(container_id, policy, path)
            if content is not None:
                scripts[written] = content
        return scripts

    async def _script(self, container_id: str, policy: SecurityPolicy, path: str) -> str | None:
        try:
            checked = await self.check(container_id, policy, path, "read")
            source = self.sources.source(container_id, checked.root)
            data: bytes = await self._call(
                lambda: hostfs.read_file(source, checked.rel, max_bytes=MAX_SCRIPT_BYTES)
            )
            return data.decode("utf-8")
        except (
            PathDeniedError,
            SandboxFileError,
            hostfs.HostFileError,
            UnicodeDecodeError,
            ValueError,
        ) as exc:
            log.info("script_file.unread", sandbox=container_id[:12], path=path, reason=str(exc))
            return None

    def _program_links(self, container_id: str, paths: list[str]) -> dict[str, str]:
        links: dict[str, str] = {}
        for path in paths:
            try:
                resolved, stats = self._resolve(container_id, path)
            except (PathDeniedError, hostfs.HostFileError) as exc:
                log.info("program_link.unresolved", sandbox=container_id[:12], path=path, reason=str(exc))
                continue
            if _leads_out(path, resolved, stats):
                links[path] = resolved
        return links

    def _resolve(self, container_id: str, normalized: str) -> tuple[str, dict[str, PathStat | None]]:
        stats: dict[str, PathStat | None] = {}

        def readlink(p: str) -> str | None:
            if p == "/" or p in ROOTS:
                return None  # mount points of ours: never links
            if p not in stats:
                parent = stats.get(posixpath.dirname(p))
                # Below a file nothing exists.
                stats[p] = None if parent is not None and not parent.is_dir else self.stat(container_id, p)
            st = stats[p]
            return st.link_target if st is not None and st.is_symlink else None

        resolved = resolve_in_root(normalized, readlink)
        if resolved not in stats and resolved not in ROOTS:
            readlink(resolved)
        return resolved, stats


def _leads_out(path: str, resolved: str, stats: dict[str, PathStat | None]) -> bool:
    """True when the walk left /work and /tmp through what exists there: a directory or
    a link at every step (the kernel fails ``/work/missing/../..`` and ``/work/file/..``,
    while the resolution, reading one component at a time, would go on)."""
    walked = [st for p, st in stats.items() if root_of(p) is not None]
    steps_exist = all(st is not None and (st.is_dir or st.is_symlink) for st in walked)
    return steps_exist and root_of(resolved) is None and resolved != path


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
