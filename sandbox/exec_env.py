"""Environment variables an exec may be given. Pure.

Command validation judges the command line as text; a variable that changes how that
text runs would undo the judgement: PATH decides what a command name runs, IFS how
``sh -c`` splits words, ENV and BASH_ENV make the shell source a file first, LD_* make
the loader inject code. Those are refused, and so is our own exec token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sandbox.exceptions import EnvironmentDeniedError
from sandbox.validation.variables import UNSAFE_PREFIXES, UNSAFE_VARIABLES

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# What command validation refuses to let a command line set, and more: a variable given to
# the exec is in force before the first word is read (IFS, CDPATH, GLOBIGNORE change how
# the validated text runs; HOSTALIASES redirects what its programs resolve).
DENIED_NAMES = UNSAFE_VARIABLES | {"IFS", "CDPATH", "GLOBIGNORE", "HOSTALIASES"}
DENIED_PREFIXES = (*UNSAFE_PREFIXES, "SANDGUARD_")
# 256 variables and 64 KiB in all: generous for configuration, far under ARG_MAX (2 MiB).
MAX_VARS = 256
MAX_BYTES = 64 * 1024


def check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The variables, or EnvironmentDeniedError naming the first refused one and why."""
    if not env:
        return {}
    if len(env) > MAX_VARS:
        raise EnvironmentDeniedError("(environment)", f"{len(env)} variables; at most {MAX_VARS}")
    total = 0
    for name, value in env.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise EnvironmentDeniedError(str(name), "not a valid variable name")
        if not isinstance(value, str) or "\0" in value:
            raise EnvironmentDeniedError(name, "value must be a string without NUL bytes")
        if name in DENIED_NAMES or name.startswith(DENIED_PREFIXES):
            raise EnvironmentDeniedError(name, "it would change how the validated command runs")
        try:
            encoded = value.encode()
        except UnicodeEncodeError as exc:
            raise EnvironmentDeniedError(name, "value is not valid Unicode text (a lone surrogate)") from exc
        total += len(name) + len(encoded) + 2
    if total > MAX_BYTES:
        raise EnvironmentDeniedError("(environment)", f"{total} bytes; at most {MAX_BYTES}")
    return dict(env)
