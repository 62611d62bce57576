"""Path validation for file operations in a sandbox.

A path is checked as text first, then normalised lexically the way the kernel walks it
(``..`` at ``/`` stays at ``/``; ``//`` and ``.`` collapse), then checked against the
allowed roots (the workspace and ``/tmp``), the policy's blocked prefixes, its extension
allowlist and its size limit. Percent-encodings and other escapes are not decoded:
``%2e%2e`` is a file name, as it is for the kernel. Symlinks are not visible as text:
``resolve_in_root`` follows them through a callback that reads links inside the
sandbox, and the caller validates the resolved path again.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sandbox.validation.errors import FileTooLargeError, PathDeniedError
from schemas import SecurityPolicy

Operation = Literal["read", "write", "list"]

# Linux PATH_MAX counts the terminating NUL, so a path holds at most 4095 bytes;
# NAME_MAX caps one component at 255 bytes.
PATH_MAX = 4096
NAME_MAX = 255
DEFAULT_WORKSPACE = "/work"
# Paths inside the sandbox's own filesystem, never the host's.
DEFAULT_ROOTS: tuple[str, ...] = ("/work", "/tmp")  # noqa: S108
# Linux follows at most 40 symlinks in one lookup before ELOOP.
MAX_SYMLINKS = 40
# Components in one path: real trees stay under 40 levels (node_modules chains included);
# 256 leaves room and bounds the lookups one resolution makes (4095 bytes allow ~2,000).
MAX_DEPTH = 256
_MIB = 1024 * 1024
# C0 controls, DEL and C1 controls: legal in Linux names, but they forge log lines and
# terminal output, and no sandboxed program needs them.
_CONTROL = re.compile(r"[\x01-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class PathDecision:
    allowed: bool
    normalized: str | None
    reason: str | None


def normalize_path(
    path: str, *, workspace: str = DEFAULT_WORKSPACE, roots: Sequence[str] = DEFAULT_ROOTS
) -> str:
    """The absolute, normalised form of ``path`` (relative to ``workspace``), if it lies
    inside one of ``roots``; PathDeniedError otherwise."""
    _check_text(path)
    depth = len(_components(path))
    if depth > MAX_DEPTH:
        raise PathDeniedError(path, None, f"the path is {depth} levels deep; at most {MAX_DEPTH}")
    base = _absolute_root(workspace, "workspace")
    joined = path if path.startswith("/") else f"{base}/{path}"
    normalized = _lexical_normpath(joined)
    _check_length(path, normalized)
    if not any(_under(normalized, _absolute_root(root, "root")) for root in roots):
        shown = ", ".join(roots)
        raise PathDeniedError(path, normalized, f"it is outside the allowed roots ({shown})")
    return normalized


def validate_path(
    path: str,
    policy: SecurityPolicy,
    *,
    operation: Operation,
    size: int | None = None,
    workspace: str = DEFAULT_WORKSPACE,
    roots: Sequence[str] = DEFAULT_ROOTS,
) -> str:
    """The normalised path if ``operation`` on it is allowed by ``policy``; else raises
    PathDeniedError (FileTooLargeError when ``size`` bytes is over max_file_size_mb)."""
    if operation not in ("read", "write", "list"):
        raise ValueError(f"operation must be 'read', 'write' or 'list', not {operation!r}")
    if size is not None and size < 0:
        raise ValueError(f"size must be a byte count, not {size}")
    normalized = normalize_path(path, workspace=workspace, roots=roots)
    _check_blocked(path, normalized, policy.blocked_file_patterns)
    if operation == "list":
        return normalized  # listing names a directory: no extension, no size
    _check_extension(path, normalized, policy.allowed_file_extensions)
    limit = int(policy.max_file_size_mb * _MIB)
    if size is not None and size > limit:
        raise FileTooLargeError(path, normalized, size, limit)
    return normalized


def check_path(
    path: str,
    policy: SecurityPolicy,
    *,
    operation: Operation,
    size: int | None = None,
    workspace: str = DEFAULT_WORKSPACE,
    roots: Sequence[str] = DEFAULT_ROOTS,
) -> PathDecision:
    """``validate_path`` as a decision; never raises for a denied path (a bad
    ``operation``, ``size``, ``workspace`` or root is a programming error: ValueError)."""
    try:
        normalized = validate_path(
            path, policy, operation=operation, size=size, workspace=workspace, roots=roots
        )
    except PathDeniedError as denied:
        return PathDecision(False, denied.normalized, denied.reason)
    return PathDecision(True, normalized, None)


def resolve_in_root(
    path: str, readlink: Callable[[str], str | None], *, max_links: int = MAX_SYMLINKS
) -> str:
    """Follows symlinks in the absolute ``path`` component by component, as the kernel
    does, asking ``readlink(prefix)`` for each prefix (None: not a link).

    Relative targets resolve against the link's directory, absolute ones against ``/``,
    ``..`` after a link climbs from the link's target. More than ``max_links`` links
    (a loop, or a chain) raises PathDeniedError. The result has no ``.``, ``..`` or
    links in it; the caller must check it against the roots again.
    """
    if not path.startswith("/"):
        raise PathDeniedError(path, None, "only absolute paths are resolved")
    pending = _components(path)[::-1]
    resolved: list[str] = []
    followed = 0
    while pending:
        name = pending.pop()
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        target = readlink("/" + "/".join([*resolved, name]))
        if target is None:
            resolved.append(name)
            continue
        followed += 1
        if followed > max_links:
            raise PathDeniedError(path, None, f"more than {max_links} symbolic links (a loop?)")
        _check_target(path, target)
        if target.startswith("/"):
            resolved = []
        pending.extend(_components(target)[::-1])
    return "/" + "/".join(resolved)


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _check_target(path: str, target: str) -> None:
    if not target or "\0" in target:
        raise PathDeniedError(path, None, f"a symbolic link on the way has an invalid target {target!r}")
    if len(target.encode("utf-8", "surrogateescape")) >= PATH_MAX:
        raise PathDeniedError(path, None, f"a symbolic link on the way is longer than {PATH_MAX - 1} bytes")


def _check_text(path: str) -> None:
    if not path:
        raise PathDeniedError(path, None, "the path is empty")
    if "\0" in path:
        raise PathDeniedError(path, None, "the path contains a NUL byte")
    control = _CONTROL.search(path)
    if control:
        raise PathDeniedError(path, None, f"the path contains the control character {control.group()!r}")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise PathDeniedError(path, None, "the path is not valid Unicode text (a lone surrogate)") from exc
    if size >= PATH_MAX:
        raise PathDeniedError(path, None, f"the path is longer than {PATH_MAX - 1} bytes")


def _check_length(path: str, normalized: str) -> None:
    if len(normalized.encode("utf-8")) >= PATH_MAX:
        raise PathDeniedError(path, normalized, f"the path is longer than {PATH_MAX - 1} bytes")
    for part in normalized.split("/"):
        if len(part.encode("utf-8")) > NAME_MAX:
            raise PathDeniedError(path, normalized, f"a path component is longer than {NAME_MAX} bytes")


def _lexical_normpath(path: str) -> str:
    """``posixpath.normpath`` keeps a leading ``//``; the kernel does not, nor do we."""
    stack: list[str] = []
    for part in _components(path):
        if part == "..":
            if stack:
                stack.pop()
        else:
            stack.append(part)
    return "/" + "/".join(stack)


def _absolute_root(root: str, what: str) -> str:
    if not root.startswith("/") or "\0" in root:
        raise ValueError(f"the {what} must be an absolute path, not {root!r}")
    return _lexical_normpath(root)


def _under(path: str, root: str) -> bool:
    return root in ("/", path) or path.startswith(root + "/")


def _check_blocked(path: str, normalized: str, patterns: frozenset[str]) -> None:
    """A pattern is a path prefix by components: '/etc/' blocks '/etc' and '/etc/x',
    never '/etcetera'."""
    for pattern in patterns:
        prefix = _lexical_normpath(pattern)
        if _under(normalized, prefix):
            raise PathDeniedError(path, normalized, f"it matches the blocked pattern {pattern!r}")


def _check_extension(path: str, normalized: str, allowed: frozenset[str]) -> None:
    if not allowed:
        return
    name = posixpath.basename(normalized)
    extension = posixpath.splitext(name)[1].lower()
    if not extension:
        raise PathDeniedError(path, normalized, "it has no file extension and an extension allowlist applies")
    if extension not in allowed:
        shown = ", ".join(sorted(allowed))
        raise PathDeniedError(path, normalized, f"its extension {extension!r} is not allowed ({shown})")
