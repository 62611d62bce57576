"""Limits in force: what the kernel holds the container to, read back for drift detection.

Memory+swap follows Docker's convention (``MemorySwap``: memory plus swap): v1 reads it
from memory.memsw.limit_in_bytes, v2 adds memory.swap.max to memory.max.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from collectors.cgroups import CgroupPaths
from collectors.families.base import SCALAR, KeptFiles
from collectors.files import FdBudget, KeptFile
from collectors.parsers import (
    parse_cfs_quota,
    parse_cpu_max,
    parse_int,
    parse_limit_v1,
    parse_max,
    parse_nofile,
)


class CgroupLimits(NamedTuple):
    memory: int | None
    memory_swap: int | None
    cpu_quota_us: int | None
    cpu_period_us: int | None
    pids_max: int | None
    nofile_soft: int | None
    nofile_hard: int | None


class LimitsFamily(KeptFiles):
    name = "limits"

    def __init__(self, paths: CgroupPaths, proc_limits: str, budget: FdBudget) -> None:
        super().__init__(budget)
        mem, cpu, pids = paths.get("memory"), paths.get("cpu"), paths.get("pids")
        self._v2_memory = mem is not None and mem.version == 2
        self._v2_cpu = cpu is not None and cpu.version == 2
        self._mem = self._swap = self._quota = self._period = self._pids = None
        if mem is not None:
            self._mem = self._file(
                mem.path, "memory.limit_in_bytes" if mem.version == 1 else "memory.max", SCALAR
            )
            swap = "memory.memsw.limit_in_bytes" if mem.version == 1 else "memory.swap.max"
            # Absent when the kernel runs without swap accounting: then there is no such limit.
            if os.path.exists(f"{mem.path}/{swap}"):
                self._swap = self._file(mem.path, swap, SCALAR)
        if cpu is not None:
            self._quota = self._file(cpu.path, "cpu.cfs_quota_us" if cpu.version == 1 else "cpu.max", SCALAR)
            if cpu.version == 1:
                self._period = self._file(cpu.path, "cpu.cfs_period_us", SCALAR)
        if pids is not None:
            self._pids = self._file(pids.path, "pids.max", SCALAR)
        self._nofile = KeptFile(proc_limits, budget, 2048)
        self._files.append(self._nofile)

    def read(self) -> CgroupLimits:
        memory, swap = self._memory()
        quota, period = self._cpu()
        soft, hard = parse_nofile(self._nofile.read())
        pids = parse_max(self._pids.read()) if self._pids else None
        return CgroupLimits(memory, swap, quota, period, pids, soft, hard)

    def _memory(self) -> tuple[int | None, int | None]:
        if self._mem is None:
            return None, None
        if not self._v2_memory:
            memory = parse_limit_v1(self._mem.read())
            return memory, parse_limit_v1(self._swap.read()) if self._swap else None
        memory = parse_max(self._mem.read())
        swap = parse_max(self._swap.read()) if self._swap else None
        return memory, (memory + swap if memory is not None and swap is not None else None)

    def _cpu(self) -> tuple[int | None, int | None]:
        if self._quota is None:
            return None, None
        if self._v2_cpu:
            return parse_cpu_max(self._quota.read())
        period = parse_int(self._period.read()) if self._period else None
        return parse_cfs_quota(self._quota.read()), period


def limits_family(paths: CgroupPaths, proc_root: str, pid: int, budget: FdBudget) -> LimitsFamily:
    return LimitsFamily(paths, f"{proc_root}/{pid}/limits", budget)
