"""One sandbox: a hardened container, its operations, and what the manager knows of it.

Every operation is validated first (a denial raises a PermissionError and leaves an
audit event), refused with the reason if the sandbox is terminated, expired or paused,
and audited when done. Commands run through the exec runner; files move from the host
on the storage behind /work and /tmp (sandbox.hostfs), never through a shell or the
engine's archive API (which follows links as root).
"""

from __future__ import annotations

import asyncio
import errno
import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn, TypeVar

import structlog

from sandbox import arguments, audit, hostfs
from sandbox.config import WORKSPACE
from sandbox.engine import Engine
from sandbox.exceptions import (
    FileTooLargeError,
    InvalidSandboxRequest,
    PathDeniedError,
    SandboxFileError,
    SandboxFileNotFound,
    SandboxOperationError,
    ValidationDenied,
    WorkspaceFullError,
)
from sandbox.exec_env import check_env
from sandbox.execution import ExecOutcome, ExecRequest, shell_argv
from sandbox.firewall import SandboxRules
from sandbox.paths import CheckedPath
from sandbox.port import ContainerMissing, EngineError
from sandbox.record import (
    SIGKILL_EXIT,
    SandboxRecord,
    denial_violation,
    observe_pause,
    observe_stop,
    unusable,
)
from sandbox.results import ExecResult, FileInfo, SandboxStatus, utc_now
from sandbox.validation import Operation, check_command, validate_command
from sandbox.workspace import Workspace
from sandbox.workspace import release as release_workspace
from schemas import AuditCategory, SecurityPolicy
from schemas.policy import MIB

log = structlog.get_logger(__name__)
T = TypeVar("T")

FILE_MODE = 0o644
# What one read_file may hold in the manager's memory, whatever max_file_size_mb allows: a
# sandbox makes a 10 GB sparse file in an instant, and one manager serves every sandbox.
MAX_READ_BYTES = 256 * MIB
# Permission bits only: set-uid (0o4000), set-gid (0o2000) and sticky (0o1000) are refused.
PERMISSION_BITS = 0o777
MAX_FILE_MODE = 0o7777
# A command may not be given more than a day; the sandbox's lifetime bounds it anyway.
MAX_EXEC_TIMEOUT_S = 24 * 3600
# A command started at the end of a sandbox's life gets what is left, plus this margin
# for the engine to stop the container (then the sandbox reports itself expired).
LIFETIME_MARGIN_S = 1.0
_STATE_ERRORS = (404, 409)
# Another removal of the same container (the enforcer's) finishes in well under a second
# here; 100 polls of 0.1 s give it 10 s on a loaded engine.
REMOVAL_WAIT_POLLS = 100
REMOVAL_WAIT_POLL_S = 0.1
# A killed command's sandbox is watched this long for a stop (5 × 100 ms: the engine
# reports a stop within ~200 ms on a loaded host).
SETTLE_POLLS = 5
SETTLE_POLL_S = 0.1  # no such container; not running or paused
# The kind of HostFileError for a write the workspace had no room for (ENOSPC).
NO_SPACE = "no_space"


def parse_docker_time(text: str) -> datetime:
    """Engine timestamps carry nanoseconds, which datetime does not."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}").replace(tzinfo=UTC)


class DockerSandbox:
    def __init__(
        self,
        record: SandboxRecord,
        engine: Engine,
        rules: SandboxRules | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        self.record = record
        self._engine = engine
        self.rules = rules
        self.workspace = workspace

    @property
    def id(self) -> str:
        return self.record.sandbox_id

    @property
    def policy(self) -> SecurityPolicy:
        return self.record.policy

    @property
    def status(self) -> SandboxStatus:
        return self.record.status

    # --- state ------------------------------------------------------------------

    def ensure_usable(self) -> None:
        """Raises the reason this sandbox cannot run anything now (nothing when it can)."""
        refusal = unusable(self.record)
        if refusal is not None:
            raise refusal

    async def refresh(self) -> None:
        """Asks the engine how the container is (after an operation failed on its state)."""
        try:
            info = await self._engine.port.inspect(self.id)
        except ContainerMissing:
            observe_stop(self.record, at=utc_now(), exit_code=None, removed=True)
            return
        state = info["State"]
        if state.get("Paused"):
            observe_pause(self.record, at=utc_now(), paused=True)
        elif not state.get("Running"):
            observe_stop(
                self.record,
                at=parse_docker_time(state["FinishedAt"]),
                exit_code=state.get("ExitCode"),
                oom_killed=bool(state.get("OOMKilled")),
            )

    async def _state_failure(self, operation: str, status: int | None, message: str) -> NoReturn:
        if status in _STATE_ERRORS:
            await self.refresh()
            self.ensure_usable()
        raise SandboxOperationError(self.id, operation, message)

    # --- commands ---------------------------------------------------------------

    async def execute(
        self,
        command: str | Sequence[str],
        timeout: float | None = None,  # noqa: ASYNC109 - bounds the command in the sandbox, not this call
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
    ) -> ExecResult:
        """Runs a shell command line (a string) or an argv (a sequence) as the sandbox user."""
        self.ensure_usable()
        command = arguments.command(command)
        env = arguments.env(env)
        workdir = None if workdir is None else arguments.path(workdir, "workdir")
        text = command if isinstance(command, str) else shlex.join(command)
        asked = self._engine.options.exec_timeout if timeout is None else float(timeout)
        seconds = self._timeout(asked)
        try:
            links, scripts = await self._storage_facts(command, workdir)
            validate_command(command, self.policy, links=links, scripts=scripts)
            variables = check_env(env)
        except ValidationDenied as err:
            await self._deny(AuditCategory.EXEC, "exec", text, err, _denial_details(err))
            raise
        cwd = WORKSPACE if workdir is None else (await self._checked(workdir, "list", action="exec")).resolved
        request = ExecRequest(shell_argv(command), variables, cwd, seconds, self._engine.options.output_limit)
        try:
            outcome = await self._engine.runner.run(self.id, request)
        except EngineError as exc:
            await self._state_failure("exec", exc.status, exc.message)
        result = self._result(text, seconds, outcome)
        await self._done_exec(text, result)
        # Killed, and not by its own timeout (unless the lifetime cut that timeout short)?
        if outcome.exit_code in (None, SIGKILL_EXIT) and (not outcome.timed_out or seconds < asked):
            await self._settle()  # ended with its sandbox? then say so, not "exit 137"
        return result

    async def _storage_facts(
        self, command: str | Sequence[str], workdir: str | None = None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Only after validation refused for that reason: which command paths in /work or
        /tmp (possible links) lead to a program of the image, then the content of the
        script file a shell runs, for validation to judge those. Nothing is read on the
        storage for any other command."""
        links: dict[str, str] = {}
        decision = check_command(command, self.policy)
        try:
            if decision.linked_paths:
                links = await self._engine.paths.program_links(self.id, decision.linked_paths)
                decision = check_command(command, self.policy, links=links)
            cwd = WORKSPACE if workdir is None else workdir
            wanted = {p: posixpath.normpath(posixpath.join(cwd, p)) for p in decision.script_paths}
            return links, await self._engine.paths.script_files(self.id, self.policy, wanted)
        except EngineError as exc:  # no mounts to read: the paths stay refused
            log.info("command_paths.unresolved", sandbox=self.id[:12], reason=exc.message)
            return links, {}

    async def _settle(self) -> None:
        """After a command was killed: if its sandbox is stopping, raise why. The engine
        closes an exec's stream a moment before it reports the container stopped."""
        for _ in range(SETTLE_POLLS):
            await self.refresh()
            self.ensure_usable()
            await asyncio.sleep(SETTLE_POLL_S)

    def _timeout(self, seconds: float) -> float:
        """The command's time: what was asked, cut to what is left of the sandbox's life."""
        if not 0 < seconds <= MAX_EXEC_TIMEOUT_S:
            raise InvalidSandboxRequest("timeout", f"{seconds} is not in (0, {MAX_EXEC_TIMEOUT_S}] seconds")
        left = (self.record.expires_at - utc_now()).total_seconds() + LIFETIME_MARGIN_S
        return max(0.001, min(seconds, left))

    def _result(self, text: str, seconds: float, outcome: ExecOutcome) -> ExecResult:
        out, err = outcome.output.stdout, outcome.output.stderr
        return ExecResult(
            sandbox_id=self.id,
            command=text,
            exit_code=outcome.exit_code,
            stdout=out.text(),
            stderr=err.text(),
            timed_out=outcome.timed_out,
            timeout=seconds,
            duration_ms=outcome.duration_ms,
            output_limit=out.limit,
            stdout_bytes=out.total,
            stderr_bytes=err.total,
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            killed_processes=outcome.killed,
        )

    async def _done_exec(self, text: str, result: ExecResult) -> None:
        self.record.execs += 1
        self._engine.totals["execs"] += 1
        outcome = "timeout" if result.timed_out else "ok"
        self._engine.metrics.operations.labels("exec", outcome).inc()
        self._engine.metrics.exec_seconds.observe(result.duration_ms / 1000)
        await self._engine.publisher.audit(
            audit.exec_allowed(self.id, self._engine.options.host, text, result, self.policy.policy_id)
        )

    async def check_command(self, command: str | Sequence[str]) -> bool:
        """Would this command be allowed? No event: a question is not an attempt."""
        links, scripts = await self._storage_facts(command)
        return check_command(command, self.policy, links=links, scripts=scripts).allowed

    # --- files ------------------------------------------------------------------

    async def write_file(self, path: str, data: bytes | str, *, mode: int = FILE_MODE) -> str:
        """Writes (replaces) a file; missing directories are made. Returns the path written."""
        self.ensure_usable()
        path = arguments.path(path)
        payload = arguments.data(data)
        await self._check_mode(path, mode)
        checked = await self._checked(path, "write", size=len(payload))
        await self._storage(
            "write", checked, lambda source: hostfs.write_file(source, checked.rel, payload, mode=mode)
        )
        await self._done_file("write", checked, size=len(payload))
        return checked.resolved

    async def _check_mode(self, path: str, mode: int) -> None:
        """A mode is permission bits: anything else is a bad argument, and a set-uid,
        set-gid or sticky bit is a denial (audited), never silently dropped."""
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= MAX_FILE_MODE:
            raise InvalidSandboxRequest("mode", f"{mode!r} is not a file mode (0 to {MAX_FILE_MODE:#o})")
        if mode & ~PERMISSION_BITS:
            err = PathDeniedError(
                path,
                None,
                f"mode {mode:#o} sets the set-uid, set-gid or sticky bit, which the file API never sets",
            )
            await self._deny(AuditCategory.FILE, "write", path, err, _denial_details(err))
            raise err

    async def _no_space(self, checked: CheckedPath) -> None:
        """A write the workspace had no room for: an event in the history, not a kill."""
        self._engine.metrics.operations.labels("write", "no_space").inc()
        await self._engine.publisher.audit(
            audit.file_failed(
                self.id,
                self._engine.options.host,
                "write",
                checked.given,
                policy_id=self.policy.policy_id,
                reason="no space left on device (ENOSPC): the workspace quota is full",
                details={"resolved": checked.resolved, "errno": "ENOSPC"},
            )
        )

    async def read_file(self, path: str) -> bytes:
        self.ensure_usable()
        path = arguments.path(path)
        checked = await self._checked(path, "read")
        limit, _ = self._read_limit()
        data: bytes = await self._storage(
            "read", checked, lambda source: hostfs.read_file(source, checked.rel, max_bytes=limit)
        )
        await self._done_file("read", checked, size=len(data))
        return data

    def _read_limit(self) -> tuple[int, str]:
        """The bytes one read may hold in the manager's memory, and which limit that is."""
        policy_limit = int(self.policy.max_file_size_mb * MIB)
        if policy_limit <= MAX_READ_BYTES:
            return policy_limit, "max_file_size_mb"
        return MAX_READ_BYTES, "the file API's read limit; read bigger files in the sandbox"

    async def list_files(
        self, path: str = WORKSPACE, *, recursive: bool = False, limit: int | None = None
    ) -> list[FileInfo]:
        """Entries of a directory (all below it with ``recursive``), at most ``limit``."""
        self.ensure_usable()
        path = arguments.path(path)
        cap = arguments.limit(limit) or self._engine.options.list_limit
        checked = await self._checked(path, "list")
        entries: list[FileInfo] = await self._storage(
            "list",
            checked,
            lambda source: hostfs.list_dir(
                source, checked.rel, checked.resolved, recursive=recursive, limit=cap
            ),
        )
        await self._done_file("list", checked, entries=len(entries))
        return entries

    async def check_file(self, path: str, operation: Operation = "read") -> bool:
        """Would this path be allowed for the operation (symlinks resolved inside)? No event."""
        path = arguments.path(path)
        try:
            await self._engine.paths.check(self.id, self.policy, path, operation)
        except PathDeniedError:
            return False
        except SandboxFileError:
            return True  # allowed, though not in the shape the operation needs right now
        return True

    async def _checked(
        self, path: str, operation: Operation, *, size: int | None = None, action: str = ""
    ) -> CheckedPath:
        try:
            return await self._engine.paths.check(self.id, self.policy, path, operation, size)
        except PathDeniedError as err:
            category = AuditCategory.EXEC if action == "exec" else AuditCategory.FILE
            await self._deny(category, action or operation, path, err, _denial_details(err))
            raise
        except EngineError as exc:
            await self._state_failure(operation, exc.status, exc.message)

    async def _storage(self, operation: Operation, checked: CheckedPath, fn: Callable[[str], T]) -> T:
        """Runs ``fn(source)`` on the pool, where source is the host directory behind the
        path's root; what the storage refuses becomes the error (or denial) it means."""
        sources = self._engine.paths.sources

        def run() -> T:
            try:
                return fn(sources.source(self.id, checked.root))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                raise hostfs.HostFileError(NO_SPACE, f"{checked.rel}: no space left on device") from exc

        try:
            return await self._engine.call(run)
        except hostfs.HostFileError as exc:
            await self._storage_failure(operation, checked, exc)

    async def _storage_failure(
        self, operation: Operation, checked: CheckedPath, exc: hostfs.HostFileError
    ) -> NoReturn:
        """A link swapped in after the check, a file grown over the limit, a FIFO where a
        file was: refused, as a denial; a missing file or a wrong shape as those errors."""
        given, resolved = checked.given, checked.resolved
        if exc.kind == NO_SPACE or _no_space_cause(exc):
            await self._no_space(checked)
            raise WorkspaceFullError(self.id, resolved) from exc
        if exc.kind == "not_found":
            raise SandboxFileNotFound(given) from exc
        if exc.kind in ("not_dir", "is_dir"):
            raise SandboxFileError(
                given, "is a directory" if exc.kind == "is_dir" else "is not a directory"
            ) from exc
        err: PathDeniedError
        if exc.kind == "too_large":
            limit, source = self._read_limit()
            err = FileTooLargeError(given, resolved, exc.size, limit, source)
        elif exc.kind == "symlink":
            err = PathDeniedError(
                given, resolved, "it changed during the operation: a symbolic link is on the way"
            )
        elif exc.kind == "not_regular":
            err = PathDeniedError(given, resolved, "it is not a regular file")
        else:
            await self.refresh()
            self.ensure_usable()
            raise SandboxOperationError(self.id, operation, str(exc)) from exc
        await self._deny(AuditCategory.FILE, operation, given, err, _denial_details(err))
        raise err from exc

    async def _done_file(self, action: str, checked: CheckedPath, **details: Any) -> None:
        self.record.file_operations += 1
        self._engine.totals["file_operations"] += 1
        self._engine.metrics.operations.labels(action, "ok").inc()
        await self._engine.publisher.audit(
            audit.file_allowed(
                self.id,
                self._engine.options.host,
                action,
                checked.given,
                policy_id=self.policy.policy_id,
                details={"resolved": checked.resolved, **details},
            )
        )

    # --- denials ----------------------------------------------------------------

    async def _deny(
        self,
        category: AuditCategory,
        action: str,
        subject: str,
        err: ValidationDenied,
        details: dict[str, Any],
    ) -> None:
        is_exec = category is AuditCategory.EXEC and not isinstance(err, PathDeniedError)
        kind, rule = ("command", "command.denied") if is_exec else ("file", "file.denied")
        if is_exec:
            self.record.denied_commands += 1
            self._engine.totals["denied_commands"] += 1
        else:
            self.record.denied_file_operations += 1
            self._engine.totals["denied_file_operations"] += 1
        self._engine.totals["violations"] += 1
        self._engine.metrics.denied.labels(kind).inc()
        denial_violation(
            self.record, rule, err.violation_type, {"subject": subject, "reason": err.reason, **details}
        )
        await self._engine.publisher.audit(
            audit.denied(
                self.id,
                self._engine.options.host,
                category=category,
                action=action,
                subject=subject,
                violation_type=err.violation_type,
                reason=err.reason,
                details={"policy_id": self.policy.policy_id, "rule_id": rule, **details},
            )
        )

    # --- removal ----------------------------------------------------------------

    async def remove(self) -> None:
        """Removes the container, its volumes, its workspace storage and its host rules
        (already gone is fine)."""
        self.record.status = SandboxStatus.DESTROYED
        self._engine.paths.sources.forget(self.id)
        await remove_container(self._engine, self.id)
        await self.release_storage()
        await self._engine.networks.detach(self.rules)
        self.rules = None

    async def release_storage(self) -> None:
        """Frees the workspace's loop devices and images once the container is gone (removed
        here, or by the enforcer); a second call finds nothing to free."""
        storage, self.workspace = self.workspace, None
        if storage is not None:
            await self._engine.call(partial(release_workspace, storage))


async def remove_container(engine: Engine, container_id: str) -> None:
    """Force-removes a container with its anonymous volumes. Already gone is fine; a
    removal already in progress (the enforcer terminating it at the same moment: the
    engine answers 409) is waited for, so what follows never races the engine."""
    try:
        await engine.port.remove(container_id)
    except ContainerMissing:
        log.info("sandbox_already_gone", sandbox_id=container_id)
    except EngineError as exc:
        if exc.status != 409 or "in progress" not in exc.message:
            raise
        await _wait_gone(engine, container_id)


async def _wait_gone(engine: Engine, container_id: str) -> None:
    for _ in range(REMOVAL_WAIT_POLLS):
        try:
            await engine.port.inspect(container_id)
        except ContainerMissing:
            return
        await asyncio.sleep(REMOVAL_WAIT_POLL_S)
    log.warning("sandbox_removal_still_in_progress", sandbox_id=container_id)


def _no_space_cause(exc: BaseException) -> bool:
    """Was the storage's refusal, at its root, ENOSPC (a file or directory made on a full disk)?"""
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno == errno.ENOSPC


def _denial_details(err: ValidationDenied) -> dict[str, Any]:
    details: dict[str, Any] = {"error": type(err).__name__}
    for name in ("word", "normalized", "target", "size", "limit", "name"):
        value = getattr(err, name, None)
        if value is not None:
            details[name] = value
    return details
