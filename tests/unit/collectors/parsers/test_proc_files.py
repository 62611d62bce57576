"""Every /proc file the collector reads, parsed from files recorded on this host."""

from __future__ import annotations

import pytest

from collectors.parsers import (
    parse_btime,
    parse_cmdline,
    parse_mountinfo,
    parse_nofile,
    parse_proc_cgroup,
    parse_proc_stat,
    parse_proc_status,
    parse_sockstat,
    parse_sockstat6,
    parse_tcp_states,
)
from tests.unit.collectors.conftest import BOOT_S, TESTDATA, V1_ID, V2_ID

PROC = TESTDATA / "v1_cgroupfs" / "proc"


def test_stat_of_the_init_process() -> None:
    st = parse_proc_stat((PROC / "4487/stat").read_bytes())
    assert (st.comm, st.state, st.ppid, st.starttime_ticks) == ("python3", "S", 4464, 110470)
    assert all(st.image)  # code, stack and argv addresses of a live user process


def test_stat_comm_with_spaces_and_parentheses() -> None:
    line = (
        b"77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0 1 2 3" + b" 0" * 17 + b" 8 9 0 0 0\n"
    )
    st = parse_proc_stat(line)
    assert (st.comm, st.state, st.ppid, st.starttime_ticks) == ("a) b (c", "R", 1, 5)


def test_zombie_stat_has_no_image() -> None:
    line = b"90 (sh) Z 1 90 90 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 8 0 0 18446744073709551615" + b" 0" * 30
    st = parse_proc_stat(line + b"\n")
    assert st.state == "Z" and st.image == (0, 0, 0, 0, 0)


def test_status_gives_effective_uid_and_namespace_pid() -> None:
    assert parse_proc_status((PROC / "4518/status").read_bytes()) == (1000, 7)
    assert parse_proc_status(b"Name:\tx\nUid:\t1000\t0\t0\t0\n") == (0, None)  # setuid: euid 0
    with pytest.raises(ValueError):
        parse_proc_status(b"Name:\tx\n")


def test_cmdline() -> None:
    argv, truncated = parse_cmdline((PROC / "4518/cmdline").read_bytes(), max_args=64, max_bytes=4096)
    assert argv == ("sleep", "1000") and not truncated
    assert parse_cmdline(b"", max_args=64, max_bytes=4096) == ((), False)  # zombie or kernel thread


def test_cmdline_truncation_by_bytes_and_args() -> None:
    assert parse_cmdline(b"abcdef", max_args=64, max_bytes=4) == (("abcd",), True)
    assert parse_cmdline(b"a\0b\0c\0", max_args=2, max_bytes=4096) == (("a", "b"), True)
    assert parse_cmdline(b"\xff\0", max_args=2, max_bytes=4096) == (("\\xff",), False)


def test_limits_nofile() -> None:
    assert parse_nofile((PROC / "4487/limits").read_bytes()) == (1024, 2048)
    text = (
        b"Limit Soft Hard Units\nMax open files            unlimited            unlimited            files\n"
    )
    assert parse_nofile(text) == (None, None)


def test_sockstat_of_the_container_namespace() -> None:
    # 1 listener + 3 client + 3 accepted sockets, and one UDP socket.
    assert parse_sockstat((PROC / "4487/net/sockstat").read_bytes()) == (7, 0, 0, 1, 0)
    assert parse_sockstat6((PROC / "4487/net/sockstat6").read_bytes()) == (0, 0, 0)


def test_tcp_states() -> None:
    states = parse_tcp_states((PROC / "4487/net/tcp").read_bytes())
    assert states == {"listen": 1, "established": 6}
    assert parse_tcp_states((PROC / "4487/net/tcp6").read_bytes()) == {}


def test_proc_cgroup_v1_and_v2() -> None:
    v1 = parse_proc_cgroup((PROC / "4487/cgroup").read_bytes())
    memory = next(e for e in v1 if "memory" in e.controllers)
    assert memory.path == f"/docker/{V1_ID}"
    v2 = parse_proc_cgroup((TESTDATA / "v2_systemd/proc/4487/cgroup").read_bytes())
    assert v2 == [(0, (), f"/system.slice/docker-{V2_ID}.scope")]


def test_mountinfo_cgroup_mounts() -> None:
    mounts = parse_mountinfo((TESTDATA / "v1_systemd/proc/self/mountinfo").read_bytes())
    by_point = {m.mount_point: m for m in mounts}
    assert "cpu" in by_point["/sys/fs/cgroup/cpu,cpuacct"].options
    assert "cpuacct" in by_point["/sys/fs/cgroup/cpu,cpuacct"].options
    assert by_point["/sys/fs/cgroup/unified"].version == 2
    assert "/sys/fs/cgroup" not in by_point  # the tmpfs holding them is not a cgroup mount


def test_mountinfo_escapes_and_namespace_root() -> None:
    line = b"40 31 0:36 /docker/abc /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids\n"
    (m,) = parse_mountinfo(line)
    assert (m.mount_point, m.root, m.version) == ("/sys/fs/cgroup/my pids", "/docker/abc", 1)


def test_btime() -> None:
    assert parse_btime((PROC / "stat").read_bytes()) == BOOT_S
    with pytest.raises(ValueError):
        parse_btime(b"cpu 1 2 3\n")
