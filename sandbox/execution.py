"""One command run in a sandbox: create the exec, stream its output, bound it in time.

The stream is read on the event loop (the port's ``exec_start``). When the timeout strikes,
every process of the sandbox but its init, its lifetime timer and the other running
execs' is killed from the host (sandbox.proctree): what the command hid from its tree
goes too. The rest of the output is drained for a moment, and the stream is closed
whatever happens. A cancelled caller kills the command the same way, so no command
outlives the task that ran it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import structlog

from sandbox.config import SANDBOX_USER
from sandbox.output import ExecOutput
from sandbox.port import ExecSpec, ExecStream, SandboxEngine
from sandbox.proctree import TOKEN_VAR, ProcTable, kill_exec

log = structlog.get_logger(__name__)

# After the kill, what is still in the pipe is read for this long, then the stream is cut
# (a process that escaped the kill may hold it open).
DRAIN_GRACE_S = 2.0
# The engine may close the stream a moment before it records the exit code: poll this
# often, this many times (10 × 20 ms = 200 ms at most).
EXIT_POLL_S = 0.02
EXIT_POLLS = 10


@dataclass(frozen=True, slots=True)
class ExecRequest:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    workdir: str
    timeout: float
    output_limit: int


@dataclass(frozen=True, slots=True)
class ExecOutcome:
    exit_code: int | None
    output: ExecOutput
    timed_out: bool
    duration_ms: float
    killed: int


class ExecRunner:
    def __init__(self, port: SandboxEngine, *, executor: Executor, proc: ProcTable | None = None) -> None:
        self._port = port
        self._executor = executor
        self._proc = proc or ProcTable()

    async def run(self, container_id: str, req: ExecRequest) -> ExecOutcome:
        """Raises sandbox.port.EngineError when the engine refuses the exec (for a
        stopped, paused or missing container: the caller maps it to the sandbox's state)."""
        token = secrets.token_hex(8)
        started = time.monotonic()
        exec_id = await self._create(container_id, req, token)
        output = ExecOutput(req.output_limit)
        timed_out, killed = False, 0
        async with self._port.exec_start(exec_id) as stream:
            try:
                async with asyncio.timeout(req.timeout):
                    await _pump(stream, output)
            except TimeoutError:
                timed_out = True
                killed = await self._kill(container_id, exec_id, token)
                await _drain(stream, output)
            except asyncio.CancelledError:
                await asyncio.shield(self._kill(container_id, exec_id, token))
                raise
        exit_code = await self._exit_code(exec_id)
        return ExecOutcome(exit_code, output, timed_out, (time.monotonic() - started) * 1000, killed)

    async def _create(self, container_id: str, req: ExecRequest, token: str) -> str:
        env = (*(f"{k}={v}" for k, v in req.env.items()), f"{TOKEN_VAR}={token}")
        return await self._port.exec_create(container_id, ExecSpec(req.argv, env, req.workdir, SANDBOX_USER))

    async def _exit_code(self, exec_id: str) -> int | None:
        for _ in range(EXIT_POLLS):
            state = await self._port.exec_inspect(exec_id)
            if not state.get("Running"):
                code = state.get("ExitCode")
                return int(code) if code is not None else None
            await asyncio.sleep(EXIT_POLL_S)
        return None

    async def _kill(self, container_id: str, exec_id: str, token: str) -> int:
        """Kills the exec's processes; returns how many. Failures are logged, never raised:
        the stream is cut anyway and the sandbox's lifetime bounds what survives."""
        try:
            state = await self._port.exec_inspect(exec_id)
            info = await self._port.inspect(container_id)
            root_pid = int(state.get("Pid") or 0) or None
            ns_pid = int(info["State"]["Pid"])
            if not ns_pid:
                return 0  # the container stopped: its processes are gone with it
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, lambda: kill_exec(self._proc, ns_pid=ns_pid, root_pid=root_pid, token=token)
            )
        except Exception as exc:
            log.exception("exec_kill_failed", container_id=container_id, exec_id=exec_id, error=str(exc))
            return 0


async def _pump(stream: ExecStream, output: ExecOutput) -> None:
    while frame := await stream.read():
        output.add(*frame)


async def _drain(stream: ExecStream, output: ExecOutput) -> None:
    try:
        async with asyncio.timeout(DRAIN_GRACE_S):
            await _pump(stream, output)
    except TimeoutError:
        log.warning("exec_stream_held_open_after_kill")


def shell_argv(command: str | Sequence[str]) -> tuple[str, ...]:
    """A string is a shell command line (validated as one); a sequence is an argv, run as is."""
    if isinstance(command, str):
        return ("/bin/sh", "-c", command)
    return tuple(command)
