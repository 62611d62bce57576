"""The bpftrace program the kernel source runs: generated, never written by hand per host.

Why bpftrace: this kernel has BTF and tracepoints but no kprobes, Python BCC needs kernel
headers it does not ship, and a libbpf loader would need clang at build time. bpftrace
(Debian's 0.17) compiles a small program in about a second and reads any kernel struct
through BTF, which is all the source needs.

Maps, updated at runtime by the collector's own magic ``prctl`` (see control.py), so a
new sandbox or policy is covered without restarting the tracer (a restart would open a
~1-2 s window of lost events and unchecked execs):

- ``@ns[mnt ns inum] = 1 audit, 2 enforce``: the sandboxes to watch; every other mount
  namespace (the host's, foreign containers') is skipped at the first line of each probe.
- ``@blk[mnt ns inum, name] = 1``: program names blocked in that sandbox; the exec is
  killed (SIGKILL before its first instruction) when the sandbox is in enforce mode and
  comm (the basename of the path executed), the name of the file executed (its dentry:
  symlinks resolved) or, when that file is busybox, the applet argv[0] (argv[1] after a
  literal busybox) names is in it.

- ``@net[net ns inum] = mnt ns inum``: each sandbox's network namespace, by which TCP
  state changes (often in softirq, where the current task is anyone's) are attributed.

Every attacker-controlled string (comm, names, filename, argv) is printed with ``%r``
(non-printable bytes hex-escaped), so a file name holding a tab or newline cannot forge a
field or a line.
"""

from __future__ import annotations

# prctl option no kernel defines ("SGK1"): the kernel answers EINVAL, the tracepoint sees it.
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
# "memfd:" as the little-endian words the probe compares the exe's dentry name with (a
# string compare would not fit the probe's 512-byte stack): "memf", then "d:".
MEMFD_HEAD = int.from_bytes(b"memf", "little")
MEMFD_TAIL = int.from_bytes(b"d:", "little")
# Names compare on 16 bytes: the kernel's comm is 15 characters and a NUL.
NAME_LEN = 16
# busybox's argv[0] and argv[1] are scanned for their basename over at most 96 bytes each
# (a bounded loop the verifier accepts); a longer one is judged by comm and the exe only.
SCAN_BYTES = 96
# bpftrace 0.17 caps str() and buf() at BPFTRACE_STRLEN (64); raising it blows the 512-byte
# BPF stack of the judging probe. So argv goes out in 3 chunks of 64 bytes (192 bytes; the
# full command line is in argv_truncated's flag and /proc), the filename in its first 64.
ARGV_CHUNK = 64
ARGV_CHUNKS = 3
FILENAME_BYTES = 64
# Kinds of fds 0-2, as numbers in the output (parse.STDIO_KINDS maps them back).
KINDS = {"none": 0, "inet": 1, "unix": 2, "socket": 3, "pipe": 4, "tty": 5, "file": 6, "dev": 7}

_PRCTL = """
tracepoint:syscalls:sys_enter_prctl / pid == {collector_pid} && args->option == {magic} /
{{
  if (args->arg2 == {op_watch}) {{ @ns[args->arg3] = args->arg4; }}
  if (args->arg2 == {op_unwatch}) {{ delete(@ns[args->arg3]); }}
  if (args->arg2 == {op_block}) {{ @blk[args->arg3, str(uptr(args->arg4), {name_len})] = 1; }}
  if (args->arg2 == {op_unblock}) {{ delete(@blk[args->arg3, str(uptr(args->arg4), {name_len})]); }}
  if (args->arg2 == {op_net}) {{ @net[args->arg3] = args->arg4; }}
  if (args->arg2 == {op_unnet}) {{ delete(@net[args->arg3]); }}
  printf("A %lu %lu %lu\\n", args->arg2, args->arg3, args->arg4);
}}
"""

# Kind of one fd of a task (0 none ... 7 dev), into $k.
_FD_KIND = """
  $k = (uint64)0;
  $fdt = {task}->files->fdt;
  if ({fd} < $fdt->max_fds) {{
    $f = *($fdt->fd + {fd});
    if ($f != 0) {{
      $m = $f->f_inode->i_mode & 0xf000;
      $k = 6;
      if ($m == 0x1000) {{ $k = 4; }}
      if ($m == 0x2000) {{
        $maj = $f->f_inode->i_rdev >> 20;
        $k = 7;
        if (($maj >= 136 && $maj <= 143) || $maj == 4 || $maj == 5) {{ $k = 5; }}
      }}
      if ($m == 0xc000) {{
        $fam = ((struct socket *)$f->private_data)->sk->__sk_common.skc_family;
        $k = 3;
        if ($fam == 2 || $fam == 10) {{ $k = 1; }}
        if ($fam == 1) {{ $k = 2; }}
      }}
    }}
  }}
  ${var} = $k;
"""

# Basename of the NUL-terminated user string at $p: offset in $sl, end in $end.
_SCAN = """
  $i = (uint64)0; $sl = (uint64)0; $end = (uint64)0;
  while ($i < {scan}) {{
    $c = *(uint8 *)uptr($p + $i);
    if ($c == 0) {{ $end = $i; break; }}
    if ($c == 47) {{ $sl = $i + 1; }}
    $i++;
  }}
"""

_EXEC_ENTER = """
tracepoint:syscalls:sys_enter_execve, tracepoint:syscalls:sys_enter_execveat
{{
  if (@ns[(uint64)curtask->nsproxy->mnt_ns->ns.inum] != 0) {{ @t0[tid] = nsecs; }}
}}
"""

_EXEC_HEAD = """
tracepoint:sched:sched_process_exec
{{
  $ns = (uint64)curtask->nsproxy->mnt_ns->ns.inum;
  $mode = @ns[$ns];
  if ($mode == 0) {{ return; }}
  $mm = curtask->mm;
"""

# Judged by comm (the basename of the path handed to execve) and the executed file's
# name; argv[0] only when that file is busybox, which runs the applet argv[0] names (one
# leading '-' dropped, then the basename; argv[1] after a literal "busybox"). For any other
# binary argv[0] is the caller's text: execv("/bin/sleep", ["rm", ...]) is sleep.
_EXEC_JUDGE = """
  $exe = str($mm->exe_file->f_path.dentry->d_name.name, {name_len});
  $hit = @blk[$ns, comm] + @blk[$ns, $exe];
  if ($exe == "busybox") {{
    $p = (uint64)$mm->arg_start;
    if (*(uint8 *)uptr($p) == 45) {{ $p = $p + 1; }}
{scan0}
    $a0 = str(uptr($p + $sl), {name_len});
    $hit = $hit + @blk[$ns, $a0];
    if ($a0 == "busybox" && $end > 0) {{
      $p = $p + $end + 1;
{scan0}
      $hit = $hit + @blk[$ns, str(uptr($p + $sl), {name_len})];
    }}
  }}
  $dn = (uint64)$mm->exe_file->f_path.dentry->d_name.name;
  if (($mode & {no_memfd}) && *(uint32 *)$dn == {memf} && *(uint16 *)($dn + 4) == {d_colon}) {{
    $hit = $hit + 8;
  }}
  $kill = 0;
  if ($hit > 0 && ($mode & 3) == {enforce}) {{ signal("SIGKILL"); $kill = 1; }}
"""

# The judgement and the fd kinds, packed for the strings probe (one BPF program's stack,
# 512 bytes, cannot hold the judging and all the strings): bits 0-1 mode, 2 killed,
# 3-7 hit count, 8-31 the six fd kinds (4 bits each: fds 0-2, then the parent's).
_EXEC_PRINT = """
{ids}
  @lat[tid] = @t0[tid] > 0 ? nsecs - @t0[tid] : 0;
  delete(@t0[tid]);
  $n = $mm->arg_end - $mm->arg_start;
  $l0 = $n < {chunk} ? $n : {chunk};
  $l1 = $n < {chunk} ? 0 : ($n < 2 * {chunk} ? $n - {chunk} : {chunk});
  $l2 = $n < 2 * {chunk} ? 0 : ($n < 3 * {chunk} ? $n - 2 * {chunk} : {chunk});
  @judged[tid] = ($mode & 3) | ($kill << 2) | (($hit & 31) << 3) | ($s0 << 8) | ($s1 << 12) | ($s2 << 16)
    | ($q0 << 20) | ($q1 << 24) | ($q2 << 28) | ($l0 << 32) | ($l1 << 39) | ($l2 << 46);
}}
"""

# One line per exec: each line costs the tracer's user space ~50 µs of CPU (measured; JSON
# or text alike), so the strings probe prints the judgement with the strings. It runs
# right after the judging probe, on the same CPU, for the same task. The filename is last
# (printed as is; the JSON output escapes it, so it cannot start a line of its own).
_EXEC_STRINGS = """
tracepoint:sched:sched_process_exec
{{
  $ns = (uint64)curtask->nsproxy->mnt_ns->ns.inum;
  if (@ns[$ns] == 0) {{ return; }}
  $mm = curtask->mm;
  $a = $mm->arg_start;
  $j = @judged[tid];
  printf("N %llu %d %d %u %u %llu %llu %llu %llu %r %r %r %r %r %r %s\\n", nsecs, pid,
    curtask->real_parent->tgid, $ns, uid, @ids[tid], $j & 0xffffffff, @lat[tid], $mm->arg_end - $a,
    buf(comm, {name_len}), buf($mm->exe_file->f_path.dentry->d_name.name, {name_len}),
    buf(curtask->real_parent->comm, {name_len}),
    buf(uptr($a), ($j >> 32) & 127), buf(uptr($a + {chunk}), ($j >> 39) & 127),
    buf(uptr($a + 2 * {chunk}), ($j >> 46) & 127),
    str(args->filename, {filename_bytes}));
  delete(@judged[tid]);
  delete(@lat[tid]);
  delete(@ids[tid]);
}}
"""

# The task's pid in its own pid namespace, its process group and its session (host
# numbers, like pid and ppid), packed 21 bits each (pid_max is 4,194,304 = 2^22: a number
# of 2^21 or more is sent as 0, unknown) by the judging probe for the strings probe.
# ``struct pid`` ends in a flexible array of ``struct upid`` (one per pid-namespace level)
# that bpftrace 0.17 cannot index: it starts at sizeof(struct pid).
ID_BITS = 21
_IDS = """
  $tp = curtask->thread_pid;
  $nspid = (uint64)*(uint32 *)((uint64)$tp + sizeof(struct pid) + (uint64)$tp->level * sizeof(struct upid));
  $pgid = (uint64)*(uint32 *)((uint64)curtask->signal->pids[2] + sizeof(struct pid));
  $sid = (uint64)*(uint32 *)((uint64)curtask->signal->pids[3] + sizeof(struct pid));
  $nspid = $nspid >> {bits} == 0 ? $nspid : 0;
  $pgid = $pgid >> {bits} == 0 ? $pgid : 0;
  $sid = $sid >> {bits} == 0 ? $sid : 0;
  @ids[tid] = $nspid | ($pgid << {bits}) | ($sid << (2 * {bits}));
"""

_EXIT = """
tracepoint:sched:sched_process_exit / pid == tid /
{
  $ns = (uint64)curtask->nsproxy->mnt_ns->ns.inum;
  if (@ns[$ns] == 0) { return; }
  printf("X %llu %d %u %d %d\\n", nsecs, pid, $ns, curtask->exit_code, curtask->signal->group_exit_code);
}
"""

_CONNECT = """
tracepoint:syscalls:sys_enter_connect
{
  $ns = (uint64)curtask->nsproxy->mnt_ns->ns.inum;
  if (@ns[$ns] == 0) { return; }
  @cx[tid] = args->uservaddr;
  @cfd[tid] = args->fd;
}

tracepoint:syscalls:sys_exit_connect / @cx[tid] != 0 /
{
  $a = (uint64)@cx[tid];
  $fd = @cfd[tid];
  delete(@cx[tid]); delete(@cfd[tid]);
  $fam = *(uint16 *)uptr($a);
  if ($fam != 2 && $fam != 10) { return; }
  $type = (uint64)0;
  $sport = (uint64)0;
  $fdt = curtask->files->fdt;
  if ($fd < $fdt->max_fds) {
    $f = *($fdt->fd + $fd);
    if ($f != 0) {
      $type = ((struct socket *)$f->private_data)->type;
      $sport = ((struct socket *)$f->private_data)->sk->__sk_common.skc_num;
    }
  }
  $ns = (uint64)curtask->nsproxy->mnt_ns->ns.inum;
  $off = $fam == 2 ? 4 : 8;
  $tp = curtask->thread_pid;
  $nspid = *(uint32 *)((uint64)$tp + sizeof(struct pid) + (uint64)$tp->level * sizeof(struct upid));
  printf("C %llu %d %u %d %u %d %d %u %u %r %r %r\\n", nsecs, pid, $ns, uid, $fam, $type, args->ret, $sport,
    $nspid, buf(uptr($a + 2), 2), buf(uptr($a + $off), 16), buf(comm, 16));
}
"""

# TCP state changes of sockets in a watched sandbox's network namespace. Many run in
# softirq context (SYN_SENT -> ESTABLISHED when the SYN-ACK arrives), where curtask is
# whoever the CPU was running: so they are attributed by the socket's own network
# namespace (@net, one per sandbox), and the pid is printed only when the current task
# is in that sandbox (0 otherwise). Only changes into the states a rule uses are printed
# (each line costs the tracer ~50 us): ESTABLISHED, CLOSE, LISTEN.
TCP_STATES_PRINTED = {"ESTABLISHED": 1, "CLOSE": 7, "LISTEN": 10}
_STATE = """
tracepoint:sock:inet_sock_set_state / args->protocol == 6 && ({states}) /
{{
  $net = (uint64)((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum;
  $ns = @net[$net];
  if ($ns == 0) {{ return; }}
  $pid = (uint64)curtask->nsproxy->mnt_ns->ns.inum == $ns ? pid : 0;
  printf("S %llu %d %u %d %d %u %u %u %r %r %r %r\\n", nsecs, $pid, $ns, args->oldstate, args->newstate,
    args->family, args->sport, args->dport, buf(args->saddr, 4), buf(args->daddr, 4), buf(args->saddr_v6, 16),
    buf(args->daddr_v6, 16));
}}
"""


# Nothing to print at exit: without this bpftrace dumps every map when it stops.
_END = """
END {
  clear(@ns); clear(@net); clear(@blk); clear(@t0); clear(@cx); clear(@cfd);
  clear(@judged); clear(@lat); clear(@ids);
}
"""


def _fd_kinds(task: str, prefix: str) -> str:
    return "".join(_FD_KIND.format(task=task, fd=fd, var=f"{prefix}{fd}") for fd in range(3))


def render(collector_pid: int) -> str:
    """The whole program; only ``collector_pid`` (who may update the maps) varies."""
    p = {"name_len": NAME_LEN, "magic": MAGIC, "collector_pid": collector_pid}
    prctl = _PRCTL.format(
        op_watch=OP_WATCH,
        op_unwatch=OP_UNWATCH,
        op_block=OP_BLOCK,
        op_unblock=OP_UNBLOCK,
        op_net=OP_NET,
        op_unnet=OP_UNNET,
        **p,
    )
    scan = _SCAN.format(scan=SCAN_BYTES)
    judge = _EXEC_JUDGE.format(scan0=scan, enforce=MODE_ENFORCE, name_len=NAME_LEN, no_memfd=FLAG_NO_MEMFD,
                               memf=MEMFD_HEAD, d_colon=MEMFD_TAIL)  # fmt: skip
    tail = _EXEC_PRINT.format(ids=_IDS.format(bits=ID_BITS), chunk=ARGV_CHUNK) + _EXEC_STRINGS.format(
        name_len=NAME_LEN, filename_bytes=FILENAME_BYTES, chunk=ARGV_CHUNK
    )
    stdio = _fd_kinds("curtask", "s") + _fd_kinds("curtask->real_parent", "q")
    execs = _EXEC_ENTER.format() + _EXEC_HEAD.format() + judge + stdio + tail
    states = " || ".join(f"args->newstate == {n}" for n in TCP_STATES_PRINTED.values())
    return prctl + execs + _EXIT + _CONNECT + _STATE.format(states=states) + _END
