"""The variables no command line and no exec environment may set: defined once. Pure.

Each decides which program a name runs, injects code into a shell or a program, or
makes a program run a command named in it. Command validation refuses them in every
assigning form (``NAME=``, ``export``, ``read``, ``${NAME:=...}``...); the exec
environment check (sandbox.exec_env) refuses the same names and a few more.
"""

from __future__ import annotations

UNSAFE_VARIABLES = frozenset({
    # which program a name runs
    "PATH", "BASH_CMDS", "BASH_ALIASES", "EXECIGNORE",
    # code a shell runs or loads before or around the command
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "BASH_LOADABLES_PATH",
    "TEXTDOMAIN", "TEXTDOMAINDIR",
    # the shell or command other programs start: flock -c, script -c and su run $SHELL,
    # tar reads options (--to-command) from TAR_OPTIONS, less pipes files through
    # LESSOPEN, apt loads hooks from APT_CONFIG, iconv loads modules from GCONV_PATH
    "SHELL", "TAR_OPTIONS", "LESSOPEN", "LESSCLOSE", "APT_CONFIG", "GCONV_PATH",
    # the command a program runs for you: zmore, xzmore and lzmore run $PAGER through the
    # shell, bashbug and vipw $EDITOR or $VISUAL, man $MANPAGER
    "PAGER", "MANPAGER", "EDITOR", "VISUAL",
})  # fmt: skip
UNSAFE_PREFIXES = ("LD_", "BASH_FUNC_")


def unsafe_variable_reason(name: str) -> str | None:
    """Why setting this variable is refused, or None when it is harmless."""
    if name in UNSAFE_VARIABLES or name.startswith(UNSAFE_PREFIXES):
        return f"setting {name} changes which program runs or injects code into it"
    if "[" in name:
        return f"the subscript of {name} is evaluated as arithmetic, which can run commands"
    return None
