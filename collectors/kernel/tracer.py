"""One loader child process (bpf/loader.c: the BPF program loaded and attached, its
records on stdout): started, its stderr's last lines kept (they are the reason when it
cannot attach: no CAP_BPF, no tracefs, a program the verifier refuses), and ended. The
kernel source reads its stdout; this module only runs it."""

from __future__ import annotations

import fcntl
import subprocess
import threading
from collections import deque
from collections.abc import Sequence

import structlog

from collectors.kernel import control
from collectors.kernel.records import Hello

log = structlog.get_logger(__name__)

# libbpf prints a handful of lines when it fails (the verifier's last words, the error):
# the last 40 hold the cause; a running loader prints nothing more.
STDERR_LINES = 40
# What the loader says when an LSM hook cannot be had (then it runs without): said in
# health through HELLO, never the reason for a failure. Nor libbpf's hint about memlock.
HARMLESS = ("lsm hook", "with lsm hooks", "prog 'bprm_check'", "prog 'mmap_file'", "prog 'file_mprotect'",
            "ulimit -l", "failed to load object", "failed to load BPF skeleton")  # fmt: skip
REASON_LINES = 3
# The stdout pipe: 1 MiB (the most /proc/sys/fs/pipe-max-size allows by default) holds
# ~0.2 s of the fastest exec loop's records (2,000/s x 2.4 KiB), more than the reader's
# naps (source.READ_COALESCE_S); the loader waits on a full pipe, never drops: the
# kernel's 16 MiB ring buffer behind it holds ~3 s more.
PIPE_BYTES = 1 << 20


class Tracer:
    """``Tracer(loader, collector_pid, prefix=())``: started at once; ``attached``/``ended``
    are set by whoever reads its stdout; ``why()`` says why it ended."""

    def __init__(self, loader: str, collector_pid: int, *, prefix: Sequence[str] = ()) -> None:
        self.handle = subprocess.Popen(
            [*prefix, loader, str(collector_pid)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=control.die_with_parent,  # noqa: PLW1509 - one prctl, no locks taken
        )
        self._grow_pipe()
        self.hello: Hello | None = None  # its first record: the LSM hooks it attached
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

    def _read_stderr(self) -> None:
        assert self.handle.stderr is not None
        for raw in self.handle.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._err.append(line)

    def why(self) -> str:
        """The exit status and the last lines the loader printed (what it says of LSM hooks left out)."""
        self._err_thread.join(1.0)
        code = self.handle.poll()
        lines = [line for line in self._err if not any(h in line for h in HARMLESS)][-REASON_LINES:]
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
        self._err_thread.join(timeout_s)

    def close(self) -> None:
        for pipe in (self.handle.stdout, self.handle.stderr):
            if pipe is not None:
                pipe.close()
