"""The kernel event source: every exec, exit and connect of sandboxes from the kernel
(a libbpf CO-RE program and its loader, collectors/kernel/bpf; the netlink proc connector
where eBPF is missing), blocked programs stopped at exec in enforce mode. See docs/kernel.md."""

from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.probe import Capabilities, probe
from collectors.kernel.source import KernelSource

__all__ = ["Capabilities", "KernelMetrics", "KernelSource", "probe"]
