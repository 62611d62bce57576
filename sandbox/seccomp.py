"""The project's seccomp profile: the engine's default minus what upstream has since removed.

``seccomp.json`` is Docker 20.10's profiles/seccomp/default.json (Debian's docker.io
source) without io_uring_setup, io_uring_enter and io_uring_register: a ring performs
reads, writes, opens and connects that seccomp never sees, and moby#46762 removed them
from the default (Docker 25). The engine takes the profile's JSON text in SecurityOpt.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

BLOCKED_SYSCALLS = ("io_uring_setup", "io_uring_enter", "io_uring_register")


@functools.cache
def profile_json() -> str:
    """The profile, compact; a syscall of BLOCKED_SYSCALLS in it is a packaging error."""
    profile = json.loads(resources.files("sandbox").joinpath("seccomp.json").read_text())
    allowed = {name for rule in profile["syscalls"] for name in rule["names"]}
    leaked = allowed.intersection(BLOCKED_SYSCALLS)
    if leaked:
        raise RuntimeError(f"sandbox/seccomp.json allows {sorted(leaked)}")
    return json.dumps(profile, separators=(",", ":"))


def security_option() -> str:
    """The SecurityOpt entry that applies the profile."""
    return f"seccomp={profile_json()}"
