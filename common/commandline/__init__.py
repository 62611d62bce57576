"""The command-line analyser: which programs a shell command line or an argv would run.

Defined once, here, for both lines of defence: the sandbox validates a command with the
strict ``analyse`` before it runs (and applies its policy to the words), and the
processors judge what already runs (``docker exec`` command lines, process argv) with the
lenient ``command_programs``. Pure: it imports nothing of ours but ``common`` itself.
"""

from common.commandline.analysis import (
    CACHE_SIZE,
    CACHEABLE_BYTES,
    MAX_COMMAND_BYTES,
    MAX_COMMAND_WORDS,
    MAX_NESTING,
    Analysis,
    Command,
    Unresolved,
    analyse,
    clear_caches,
    command_programs,
)
from common.commandline.variables import UNSAFE_PREFIXES, UNSAFE_VARIABLES, unsafe_variable_reason

__all__ = [
    "CACHEABLE_BYTES",
    "CACHE_SIZE",
    "MAX_COMMAND_BYTES",
    "MAX_COMMAND_WORDS",
    "MAX_NESTING",
    "UNSAFE_PREFIXES",
    "UNSAFE_VARIABLES",
    "Analysis",
    "Command",
    "Unresolved",
    "analyse",
    "clear_caches",
    "command_programs",
    "unsafe_variable_reason",
]
