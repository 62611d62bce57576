"""The variables no command line and no exec environment may set: defined once, in
``common.commandline.variables`` (the analyser refuses them); re-exported for the exec
environment check (sandbox.exec_env)."""

from common.commandline.variables import UNSAFE_PREFIXES, UNSAFE_VARIABLES, unsafe_variable_reason

__all__ = ["UNSAFE_PREFIXES", "UNSAFE_VARIABLES", "unsafe_variable_reason"]
