"""Pins the public surface of sandbox.validation: the sandbox manager codes against it."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

import sandbox.validation as validation
from sandbox.validation import (
    CommandDecision,
    CommandDeniedError,
    FileTooLargeError,
    PathDecision,
    PathDeniedError,
    ValidationDenied,
)
from schemas import SecurityViolationType


def test_all_is_pinned() -> None:
    assert sorted(validation.__all__) == [
        "CommandDecision",
        "CommandDeniedError",
        "DEFAULT_ROOTS",
        "DEFAULT_WORKSPACE",
        "FileTooLargeError",
        "MAX_COMMAND_BYTES",
        "MAX_COMMAND_WORDS",
        "MAX_DEPTH",
        "MAX_NESTING",
        "MAX_SYMLINKS",
        "NAME_MAX",
        "Operation",
        "PATH_MAX",
        "PathDecision",
        "PathDeniedError",
        "ValidationDenied",
        "check_command",
        "check_path",
        "normalize_path",
        "resolve_in_root",
        "unsafe_variable_reason",
        "validate_command",
        "validate_path",
    ]
    for name in validation.__all__:
        assert hasattr(validation, name)


def _shape(function: object) -> list[tuple[str, str, object]]:
    params = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    return [(p.name, p.kind.name, p.default) for p in params]


EMPTY = inspect.Parameter.empty


@pytest.mark.parametrize(
    ("function", "shape"),
    [
        (
            validation.check_command,
            [
                ("command", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("policy", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("links", "KEYWORD_ONLY", None),
                ("scripts", "KEYWORD_ONLY", None),
            ],
        ),
        (
            validation.validate_command,
            [
                ("command", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("policy", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("links", "KEYWORD_ONLY", None),
                ("scripts", "KEYWORD_ONLY", None),
            ],
        ),
        (
            validation.normalize_path,
            [
                ("path", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("workspace", "KEYWORD_ONLY", "/work"),
                ("roots", "KEYWORD_ONLY", ("/work", "/tmp")),
            ],
        ),
        (
            validation.resolve_in_root,
            [
                ("path", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("readlink", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("max_links", "KEYWORD_ONLY", 40),
            ],
        ),
    ]
    + [
        (
            function,
            [
                ("path", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("policy", "POSITIONAL_OR_KEYWORD", EMPTY),
                ("operation", "KEYWORD_ONLY", EMPTY),
                ("size", "KEYWORD_ONLY", None),
                ("workspace", "KEYWORD_ONLY", "/work"),
                ("roots", "KEYWORD_ONLY", ("/work", "/tmp")),
            ],
        )
        for function in (validation.validate_path, validation.check_path)
    ],
)
def test_signatures(function: object, shape: list[tuple[str, str, object]]) -> None:
    assert _shape(function) == shape


def test_decisions_are_frozen_records() -> None:
    assert [f.name for f in dataclasses.fields(CommandDecision)] == [
        "allowed",
        "words",
        "denied_word",
        "reason",
        "linked_paths",
        "script_paths",
    ]
    assert [f.name for f in dataclasses.fields(PathDecision)] == ["allowed", "normalized", "reason"]
    decision = CommandDecision(True, ("ls",), None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]


def test_exception_tree_and_data() -> None:
    assert issubclass(ValidationDenied, PermissionError)
    assert issubclass(CommandDeniedError, ValidationDenied)
    assert issubclass(PathDeniedError, ValidationDenied)
    assert issubclass(FileTooLargeError, PathDeniedError)
    assert CommandDeniedError.violation_type is SecurityViolationType.PERMISSION_VIOLATION
    assert PathDeniedError.violation_type is SecurityViolationType.FILE_ACCESS_VIOLATION
    assert FileTooLargeError.violation_type is SecurityViolationType.FILE_ACCESS_VIOLATION
    too_big = FileTooLargeError("a.txt", "/work/a.txt", 11, 10)
    assert (too_big.path, too_big.normalized, too_big.size, too_big.limit) == ("a.txt", "/work/a.txt", 11, 10)
    assert too_big.subject == "a.txt" and "11 bytes" in too_big.reason
    copy = pickle.loads(pickle.dumps(too_big))
    assert (type(copy), copy.size, copy.limit, str(copy)) == (FileTooLargeError, 11, 10, str(too_big))
    unparsed = CommandDeniedError("echo 'x", None, "does not parse")
    assert unparsed.word is None and "not parsed" in str(unparsed)
