"""One bpftrace child process: started from a generated program, its stderr's last lines
kept (they are the reason when it cannot attach: no CAP_SYS_ADMIN, no tracefs, a program
the verifier refuses), and ended. The kernel source reads its stdout; this module only
runs it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Sequence

import structlog

from collectors.kernel import control

log = structlog.get_logger(__name__)

# Per-CPU perf ring of 1,024 pages (4 MiB): ~4,000 execs/s × ~600 bytes × 4 lines is ~10 MB/s,
# so the reader may fall ~0.4 s behind per CPU before the kernel drops a record.
PERF_RB_PAGES = "1024"
# bpftrace prints a handful of lines when it fails (the error, the program line, a hint):
# the last 20 hold the cause; a running tracer prints nothing more.
STDERR_LINES = 20
# The warning bpftrace prints at every start here (BPF memory is charged to the cgroup on
# kernels >= 5.11, so the limit does not matter): never the reason for a failure.
HARMLESS = "RLIMIT_MEMLOCK"
REASON_LINES = 3
# The stdout pipe: 1 MiB holds ~0.7 s of the fastest exec loop's lines (~1.5 MB/s), so the
# reader's naps (source.READ_COALESCE_S) never make the tracer wait on a full pipe.
PIPE_BYTES = 1 << 20


class Tracer:
    """``Tracer(bpftrace, program, prefix=())``: started at once; ``attached``/``ended`` are
    set by whoever reads its stdout; ``why()`` says why it ended."""

    def __init__(self, bpftrace: str, program: str, *, prefix: Sequence[str] = ()) -> None:
        env = {**os.environ, "BPFTRACE_PERF_RB_PAGES": PERF_RB_PAGES}
        # From a file: bpftrace 0.17 given the same text with -e never ran the prctl probe here.
        with tempfile.NamedTemporaryFile("w", prefix="sandguard-kernel-", suffix=".bt", delete=False) as f:
            f.write(program)
        self.script = f.name
        self.handle = subprocess.Popen(
            [*prefix, bpftrace, "--unsafe", "-f", "json", self.script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=control.die_with_parent,  # noqa: PLW1509 - one prctl, no locks taken
        )
        self._grow_pipe()
        self.attached = threading.Event()
        self.ended = threading.Event()
        self._err: deque[str] = deque(maxlen=STDERR_LINES)
        self._err_thread = threading.Thread(target=self._read_stderr, name="kernel-stderr", daemon=True)
        self._err_thread.start()

    def _grow_pipe(self) -> None:
        assert self.handle.stdout is not None
        try:
            fcntl.fcntl(self.handle.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError as exc:  # the 64 KiB default still works: the tracer may wait on it
            log.warning("kernel_tracer_pipe_not_grown", error=str(exc))

    @property
    def pid(self) -> int:
        return self.handle.pid

    def forget_script(self) -> None:
        """The program file is read once bpftrace attached (or ended)."""
        try:
            os.unlink(self.script)
        except FileNotFoundError:
            return

    def _read_stderr(self) -> None:
        assert self.handle.stderr is not None
        for raw in self.handle.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._err.append(line)

    def why(self) -> str:
        """The exit status and the last lines bpftrace printed (the warning it always prints left out)."""
        self._err_thread.join(1.0)
        code = self.handle.poll()
        lines = [line for line in self._err if HARMLESS not in line][-REASON_LINES:]
        status = "still running" if code is None else f"exit status {code}"
        return f"{status}: {' | '.join(lines)}" if lines else status

    def end(self, timeout_s: float) -> None:
        """Terminates it (SIGKILL after ``timeout_s``); blocking. ``close()`` once its stdout
        reader returned."""
        if self.handle.poll() is None:
            self.handle.terminate()
            try:
                self.handle.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.handle.kill()
                self.handle.wait()
        self.forget_script()
        self._err_thread.join(timeout_s)

    def close(self) -> None:
        for pipe in (self.handle.stdout, self.handle.stderr):
            if pipe is not None:
                pipe.close()
