"""The exec gate: what ``create_sandbox`` waits for before it returns a new sandbox, so no
command runs in it before the kernel layer watches it (its blocked programs in the
tracer's maps). Embedded, the pipeline in this process answers; on Kafka, the collector's
``kernel_covered`` audit event does (sandguard.coverage). Not covered in time: policy mode
enforce refuses the sandbox (KernelCoverageError, audited), audit mode warns and goes on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Coverage:
    """The gate's answer for one new sandbox."""

    covered: bool
    mode: str = ""  # the kernel layer's mode in force: bpf, proc_connector, off ('' unknown)
    reason: str = ""  # why it is not covered


ExecGate = Callable[[str], Awaitable[Coverage]]
