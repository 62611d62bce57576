"""Pure parsers, one per kernel file: bytes in, plain values out, no I/O.

Each is tested against files recorded from real cgroup v1 and v2 hosts
(tests/unit/collectors/testdata/). They accept ``bytes`` exactly as read, trailing
newline included, and raise ``ValueError`` on text that is not the kernel's format.
"""

from collectors.parsers.cgroup_v1 import (
    CpuStatV1,
    parse_cfs_quota,
    parse_cpu_stat_v1,
    parse_cpuacct_usage,
    parse_limit_v1,
    parse_oom_kills_v1,
)
from collectors.parsers.cgroup_v2 import (
    CpuStatV2,
    MemoryEventsV2,
    parse_cpu_max,
    parse_cpu_stat_v2,
    parse_memory_events,
)
from collectors.parsers.common import (
    flat_value,
    parse_int,
    parse_max,
    parse_pid_list,
    working_set,
)
from collectors.parsers.proc import (
    CgroupEntry,
    CgroupMount,
    ProcStat,
    ProcStatus,
    SockStat,
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

__all__ = [
    "CgroupEntry",
    "CgroupMount",
    "CpuStatV1",
    "CpuStatV2",
    "MemoryEventsV2",
    "ProcStat",
    "ProcStatus",
    "SockStat",
    "flat_value",
    "parse_btime",
    "parse_cfs_quota",
    "parse_cmdline",
    "parse_cpu_max",
    "parse_cpu_stat_v1",
    "parse_cpu_stat_v2",
    "parse_cpuacct_usage",
    "parse_int",
    "parse_limit_v1",
    "parse_max",
    "parse_memory_events",
    "parse_mountinfo",
    "parse_nofile",
    "parse_oom_kills_v1",
    "parse_pid_list",
    "parse_proc_cgroup",
    "parse_proc_stat",
    "parse_proc_status",
    "parse_sockstat",
    "parse_sockstat6",
    "parse_tcp_states",
    "working_set",
]
