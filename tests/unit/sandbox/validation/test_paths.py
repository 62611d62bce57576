"""Path validation against traversal, malformed names, blocked prefixes, extensions,
sizes and symlinks, plus property-based checks of normalisation and link resolution."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.validation import (
    MAX_SYMLINKS,
    PATH_MAX,
    FileTooLargeError,
    PathDecision,
    PathDeniedError,
    ValidationDenied,
    check_path,
    normalize_path,
    resolve_in_root,
    validate_path,
)
from schemas import SecurityPolicy, SecurityViolationType
from tests.unit.sandbox.validation.conftest import PolicyFactory

MIB = 1024 * 1024

NORMALIZED: list[tuple[str, str]] = [
    ("data.txt", "/work/data.txt"),
    ("./a/b.txt", "/work/a/b.txt"),
    ("/work/a.txt", "/work/a.txt"),
    ("/tmp/x.txt", "/tmp/x.txt"),
    ("a/../b.txt", "/work/b.txt"),
    ("/work/./a.txt", "/work/a.txt"),
    ("/work//a.txt", "/work/a.txt"),
    ("//work/a.txt", "/work/a.txt"),
    ("///tmp///x.txt", "/tmp/x.txt"),
    ("/work/a/b/../../c.txt", "/work/c.txt"),
    ("/work", "/work"),
    ("/tmp/", "/tmp"),
    (".", "/work"),
    ("%2e%2e/etc/passwd.txt", "/work/%2e%2e/etc/passwd.txt"),
    ("..%2f..%2fetc%2fpasswd", "/work/..%2f..%2fetc%2fpasswd"),
    ("...", "/work/..."),
    ("/work/données.txt", "/work/données.txt"),
    ("/work/文件.txt", "/work/文件.txt"),
    ("/work/\u202etxt.exe", "/work/\u202etxt.exe"),
]


@pytest.mark.parametrize(("path", "expected"), NORMALIZED)
def test_normalize_inside_the_roots(path: str, expected: str) -> None:
    assert normalize_path(path) == expected


OUTSIDE: list[str] = [
    "../etc/passwd",
    "/etc/passwd",
    "/work/../etc/passwd",
    "//etc/passwd",
    "/work/./../",
    "/work/a/../../etc",
    "../../../../../../../etc/shadow",
    "..",
    "/",
    "/workspace/x.txt",
    "/work-other/x.txt",
    "/tmpfoo/x.txt",
    "/proc/self/root/etc/passwd",
    "tmp/../../tmp/../../etc",
]


@pytest.mark.parametrize("path", OUTSIDE)
def test_normalize_refuses_what_leaves_the_roots(path: str) -> None:
    with pytest.raises(PathDeniedError) as caught:
        normalize_path(path)
    assert caught.value.normalized is not None
    assert "outside the allowed roots" in caught.value.reason


MALFORMED: list[tuple[str, str]] = [
    ("", "empty"),
    ("a\0b.txt", "NUL"),
    ("/work/\0", "NUL"),
    ("a\nb.txt", "control character"),
    ("a\rb.txt", "control character"),
    ("a\x1bb.txt", "control character"),
    ("a\x7fb.txt", "control character"),
    ("a\x85b.txt", "control character"),
    ("a" * PATH_MAX, "longer"),
    ("é" * (PATH_MAX // 2), "longer"),
    ("/work/" + "a" * 256, "component"),
    ("a/" * 2048, "longer"),
    ("\ud800.txt", "surrogate"),
]


@pytest.mark.parametrize(("path", "why"), MALFORMED, ids=[w + str(i) for i, (_, w) in enumerate(MALFORMED)])
def test_normalize_refuses_malformed_text(path: str, why: str) -> None:
    with pytest.raises(PathDeniedError) as caught:
        normalize_path(path)
    assert why in caught.value.reason


def test_longest_accepted_path_and_component() -> None:
    name = "a" * 255
    assert normalize_path(name) == "/work/" + name
    long_path = "/work/" + "/".join(["b" * 200] * 20)
    assert len(long_path) < PATH_MAX - 1
    assert normalize_path(long_path) == long_path


def test_workspace_and_roots_are_parameters() -> None:
    assert normalize_path("x.txt", workspace="/tmp/job") == "/tmp/job/x.txt"
    assert normalize_path("x.txt", workspace="/srv", roots=("/srv",)) == "/srv/x.txt"
    with pytest.raises(PathDeniedError):
        normalize_path("/work/x.txt", roots=("/srv",))
    with pytest.raises(ValueError, match="absolute"):
        normalize_path("x.txt", workspace="work")
    with pytest.raises(ValueError, match="absolute"):
        normalize_path("x.txt", roots=("tmp",))


WHOLE_FS = ("/",)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/etc/passwd", False),
        ("/etc", False),
        ("/etc/", False),
        ("//etc//passwd", False),
        ("/usr/bin/python3", False),
        ("/proc/self/environ", False),
        ("/home/user/x.txt", False),
        ("/etcetera/x.txt", True),
        ("/binary/x.txt", True),
        ("/usr/binx/x.txt", True),
        ("/work/etc/passwd.txt", True),
    ],
)
def test_blocked_patterns_match_whole_components(path: str, allowed: bool, policy: SecurityPolicy) -> None:
    decision = check_path(path, policy, operation="list", roots=WHOLE_FS)
    assert decision.allowed is allowed, decision
    if not allowed:
        assert decision.reason is not None and "blocked pattern" in decision.reason


def test_custom_blocked_patterns_inside_the_workspace(make_policy: PolicyFactory) -> None:
    policy = make_policy(blocked_file_patterns={"/work/secrets/", "/work/.env"})
    assert not check_path("secrets/key.txt", policy, operation="read").allowed
    assert not check_path("secrets", policy, operation="list").allowed
    assert not check_path("/work/./secrets/../secrets/a.txt", policy, operation="write").allowed
    assert not check_path(".env", policy, operation="list").allowed
    assert check_path("secrets-public/a.txt", policy, operation="read").allowed
    assert check_path(".envrc.txt", policy, operation="read").allowed


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("a.txt", True),
        ("A.TXT", True),
        ("data.Json", True),
        ("a.exe.py", True),
        ("a.py.exe", False),
        ("a.tar.gz", False),
        ("Makefile", False),
        (".bashrc", False),
        ("file.", False),
        ("dir.txt/run.sh", False),
    ],
)
def test_extension_allowlist(path: str, allowed: bool, policy: SecurityPolicy) -> None:
    for operation in ("read", "write"):
        decision = check_path(path, policy, operation=operation)
        assert decision.allowed is allowed, (operation, decision)


def test_listing_is_exempt_from_extensions(policy: SecurityPolicy) -> None:
    assert check_path("/work", policy, operation="list") == PathDecision(True, "/work", None)
    assert check_path("build/bin.exe", policy, operation="list").allowed


def test_empty_extension_allowlist_allows_any_name(make_policy: PolicyFactory) -> None:
    policy = make_policy(allowed_file_extensions=set())
    assert validate_path("Makefile", policy, operation="write") == "/work/Makefile"


def test_size_limit_applies_to_reads_and_writes(make_policy: PolicyFactory) -> None:
    policy = make_policy(max_file_size_mb=10)
    assert validate_path("a.txt", policy, operation="read", size=10 * MIB) == "/work/a.txt"
    for operation in ("read", "write"):
        with pytest.raises(FileTooLargeError) as caught:
            validate_path("a.txt", policy, operation=operation, size=10 * MIB + 1)
        assert (caught.value.size, caught.value.limit) == (10 * MIB + 1, 10 * MIB)
        assert caught.value.normalized == "/work/a.txt"
    assert validate_path("dir", policy, operation="list", size=10**12) == "/work/dir"


def test_fractional_size_limit(make_policy: PolicyFactory) -> None:
    policy = make_policy(max_file_size_mb=0.5)
    assert check_path("a.txt", policy, operation="write", size=MIB // 2).allowed
    assert not check_path("a.txt", policy, operation="write", size=MIB // 2 + 1).allowed


def test_programming_errors_are_value_errors(policy: SecurityPolicy) -> None:
    with pytest.raises(ValueError, match="size"):
        check_path("a.txt", policy, operation="read", size=-1)
    with pytest.raises(ValueError, match="operation"):
        check_path("a.txt", policy, operation="delete")  # type: ignore[arg-type]


def test_check_path_never_raises_a_denial(policy: SecurityPolicy) -> None:
    assert check_path("a\0.txt", policy, operation="read") == PathDecision(
        False, None, "the path contains a NUL byte"
    )
    decision = check_path("../etc/passwd", policy, operation="read")
    assert (decision.allowed, decision.normalized) == (False, "/etc/passwd")


def test_path_denials_are_permission_errors(policy: SecurityPolicy) -> None:
    with pytest.raises(PermissionError) as caught:
        validate_path("/work/../etc/shadow", policy, operation="read")
    err = caught.value
    assert isinstance(err, PathDeniedError) and isinstance(err, ValidationDenied)
    assert (err.path, err.normalized, err.subject) == (
        "/work/../etc/shadow",
        "/etc/shadow",
        "/work/../etc/shadow",
    )
    assert err.violation_type is SecurityViolationType.FILE_ACCESS_VIOLATION
    assert issubclass(FileTooLargeError, PathDeniedError)
    assert "/etc/shadow" in str(err)


# --- symlinks -----------------------------------------------------------------


def reader(mapping: dict[str, str]) -> tuple[list[str], Callable[[str], str | None]]:
    """A readlink over a map of links, recording every path it was asked about."""
    calls: list[str] = []

    def readlink(path: str) -> str | None:
        calls.append(path)
        return mapping.get(path)

    return calls, readlink


@pytest.mark.parametrize(
    ("mapping", "path", "expected"),
    [
        ({}, "/work/a/b.txt", "/work/a/b.txt"),
        ({"/work/l": "/etc/shadow"}, "/work/l", "/etc/shadow"),
        ({"/work/l": "../etc"}, "/work/l/passwd", "/etc/passwd"),
        ({"/work/l": "../../../../etc"}, "/work/l/passwd", "/etc/passwd"),
        ({"/work/a": "b", "/work/b": "/tmp/c"}, "/work/a", "/tmp/c"),
        ({"/work/a": "b", "/work/b": "c", "/work/c": "d.txt"}, "/work/a", "/work/d.txt"),
        ({"/work/l": "/tmp/x/y"}, "/work/l/../z.txt", "/tmp/x/z.txt"),
        ({"/work/dir": "/tmp/d"}, "/work/dir/f.txt", "/tmp/d/f.txt"),
        ({"/work/dir": "sub/./deeper/"}, "/work/dir/f.txt", "/work/sub/deeper/f.txt"),
        ({"/work": "/tmp"}, "/work/x.txt", "/tmp/x.txt"),
        ({"/tmp/l": "/proc/self/root"}, "/tmp/l/etc/passwd", "/proc/self/root/etc/passwd"),
        ({}, "/work/../tmp/./x.txt", "/tmp/x.txt"),
    ],
)
def test_resolve_in_root(mapping: dict[str, str], path: str, expected: str) -> None:
    _, readlink = reader(mapping)
    assert resolve_in_root(path, readlink) == expected


def test_symlink_escape_is_refused_after_resolution(policy: SecurityPolicy) -> None:
    # The sandbox's own code made /work/out.txt -> /etc/shadow; the path text looks fine.
    _, readlink = reader({"/work/out.txt": "../etc/shadow"})
    lexical = validate_path("out.txt", policy, operation="read")
    real = resolve_in_root(lexical, readlink)
    with pytest.raises(PathDeniedError) as caught:
        validate_path(real, policy, operation="read")
    assert caught.value.normalized == "/etc/shadow"


@pytest.mark.parametrize(
    "mapping",
    [
        {"/work/a": "a"},
        {"/work/a": "b", "/work/b": "a"},
        {"/work/a": "/work/b", "/work/b": "/work/c", "/work/c": "/work/a"},
        {"/work/a": "a/x"},
        {"/work/a": "../work/a"},
    ],
)
def test_symlink_loops_raise(mapping: dict[str, str]) -> None:
    calls, readlink = reader(mapping)
    with pytest.raises(PathDeniedError, match="symbolic links"):
        resolve_in_root("/work/a/f.txt", readlink)
    assert len(calls) < 200


def test_max_links_is_the_bound() -> None:
    chain = {f"/work/l{i}": f"l{i + 1}" for i in range(MAX_SYMLINKS)}
    _, readlink = reader(chain)
    assert resolve_in_root("/work/l0", readlink) == f"/work/l{MAX_SYMLINKS}"
    with pytest.raises(PathDeniedError):
        resolve_in_root("/work/l0", readlink, max_links=MAX_SYMLINKS - 1)


@pytest.mark.parametrize(
    ("target", "why"), [("", "invalid"), ("a\0b", "invalid"), ("a" * PATH_MAX, "longer")]
)
def test_invalid_link_targets_raise(target: str, why: str) -> None:
    _, readlink = reader({"/work/l": target})
    with pytest.raises(PathDeniedError, match=why):
        resolve_in_root("/work/l", readlink)


def test_resolve_needs_an_absolute_path() -> None:
    with pytest.raises(PathDeniedError, match="absolute"):
        resolve_in_root("work/x", lambda _: None)


# --- properties -----------------------------------------------------------------

COMPONENTS = st.one_of(
    st.sampled_from(
        ["", ".", "..", "...", "work", "tmp", "etc", "a", "b.txt", "%2e%2e", "\0", "é", "\u202e", "~"]
    ),
    st.text(max_size=12),
)
PATHS = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(COMPONENTS, max_size=12),
)
ROOTS = ("/work", "/tmp")


def _inside(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in ROOTS)


@settings(max_examples=600, deadline=None)
@given(PATHS)
def test_accepted_paths_are_inside_a_root_and_normal(path: str) -> None:
    try:
        result = normalize_path(path)
    except PathDeniedError as denied:
        assert denied.reason
        return
    parts = result.split("/")[1:]
    assert result.startswith("/") and _inside(result)
    assert ".." not in parts and "." not in parts and "" not in parts
    assert "\0" not in result
    assert normalize_path(result) == result
    joined = path if path.startswith("/") else "/work/" + path
    assert result == "/" + posixpath.normpath(joined).lstrip("/")


@settings(max_examples=300, deadline=None)
@given(PATHS)
def test_validate_path_agrees_with_normalize(path: str) -> None:
    policy = SecurityPolicy(allowed_file_extensions=frozenset())
    try:
        expected = normalize_path(path)
    except PathDeniedError:
        assert not check_path(path, policy, operation="write").allowed
        return
    assert check_path(path, policy, operation="write") == PathDecision(True, expected, None)


LINK_NAMES = st.sampled_from(["work", "tmp", "a", "b", "c"])
LINK_PATHS = st.lists(LINK_NAMES, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
TARGETS = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(st.sampled_from(["work", "tmp", "a", "b", "c", "..", ".", ""]), min_size=1, max_size=5),
).filter(bool)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(LINK_PATHS, TARGETS, max_size=6), LINK_PATHS)
def test_resolution_terminates_and_is_fully_resolved(mapping: dict[str, str], path: str) -> None:
    calls, readlink = reader(mapping)
    try:
        result = resolve_in_root(path, readlink)
    except PathDeniedError as denied:
        assert "symbolic links" in denied.reason
        return
    finally:
        assert len(calls) <= (MAX_SYMLINKS + 1) * 64
    parts = result.split("/")[1:] if result != "/" else []
    assert result.startswith("/")
    assert ".." not in parts and "." not in parts and "" not in parts
    for i in range(1, len(parts) + 1):
        assert "/" + "/".join(parts[:i]) not in mapping, "a link was left unresolved"
