"""Validation of commands and paths before they reach a sandbox: pure logic, no I/O.

``check_command``/``validate_command`` check every command word that a shell command
line (or an exec-form argv) would run against the policy; which words those are is the
shared analyser's answer (``common.commandline``, also used by the processors' runtime
rules).
``check_path``/``validate_path`` normalise a path against the workspace and the allowed
roots and check it against the policy; ``resolve_in_root`` follows symlinks through a
callback that reads them inside the sandbox, so the caller can validate where a path
really leads. Denials raise ``PermissionError`` subclasses (see ``errors``).
"""

from common.commandline import unsafe_variable_reason
from sandbox.validation.commands import (
    MAX_COMMAND_BYTES,
    MAX_COMMAND_WORDS,
    MAX_NESTING,
    CommandDecision,
    check_command,
    validate_command,
)
from sandbox.validation.errors import (
    CommandDeniedError,
    FileTooLargeError,
    PathDeniedError,
    ValidationDenied,
)
from sandbox.validation.paths import (
    DEFAULT_ROOTS,
    DEFAULT_WORKSPACE,
    MAX_DEPTH,
    MAX_SYMLINKS,
    NAME_MAX,
    PATH_MAX,
    Operation,
    PathDecision,
    check_path,
    normalize_path,
    resolve_in_root,
    validate_path,
)

__all__ = [
    "DEFAULT_ROOTS",
    "DEFAULT_WORKSPACE",
    "MAX_COMMAND_BYTES",
    "MAX_COMMAND_WORDS",
    "MAX_DEPTH",
    "MAX_NESTING",
    "MAX_SYMLINKS",
    "NAME_MAX",
    "PATH_MAX",
    "CommandDecision",
    "CommandDeniedError",
    "FileTooLargeError",
    "Operation",
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
