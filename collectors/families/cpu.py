"""CPU: cumulative usage and CFS bandwidth throttling (v1 cpuacct + cpu, v2 cpu.stat)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from collectors.cgroups import CgroupPaths
from collectors.families.base import SCALAR, KeptFiles
from collectors.files import FdBudget
from collectors.parsers import parse_cpu_stat_v1, parse_cpu_stat_v2, parse_cpuacct_usage


class CpuUsage(NamedTuple):
    usage_ns: int
    periods: int
    throttled_periods: int
    throttled_ns: int


class CpuFamily(Protocol):
    name: str

    def read(self) -> CpuUsage: ...

    def close(self) -> None: ...


class CpuV1(KeptFiles):
    name = "cpu"

    def __init__(self, cpuacct_dir: str, cpu_dir: str | None, budget: FdBudget) -> None:
        super().__init__(budget)
        self._usage = self._file(cpuacct_dir, "cpuacct.usage", SCALAR)
        self._stat = self._file(cpu_dir, "cpu.stat") if cpu_dir else None

    def read(self) -> CpuUsage:
        usage = parse_cpuacct_usage(self._usage.read())
        if self._stat is None:
            return CpuUsage(usage, 0, 0, 0)
        st = parse_cpu_stat_v1(self._stat.read())
        return CpuUsage(usage, st.nr_periods, st.nr_throttled, st.throttled_ns)


class CpuV2(KeptFiles):
    name = "cpu"

    def __init__(self, directory: str, budget: FdBudget) -> None:
        super().__init__(budget)
        self._stat = self._file(directory, "cpu.stat")

    def read(self) -> CpuUsage:
        st = parse_cpu_stat_v2(self._stat.read())
        return CpuUsage(st.usage_usec * 1000, st.nr_periods, st.nr_throttled, st.throttled_usec * 1000)


def cpu_family(paths: CgroupPaths, budget: FdBudget) -> CpuFamily | None:
    acct = paths.get("cpuacct")
    cpu = paths.get("cpu")
    if acct is not None and acct.version == 1:
        return CpuV1(acct.path, cpu.path if cpu is not None and cpu.version == 1 else None, budget)
    if cpu is not None and cpu.version == 2:
        return CpuV2(cpu.path, budget)
    return None
