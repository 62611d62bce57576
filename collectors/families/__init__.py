"""One reader per resource family, each with a cgroup v1 and a v2 implementation.

A family reads a few kernel files through kept descriptors and returns a small tuple;
it raises OSError (the file is gone or unreadable) or ValueError (unexpected content)
and the sampler turns that into a skipped family, never a lost sample.
"""

from collectors.families.base import KeptFiles
from collectors.families.cpu import CpuFamily, CpuUsage, cpu_family
from collectors.families.disk import DiskFamily
from collectors.families.limits import CgroupLimits, LimitsFamily, limits_family
from collectors.families.memory import MemoryFamily, MemoryUsage, memory_family
from collectors.families.pids import PidsFamily, PidsUsage, pids_family
from collectors.families.sockets import SocketsFamily

__all__ = [
    "CgroupLimits",
    "CpuFamily",
    "CpuUsage",
    "DiskFamily",
    "KeptFiles",
    "LimitsFamily",
    "MemoryFamily",
    "MemoryUsage",
    "PidsFamily",
    "PidsUsage",
    "SocketsFamily",
    "cpu_family",
    "limits_family",
    "memory_family",
    "pids_family",
]
