"""The shape checks of file operations (from the stats gathered while resolving)."""

from __future__ import annotations

import base64
import json

import pytest

from sandbox.exceptions import SandboxFileError, SandboxFileNotFound
from sandbox.paths import CheckedPath, Operation, PathStat, _check_shape, parse_stat

FILE = PathStat("f", 3, 0o644, None)
DIR = PathStat("d", 0, (1 << 31) | 0o755, None)


def test_the_engines_stat_header() -> None:
    header = base64.b64encode(
        json.dumps(
            {"name": "p.txt", "size": 11, "mode": 134218239, "mtime": "x", "linkTarget": "/etc/passwd"}
        ).encode()
    ).decode()
    st = parse_stat(header)
    assert st.is_symlink and not st.is_dir and st.link_target == "/etc/passwd"
    assert parse_stat(
        base64.b64encode(b'{"name":"d","size":0,"mode":2147484141,"linkTarget":""}').decode()
    ).is_dir


@pytest.mark.parametrize(
    ("resolved", "stats", "op", "error"),
    [
        ("/work/a.txt/b.txt", {"/work/a.txt": FILE}, "write", "not a directory"),
        ("/work/d", {"/work/d": DIR}, "write", "is a directory"),
        ("/work/d", {"/work/d": DIR}, "read", "is a directory"),
        ("/work/f", {"/work/f": FILE}, "list", "is not a directory"),
        ("/work", {}, "read", "is a directory"),
    ],
)
def test_shapes_an_operation_cannot_take(
    resolved: str, stats: dict[str, PathStat | None], op: Operation, error: str
) -> None:
    with pytest.raises(SandboxFileError, match=error):
        _check_shape(CheckedPath("given", resolved, stats.get(resolved)), stats, op)


@pytest.mark.parametrize(("resolved", "op"), [("/work/x.txt", "read"), ("/tmp/nope", "list")])
def test_a_missing_path_is_not_found_for_reads_and_lists(resolved: str, op: Operation) -> None:
    with pytest.raises(SandboxFileNotFound) as info:
        _check_shape(CheckedPath(resolved, resolved, None), {}, op)
    assert isinstance(info.value, FileNotFoundError)


def test_fine_shapes() -> None:
    _check_shape(CheckedPath("g", "/work/new/x.txt", None), {"/work/new": None}, "write")
    _check_shape(CheckedPath("g", "/work", None), {}, "list")
    _check_shape(CheckedPath("g", "/work/d", DIR), {"/work/d": DIR}, "list")
    assert CheckedPath("g", "/tmp/a/b", None).root == "/tmp"
    assert CheckedPath("g", "/work", None).root == "/work"
