"""The kernel program's constants shared with the collector: its map-update protocol and
the numbers it packs. The program itself is C: bpf/sandguard.bpf.c (CO-RE, loaded by
bpf/loader.c); its records are bpf/records.h, read by records.py.

Why libbpf CO-RE: this kernel has BTF and tracepoints but no kprobes; a CO-RE object
built once with clang reads any kernel struct through BTF on the host it runs on, its
loader copies fixed binary records to the collector (no text formatting, no parsing),
and it can attach BPF LSM hooks (refusing a blocked exec before the new image exists)
where the kernel allows them. bpftrace, used before, spent ~130 us of CPU per exec
formatting text in user space and had no LSM probes.

Maps, updated at runtime by the collector's own magic ``prctl`` (see control.py), so a
new sandbox or policy is covered without restarting the loader (a restart would open a
window of lost events and unchecked execs):

- ``ns[mnt ns inum] = 1 audit, 2 enforce`` (+ FLAG_NO_MEMFD): the sandboxes to watch;
  every other mount namespace (the host's, foreign containers') is skipped at the first
  line of each program.
- ``blk[mnt ns inum, name]``: program names blocked in that sandbox. In enforce mode an
  exec is refused by the bprm_check_security LSM hook (the file's dentry name, the
  basename of the path) or, without BPF LSM, killed (SIGKILL before its first
  instruction) at sched_process_exec, which also judges comm, the executed file's name
  and, when that file is busybox, the applet argv[0] (argv[1] after a literal busybox)
  names. An executable mapping of a blocked program's file by another program
  (``ld.so /bin/rm``) is refused (mmap_file/file_mprotect hooks) or killed at mmap.
- ``net[net ns inum] = mnt ns inum``: each sandbox's network namespace, by which TCP
  state changes (often in softirq, where the current task is anyone's) are attributed.
"""

from __future__ import annotations

# prctl option no kernel defines ("SGK1"): the kernel answers EINVAL, the prctl tracepoint sees it.
MAGIC = 0x53474B31
OP_WATCH = 1  # arg3 ns, arg4 mode (1 audit, 2 enforce) + FLAG_NO_MEMFD
OP_UNWATCH = 2  # arg3 ns
OP_BLOCK = 3  # arg3 ns, arg4 pointer to a NUL-terminated name
OP_UNBLOCK = 4
OP_PING = 5  # arg3 a sequence number echoed back: everything before it is applied
OP_NET = 6  # arg3 a sandbox's network namespace inum, arg4 its mount namespace inum
OP_UNNET = 7  # arg3 network namespace inum
MODE_AUDIT = 1
MODE_ENFORCE = 2
# Added to the mode: programs run from memory (memfd_create, then exec of /proc/self/fd/N)
# count as blocked. They are written by the sandbox like a file in /work, but no noexec
# mount holds them; set unless the policy allows exec of what the sandbox writes.
FLAG_NO_MEMFD = 4
# Names compare on 16 bytes: the kernel's comm is 15 characters and a NUL.
NAME_LEN = 16
# Kinds of fds 0-2, as the program packs them (records.STDIO_KINDS maps them back).
KINDS = {"none": 0, "inet": 1, "unix": 2, "socket": 3, "pipe": 4, "tty": 5, "file": 6, "dev": 7}
