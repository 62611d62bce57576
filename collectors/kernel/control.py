"""Updates the tracer's maps from the collector: a ``prctl`` with an option no kernel knows.

The tracer's prctl probe runs inside the syscall, before it returns: when ``prctl``
returns, the map is updated and the very next exec in that namespace is judged by it.
That is what lets a sandbox be covered before its first command without restarting the
tracer. Only the collector's own pid is accepted (the program is generated with it), so
no process in a sandbox can change the maps. The kernel answers EINVAL, which is expected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal

from collectors.kernel import program as P

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


def _call(op: int, a: int, b: int = 0) -> None:
    _prctl(P.MAGIC, op, a, b, 0)


def _with_name(op: int, ns: int, name: str) -> None:
    raw = name.encode("utf-8", errors="replace")[: P.NAME_LEN - 1]
    cbuf = ctypes.create_string_buffer(raw, P.NAME_LEN)
    _call(op, ns, ctypes.addressof(cbuf))


def watch(ns: int, *, enforce: bool, no_memfd: bool = True) -> None:
    mode = P.MODE_ENFORCE if enforce else P.MODE_AUDIT
    _call(P.OP_WATCH, ns, mode | (P.FLAG_NO_MEMFD if no_memfd else 0))


def unwatch(ns: int) -> None:
    _call(P.OP_UNWATCH, ns)


def block(ns: int, name: str) -> None:
    _with_name(P.OP_BLOCK, ns, name)


def unblock(ns: int, name: str) -> None:
    _with_name(P.OP_UNBLOCK, ns, name)


def net(netns: int, ns: int) -> None:
    """TCP state changes of sockets in ``netns`` belong to the sandbox of mount ns ``ns``."""
    _call(P.OP_NET, netns, ns)


def unnet(netns: int) -> None:
    _call(P.OP_UNNET, netns)


def ping(seq: int) -> None:
    """Echoed by the tracer as ``A 5 <seq> 0``: proves its probe is attached and reading."""
    _call(P.OP_PING, seq)


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the tracer's child before exec: SIGKILL when the collector (the thread that
    started it) ends. A tracer outliving its collector keeps killing by stale maps in
    mount namespaces whose numbers the kernel reuses for new sandboxes."""
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
