"""Shapes shared by many kernel files: one integer, "max" or an integer, flat keyed lists."""

from __future__ import annotations


def parse_int(data: bytes) -> int:
    """A file holding one integer (memory.usage_in_bytes, pids.current, ...)."""
    return int(data)


def parse_max(data: bytes) -> int | None:
    """``max`` (no limit: None) or an integer (pids.max, memory.max, memory.swap.max)."""
    text = data.strip()
    return None if text == b"max" else int(text)


def flat_value(data: bytes, key: bytes) -> int | None:
    """The value of ``key`` in a flat keyed file (``key value`` per line), None when absent.

    Searches instead of building a dict: memory.stat has ~40 lines and is read every
    second per container; a find is a few hundred ns, a dict of 40 entries ~8 µs.
    """
    needle = key + b" "
    at = data.find(needle)
    while at > 0 and data[at - 1] != 0x0A:  # must start a line: "inactive_file" != "total_inactive_file"
        at = data.find(needle, at + 1)
    if at < 0:
        return None
    end = data.find(b"\n", at)
    return int(data[at + len(needle) : end if end >= 0 else len(data)])


def working_set(usage: int, inactive_file: int | None) -> int:
    """What the kernel cannot reclaim without I/O: usage less inactive page cache (as cAdvisor)."""
    return max(0, usage - (inactive_file or 0))


def parse_pid_list(data: bytes) -> list[int]:
    """cgroup.procs: one pid per line; v1 may repeat pids and does not sort, so dedupe in order."""
    if not data:
        return []
    return list(dict.fromkeys(int(p) for p in data.split()))
