"""The shape checks of file operations (from the stats gathered while resolving)."""

from __future__ import annotations

import pytest

from sandbox.exceptions import SandboxFileError, SandboxFileNotFound
from sandbox.paths import CheckedPath, PathStat, _check_shape, root_of
from sandbox.validation import Operation

FILE = PathStat(is_dir=False, is_symlink=False, size=3, link_target=None)
DIR = PathStat(is_dir=True, is_symlink=False, size=0, link_target=None)


def test_the_root_and_the_path_below_it() -> None:
    assert root_of("/work/a/b") == "/work" and root_of("/tmp") == "/tmp"
    assert root_of("/etc/passwd") is None and root_of("/workx") is None
    assert CheckedPath("g", "/work/a/b", None).rel == "a/b"
    assert CheckedPath("g", "/tmp", None).rel == ""
    assert CheckedPath("g", "/work/..data.txt", None).rel == "..data.txt"


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
