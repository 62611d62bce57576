"""The shape checks of file operations (from the stats gathered while resolving)."""

from __future__ import annotations

import pytest

from sandbox.exceptions import SandboxFileError, SandboxFileNotFound
from sandbox.paths import CheckedPath, PathStat, _check_shape, _leads_out, root_of
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


LINK = PathStat(is_dir=False, is_symlink=True, size=16, link_target="/usr/bin/python3")


@pytest.mark.parametrize(
    ("path", "resolved", "stats", "out"),
    [
        # A venv's python: a link out of /work (what is outside is never looked into).
        (
            "/work/v/bin/python",
            "/usr/bin/python3",
            {"/work/v": DIR, "/work/v/bin": DIR, "/work/v/bin/python": LINK, "/usr": None},
            True,
        ),
        # '..' through a directory that exists, as the kernel walks it.
        ("/work/d/../../usr/bin/ls", "/usr/bin/ls", {"/work/d": DIR}, True),
        # '..' through nothing, or through a file: the kernel fails (ENOENT, ENOTDIR).
        ("/work/missing/../../usr/bin/ls", "/usr/bin/ls", {"/work/missing": None}, False),
        ("/work/f/../../usr/bin/ls", "/usr/bin/ls", {"/work/f": FILE}, False),
        # Stays in /work, or never was in it.
        ("/work/x", "/work/y", {"/work/x": LINK, "/work/y": FILE}, False),
        ("/home/x", "/home/x", {}, False),
    ],
)
def test_a_command_path_leads_out_only_through_what_exists(
    path: str, resolved: str, stats: dict[str, PathStat | None], out: bool
) -> None:
    assert _leads_out(path, resolved, stats) is out
