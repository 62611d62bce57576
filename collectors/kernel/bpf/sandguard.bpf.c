// SPDX-License-Identifier: GPL-2.0
/* sandguard's kernel program (CO-RE, built by the Makefile beside it, loaded by loader.c).
 *
 * Sees every exec, exit, connect and TCP state change of processes in a watched sandbox
 * (a mount namespace in map `ns`), and stops blocked programs there:
 * - lsm/bprm_check_security refuses (-EPERM) an exec whose file (dentry name) or path
 *   (basename of bprm->filename) is blocked, or a program run from memory, before the
 *   new image exists;
 * - sched_process_exec SIGKILLs what only argv shows (a busybox applet: argv[0], argv[1]
 *   after a literal "busybox") before its first instruction, and everything the LSM
 *   hook would have refused when the hook could not be attached;
 * - lsm/mmap_file and lsm/file_mprotect refuse executable mappings of a blocked
 *   program's file in an enforce-mode sandbox (`ld.so /bin/rm` runs rm without exec).
 * Scoped by mount namespace: the host and containers sandguard did not create are never
 * judged. The maps change only through the collector's own prctl (collector_pid, set by
 * the loader before load; see control.py); each change is echoed as an ACK record.
 * Records go to one ring buffer (ordered across CPUs); a reservation that fails is
 * counted in `lost` and reported by the loader, never silent. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "records.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 collector_pid = 0;
/* LSM_* bits of the hooks the loader attached: what they refuse, the tracepoints need
 * not kill */
__u32 lsm_on = 0;

#define MAGIC 0x53474B31 /* "SGK1": a prctl option no kernel defines (program.py) */
#define OP_WATCH 1
#define OP_UNWATCH 2
#define OP_BLOCK 3
#define OP_UNBLOCK 4
#define OP_PING 5
#define OP_NET 6
#define OP_UNNET 7
#define MODE_ENFORCE 2
#define FLAG_NO_MEMFD 4
#define SCAN_BYTES 96 /* argv[0]/argv[1] scanned for their basename over at most this */
#define EPERM 1
#define PROT_EXEC 4
#define SIGKILL 9
#define S_IFMT 0xf000
#define S_IFIFO 0x1000
#define S_IFCHR 0x2000
#define S_IFSOCK 0xc000

struct blk_key {
	__u64 ns;
	char name[NAME_LEN];
};

struct conn_args {
	__u64 addr;
	__u64 fd;
	__u64 send; /* a send with an address (sendto/sendmsg), not a connect */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   /* mount ns inum */
	__type(value, __u64); /* 1 audit, 2 enforce, + FLAG_NO_MEMFD */
} ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct blk_key);
	__type(value, __u8);
} blk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   /* network ns inum */
	__type(value, __u64); /* the sandbox's mount ns inum */
} net SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} t0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct conn_args);
} cx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* 16 MiB: ~6,500 exec records (2.5 KiB), ~3 s of the fastest loop */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rec_exec);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[ARGV_LEN]);
} argbuf /* argv or a filename, for the basename scans */ SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		*n += 1;
}

static __always_inline void *reserve(__u64 size, __u32 kind)
{
	struct rec_head *h = bpf_ringbuf_reserve(&events, size, 0);
	if (!h) {
		count_lost();
		return 0;
	}
	h->kind = kind;
	h->size = size;
	return h;
}

static __always_inline __u64 task_ns(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
}

static __always_inline __u64 mode_of(__u64 n)
{
	__u64 *m = bpf_map_lookup_elem(&ns, &n);
	return m ? *m : 0;
}

/* 1 when `name` (a kernel string) is blocked in sandbox `n` */
static __always_inline __u32 blocked_kstr(__u64 n, const void *name)
{
	struct blk_key k = {};
	k.ns = n;
	bpf_probe_read_kernel_str(k.name, sizeof(k.name), name);
	return bpf_map_lookup_elem(&blk, &k) ? 1 : 0;
}

/* "memfd:" at the start of a dentry name: a program run from memory */
static __always_inline __u32 is_memfd(const unsigned char *name)
{
	char head[8] = {};
	bpf_probe_read_kernel(head, 6, name);
	return head[0] == 'm' && head[1] == 'e' && head[2] == 'm' && head[3] == 'f' && head[4] == 'd' &&
	       head[5] == ':';
}

struct paths {
	char p[3][PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct paths);
} pathbuf SEC(".maps");

struct walk_ctx {
	__u64 d, vm, m, root_d, root_m;
	__u32 off, cut, slot;
};

/* One step of a path walk (bpf_loop: the verifier checks one step, not PATH_DEPTH
 * unrolled ones): the name of dentry d into the slot, then its parent; at the root of a
 * mount, the mount point in the parent mount. 1 ends the walk. */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	__u32 zero = 0;
	struct paths *ps = bpf_map_lookup_elem(&pathbuf, &zero);
	struct dentry *d = (struct dentry *)c->d;
	struct vfsmount *vm = (struct vfsmount *)c->vm;
	struct mount *m = (struct mount *)c->m;
	if (!ps || !d || (c->d == c->root_d && c->vm == c->root_m))
		return 1;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == BPF_CORE_READ(vm, mnt_root) || d == parent) {
		struct mount *pm = BPF_CORE_READ(m, mnt_parent);
		if (pm == m)
			return 1; /* the top of this mount tree (memfd, pipefs...) */
		c->d = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		c->m = (__u64)pm;
		c->vm = (__u64)pm + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	__u32 off = c->off;
	if (off > PATH_LEN - COMPONENT_LEN) {
		c->cut = 1;
		return 1;
	}
	char *out = c->slot == 0 ? ps->p[0] : c->slot == 1 ? ps->p[1] : ps->p[2];
	long n = bpf_probe_read_kernel_str(out + off, COMPONENT_LEN, BPF_CORE_READ(d, d_name.name));
	if (n <= 0) {
		c->cut = 1;
		return 1;
	}
	c->off = off + n;
	c->d = (__u64)parent;
	return 0;
}

/* The path of dentry d on vfsmount vm inside the root (root_d, root_m), into slot `slot`
 * of pathbuf: components leaf first, a NUL after each; the length, 1 << 16 when cut. */
static __always_inline __u32 walk_path(__u64 d, __u64 vm, __u64 root_d, __u64 root_m, __u32 slot)
{
	struct walk_ctx c = {.d = d, .vm = vm, .m = vm - bpf_core_field_offset(struct mount, mnt),
			     .root_d = root_d, .root_m = root_m, .slot = slot};
	long steps = bpf_loop(PATH_DEPTH, walk_step, &c, 0);
	if (steps >= PATH_DEPTH)
		c.cut = 1;
	return (c.off & 0xffff) | (c.cut << 16);
}

/* The path of `path` (a struct path) of task t into dst; its length into *len; 1 when cut */
static __always_inline __u32 path_into(struct task_struct *t, struct dentry *d, struct vfsmount *vm, char *dst,
				       __u16 *len, __u32 slot)
{
	*len = 0;
	if (!d)
		return 0;
	__u32 r = walk_path((__u64)d, (__u64)vm, (__u64)BPF_CORE_READ(t, fs, root.dentry),
			    (__u64)BPF_CORE_READ(t, fs, root.mnt), slot);
	__u32 zero = 0;
	struct paths *ps = bpf_map_lookup_elem(&pathbuf, &zero);
	if (!ps)
		return 1;
	bpf_probe_read_kernel(dst, PATH_LEN, slot == 0 ? ps->p[0] : slot == 1 ? ps->p[1] : ps->p[2]);
	*len = r & 0xffff;
	return r >> 16;
}

static __always_inline __u32 walk_file(struct file *f, struct task_struct *t, char *out, __u16 *len)
{
	*len = 0;
	if (!f)
		return 0;
	return path_into(t, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), out, len, 0);
}

/* The open file of fd `fd` of task t, or 0 */
static __always_inline struct file *fd_file(struct task_struct *t, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file *f = 0;
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), fds + fd);
	return f;
}

/* Kind of fd `fd` of task t (program.KINDS): 0 none, 1 inet, 2 unix, 3 socket, 4 pipe,
 * 5 tty, 6 file, 7 dev. */
static __always_inline __u32 fd_kind(struct task_struct *t, __u32 fd)
{
	struct file *f = fd_file(t, fd);
	if (!f)
		return 0;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	__u32 m = BPF_CORE_READ(ino, i_mode) & S_IFMT;
	if (m == S_IFIFO)
		return 4;
	if (m == S_IFCHR) {
		__u32 maj = BPF_CORE_READ(ino, i_rdev) >> 20;
		return ((maj >= 136 && maj <= 143) || maj == 4 || maj == 5) ? 5 : 7;
	}
	if (m == S_IFSOCK) {
		struct socket *s = BPF_CORE_READ(f, private_data);
		__u16 fam = BPF_CORE_READ(s, sk, __sk_common.skc_family);
		return (fam == 2 || fam == 10) ? 1 : fam == 1 ? 2 : 3;
	}
	return 6;
}

static __always_inline __u32 stdio_of(struct task_struct *t, struct task_struct *p)
{
	__u32 s = 0;
	for (int i = 0; i < 3; i++) {
		s |= fd_kind(t, i) << (4 * i);
		s |= fd_kind(p, i) << (12 + 4 * i);
	}
	return s;
}

static __always_inline __u32 pid_nr(struct pid *p, int own_level)
{
	if (!p)
		return 0;
	__u32 level = own_level ? BPF_CORE_READ(p, level) : 0;
	int nr = 0;
	__u64 at = (__u64)p + bpf_core_field_offset(struct pid, numbers) + (__u64)(level & 31) * sizeof(struct upid);
	bpf_probe_read_kernel(&nr, sizeof(nr), (void *)at);
	return nr;
}

/* pid, ppid, uid, ids and names of the current task into r */
static __always_inline void fill_task(struct rec_exec *r, struct task_struct *t, __u64 n)
{
	struct task_struct *p = BPF_CORE_READ(t, real_parent);
	r->ktime = bpf_ktime_get_ns();
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->ppid = BPF_CORE_READ(p, tgid);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->ns = n;
	r->ns_pid = pid_nr(BPF_CORE_READ(t, thread_pid), 1);
	r->pgid = pid_nr(BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID]), 0);
	r->sid = pid_nr(BPF_CORE_READ(t, signal, pids[PIDTYPE_SID]), 0);
	bpf_probe_read_kernel_str(r->parent_comm, NAME_LEN, BPF_CORE_READ(p, comm));
	struct task_struct *a = p;
	for (int i = 0; i < ANCESTORS; i++) {
		struct task_struct *up = a ? BPF_CORE_READ(a, real_parent) : 0;
		r->ancestors[i] = (up && up != a) ? BPF_CORE_READ(up, tgid) : 0;
		a = (up && up != a) ? up : 0;
	}
	r->stdio = stdio_of(t, p);
	if (path_into(t, BPF_CORE_READ(t, fs, pwd.dentry), BPF_CORE_READ(t, fs, pwd.mnt), r->cwd, &r->cwd_len, 1))
		r->flags |= F_CWD_CUT;
	struct file *pf = BPF_CORE_READ(p, mm, exe_file);
	r->pexe_len = 0;
	if (pf && path_into(t, BPF_CORE_READ(pf, f_path.dentry), BPF_CORE_READ(pf, f_path.mnt), r->pexe, &r->pexe_len, 2))
		r->flags |= F_PEXE_CUT;
}

static __always_inline void copy_argv(struct rec_exec *r, struct mm_struct *mm)
{
	__u64 start = BPF_CORE_READ(mm, arg_start);
	__u64 n = BPF_CORE_READ(mm, arg_end) - start;
	r->argv_len = n;
	if (n > ARGV_LEN) {
		n = ARGV_LEN;
		r->flags |= F_ARGV_CUT;
	}
	r->argv_copied = n;
	bpf_probe_read_user(r->argv, n & (2 * ARGV_LEN - 1), (void *)start);
}

/* argv into argbuf too, for the scans (the record is not a map value) */
static __always_inline void argv_to_scratch(struct rec_exec *r)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&argbuf, &zero);
	if (buf)
		bpf_probe_read_kernel(buf, ARGV_LEN, r->argv);
}

static __always_inline __u64 since_execve(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *t = bpf_map_lookup_elem(&t0, &tid);
	__u64 lat = t ? bpf_ktime_get_ns() - *t : 0;
	bpf_map_delete_elem(&t0, &tid);
	return lat;
}

/* --- the collector's map updates ------------------------------------------------ */

SEC("tracepoint/syscalls/sys_enter_prctl")
int on_prctl(struct trace_event_raw_sys_enter *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != collector_pid || ctx->args[0] != MAGIC)
		return 0;
	__u64 op = ctx->args[1], a = ctx->args[2], b = ctx->args[3];
	struct blk_key k = {};
	__u8 one = 1;
	if (op == OP_WATCH)
		bpf_map_update_elem(&ns, &a, &b, BPF_ANY);
	if (op == OP_UNWATCH)
		bpf_map_delete_elem(&ns, &a);
	if (op == OP_BLOCK || op == OP_UNBLOCK) {
		k.ns = a;
		bpf_probe_read_user_str(k.name, sizeof(k.name), (void *)b);
		if (op == OP_BLOCK)
			bpf_map_update_elem(&blk, &k, &one, BPF_ANY);
		else
			bpf_map_delete_elem(&blk, &k);
	}
	if (op == OP_NET)
		bpf_map_update_elem(&net, &a, &b, BPF_ANY);
	if (op == OP_UNNET)
		bpf_map_delete_elem(&net, &a);
	struct rec_ack *r = reserve(sizeof(*r), REC_ACK);
	if (!r)
		return 0;
	r->op = op;
	r->a = a;
	r->b = b;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* --- exec ------------------------------------------------------------------------- */

static __always_inline int on_execve(void)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	if (!mode_of(task_ns(t)))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&t0, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve_enter(void *ctx) { return on_execve(); }

SEC("tracepoint/syscalls/sys_enter_execveat")
int on_execveat_enter(void *ctx) { return on_execve(); }

struct scan_ctx {
	__u32 base, sl, end, found;
};

/* One byte of a basename scan over argbuf from c->base (bpf_loop) */
static long scan_step(__u32 i, struct scan_ctx *c)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&argbuf, &zero);
	if (!buf)
		return 1;
	__u32 at = c->base + i;
	char ch = buf[at & (ARGV_LEN - 1)];
	if (ch == 0) {
		c->end = at;
		c->found = 1;
		return 1;
	}
	if (ch == '/')
		c->sl = at + 1;
	return 0;
}

/* The basename of the argv word at `base`: its offset in c.sl, its end in c.end */
static __always_inline struct scan_ctx scan_word(__u32 base, __u32 bytes)
{
	struct scan_ctx c = {.base = base, .sl = base};
	bpf_loop(bytes, scan_step, &c, 0);
	return c;
}

/* 1 when the word at argbuf[at..] (up to a NUL) is blocked in sandbox n */
static __always_inline __u32 blocked_arg(__u64 n, __u32 at)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&argbuf, &zero);
	if (!buf)
		return 0;
	struct blk_key k = {};
	k.ns = n;
	bpf_probe_read_kernel_str(k.name, sizeof(k.name), buf + (at & (ARGV_LEN - 1)));
	return bpf_map_lookup_elem(&blk, &k) ? 1 : 0;
}

/* The program an exec really runs, when argv names it: busybox runs the applet its
 * argv[0] names (one leading '-' dropped, then the basename; after a literal "busybox",
 * the next word, again and again: `busybox busybox rm` is rm), and the dynamic loader
 * (`ld.so [--option [value]]... PROGRAM [args]`) runs its first operand, which may be
 * busybox in turn (then the applet is the --argv0 value, or the words after it). Judged
 * word by word over argv in argbuf (bpf_loop over its bytes: one step verified). */
enum { J_BUSYBOX = 1, J_LDSO = 2, J_DONE = 3 };

struct judge_ctx {
	__u64 ns;
	__u32 state, word, start, sl, skip_value, argv0_sl, has_argv0, hits, limit;
};

/* the first 16 bytes of the word at `at` */
static __always_inline void word_head(char *buf, __u32 at, char w[16])
{
	bpf_probe_read_kernel(w, 16, buf + (at & (ARGV_LEN - 1)));
}

static __always_inline __u32 is_busybox_word(char *buf, __u32 sl, __u32 end)
{
	char w[16] = {};
	if (end - sl != 7)
		return 0;
	word_head(buf, sl, w);
	return w[0] == 'b' && w[1] == 'u' && w[2] == 's' && w[3] == 'y' && w[4] == 'b' && w[5] == 'o' && w[6] == 'x';
}

/* 1: an ld.so option that takes the next word as its value; 2: --argv0; 0: none */
static __always_inline __u32 ldso_value_option(char *buf, __u32 start)
{
	char w[16] = {};
	word_head(buf, start, w);
	if (w[0] != '-' || w[1] != '-')
		return 0;
	if (w[2] == 'a' && w[3] == 'r')
		return 2; /* --argv0 */
	if (w[2] == 'a' || w[2] == 'p' || w[2] == 'g')
		return 1; /* --audit, --preload, --glibc-hwcaps-prepend/-mask */
	if (w[2] == 'l' && w[3] == 'i' && w[4] == 'b')
		return 1; /* --library-path (not --list...) */
	if (w[2] == 'i' && w[10] == 'r')
		return 1; /* --inhibit-rpath (not --inhibit-cache) */
	return 0;
}

/* One word of argv ended at `end`: judged by the state it is read in. */
static __always_inline void judge_word(struct judge_ctx *c, char *buf, __u32 end)
{
	__u32 w = c->word++;
	if (c->state == J_BUSYBOX) {
		c->hits += blocked_arg(c->ns, c->sl);
		if (!is_busybox_word(buf, c->sl, end))
			c->state = J_DONE;
		return;
	}
	/* J_LDSO */
	if (w == 0)
		return; /* ld.so itself */
	if (c->skip_value) {
		if (c->skip_value == 2) {
			c->argv0_sl = c->sl;
			c->has_argv0 = 1;
		}
		c->skip_value = 0;
		return;
	}
	__u32 opt = ldso_value_option(buf, c->start);
	if (opt) {
		c->skip_value = opt;
		return;
	}
	char h[16] = {};
	word_head(buf, c->start, h);
	if (h[0] == '-' && h[1] == '-')
		return; /* an option without a value */
	c->hits += blocked_arg(c->ns, c->sl); /* the program ld.so runs */
	c->state = J_DONE;
	if (!is_busybox_word(buf, c->sl, end))
		return;
	c->state = J_BUSYBOX; /* busybox's argv[0]: --argv0's value, else this operand */
	if (c->has_argv0) {
		c->hits += blocked_arg(c->ns, c->argv0_sl);
		__u32 vend = 0;
		char v[16] = {};
		word_head(buf, c->argv0_sl, v);
		for (int i = 0; i < 15; i++)
			if (!v[i] && !vend)
				vend = c->argv0_sl + i;
		if (!is_busybox_word(buf, c->argv0_sl, vend))
			c->state = J_DONE;
	}
}

static long judge_step(__u32 i, struct judge_ctx *c)
{
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&argbuf, &zero);
	if (!buf || i >= c->limit || c->state == J_DONE)
		return 1;
	char ch = buf[i & (ARGV_LEN - 1)];
	if (ch == 0) {
		judge_word(c, buf, i);
		c->start = i + 1;
		c->sl = i + 1;
		return c->state == J_DONE;
	}
	if (ch == '/')
		c->sl = i + 1;
	else if (ch == '-' && i == c->start && c->word == 0 && c->state == J_BUSYBOX)
		c->sl = i + 1; /* a login shell's '-' */
	return 0;
}

/* Blocked names among the programs argv names (busybox, ld.so); argv is in argbuf. A
 * word still open where the copied argv ends (argv longer than ARGV_LEN, a name hidden
 * past it) counts as a hit: judged closed. */
static __always_inline __u32 argv_hits(__u64 n, struct rec_exec *r, __u32 state)
{
	struct judge_ctx c = {.ns = n, .state = state, .limit = r->argv_copied};
	bpf_loop(ARGV_LEN, judge_step, &c, 0);
	if (c.state != J_DONE && (r->flags & F_ARGV_CUT))
		c.hits += 1;
	return c.hits;
}

/* J_BUSYBOX for busybox, J_LDSO for the dynamic loader (ld-linux*, ld.so), else 0 */
static __always_inline __u32 argv_judge_of(const char *name)
{
	if (name[0] == 'b' && name[1] == 'u' && name[2] == 's' && name[3] == 'y' && name[4] == 'b' &&
	    name[5] == 'o' && name[6] == 'x' && name[7] == 0)
		return J_BUSYBOX;
	if (name[0] == 'l' && name[1] == 'd' && ((name[2] == '-' && name[3] == 'l' && name[4] == 'i' &&
	    name[5] == 'n' && name[6] == 'u' && name[7] == 'x') || (name[2] == '.' && name[3] == 's' && name[4] == 'o')))
		return J_LDSO;
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	__u64 n = task_ns(t);
	__u64 mode = mode_of(n);
	if (!mode)
		return 0;
	struct rec_exec *r = reserve(sizeof(*r), REC_EXEC);
	if (!r) {
		bpf_map_delete_elem(&t0, &(__u32){(__u32)bpf_get_current_pid_tgid()});
		return 0;
	}
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	struct file *exe = BPF_CORE_READ(mm, exe_file);
	const unsigned char *exe_name = BPF_CORE_READ(exe, f_path.dentry, d_name.name);
	r->flags = mode & F_MODE_MASK;
	bpf_get_current_comm(r->comm, NAME_LEN);
	bpf_probe_read_kernel_str(r->exe_name, NAME_LEN, exe_name);
	copy_argv(r, mm);
	__u32 hit = blocked_kstr(n, r->comm) + blocked_kstr(n, exe_name);
	__u32 judge = argv_judge_of(r->exe_name);
	if (judge) {
		argv_to_scratch(r);
		hit += argv_hits(n, r, judge);
	}
	if ((mode & FLAG_NO_MEMFD) && is_memfd(exe_name))
		hit += 8;
	r->hit = hit;
	r->lat = since_execve();
	if (hit && (mode & F_MODE_MASK) == MODE_ENFORCE) {
		bpf_send_signal(SIGKILL);
		r->flags |= F_KILLED;
	}
	unsigned short off = ctx->__data_loc_filename & 0xffff;
	bpf_probe_read_kernel_str(r->filename, FILENAME_LEN, (void *)ctx + off);
	fill_task(r, t, n);
	if (walk_file(exe, t, r->exe, &r->exe_len))
		r->flags |= F_EXE_CUT;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* --- prevention before the image exists (BPF LSM) --------------------------------- */

static __always_inline struct rec_exec *scratch_rec(void)
{
	__u32 zero = 0;
	struct rec_exec *r = bpf_map_lookup_elem(&scratch, &zero);
	if (r) {
		r->h.kind = REC_EXEC;
		r->h.size = sizeof(*r);
		r->flags = 0;
		r->argv_len = 0;
		r->argv_copied = 0;
		r->hit = 0;
	}
	return r;
}

/* A refusal as an exec record: the names, the caller's ids and paths; argv of the
 * caller's image only for a mapping (an exec's new argv is not in user memory yet). */
static __always_inline void emit_refusal(struct rec_exec *r, struct task_struct *t, __u64 n, struct file *f)
{
	fill_task(r, t, n);
	if (walk_file(f, t, r->exe, &r->exe_len))
		r->flags |= F_EXE_CUT;
	r->lat = (r->flags & F_MMAP) ? 0 : since_execve();
	if (bpf_ringbuf_output(&events, r, sizeof(*r), 0))
		count_lost();
}

SEC("lsm/bprm_check_security")
int BPF_PROG(bprm_check, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	struct task_struct *t = (void *)bpf_get_current_task();
	__u64 n = task_ns(t);
	__u64 mode = mode_of(n);
	if ((mode & F_MODE_MASK) != MODE_ENFORCE)
		return 0; /* audit: sched_process_exec records it, with its argv */
	struct rec_exec *r = scratch_rec();
	if (!r)
		return 0;
	const unsigned char *name = BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name);
	bpf_probe_read_kernel_str(r->exe_name, NAME_LEN, name);
	const char *fname = BPF_CORE_READ(bprm, filename);
	bpf_probe_read_kernel_str(r->filename, FILENAME_LEN, fname);
	/* comm as the exec would set it: the basename of the path, cut to 15 bytes */
	__u32 zero = 0;
	char *buf = bpf_map_lookup_elem(&argbuf, &zero);
	if (!buf)
		return 0;
	bpf_probe_read_kernel_str(buf, FILENAME_LEN, fname);
	struct scan_ctx c = scan_word(0, FILENAME_LEN);
	__u64 *words = (__u64 *)r->comm;
	words[0] = 0;
	words[1] = 0;
	bpf_probe_read_kernel_str(r->comm, NAME_LEN, buf + (c.sl & (ARGV_LEN - 1)));
	__u32 hit = blocked_kstr(n, name) + blocked_kstr(n, r->comm);
	if ((mode & FLAG_NO_MEMFD) && is_memfd(name))
		hit += 8;
	if (!hit)
		return 0;
	r->hit = hit;
	r->flags = MODE_ENFORCE | F_REFUSED;
	emit_refusal(r, t, n, BPF_CORE_READ(bprm, file));
	return -EPERM;
}

/* An executable mapping of a blocked program's file by another program (the dynamic
 * loader run as `ld.so /bin/rm`): refused in enforce mode, recorded in audit mode. The
 * kernel's own mapping of an exec'd program (its exe_file) is left alone: the exec was
 * judged at bprm_check. */
static __always_inline int judge_mapping(struct file *f, __u64 prot, __u32 stop)
{
	if (!f || !(prot & PROT_EXEC))
		return 0;
	struct task_struct *t = (void *)bpf_get_current_task();
	__u64 n = task_ns(t);
	__u64 mode = mode_of(n);
	if (!mode)
		return 0;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	if (ino == BPF_CORE_READ(t, mm, exe_file, f_inode))
		return 0;
	const unsigned char *name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (!blocked_kstr(n, name))
		return 0;
	struct rec_exec *r = scratch_rec();
	if (!r)
		return 0;
	__u32 enforce = (mode & F_MODE_MASK) == MODE_ENFORCE;
	r->hit = 1;
	r->flags = (mode & F_MODE_MASK) | F_MMAP | (enforce ? stop : 0);
	bpf_probe_read_kernel_str(r->exe_name, NAME_LEN, name);
	bpf_probe_read_kernel_str(r->filename, NAME_LEN, name);
	bpf_get_current_comm(r->comm, NAME_LEN);
	copy_argv(r, BPF_CORE_READ(t, mm));
	emit_refusal(r, t, n, f);
	return enforce;
}

/* Without the mmap_file hook: an executable mapping of a blocked program's file by
 * another program (ld.so /bin/rm) is killed at the mmap syscall, before it returns. */
SEC("tracepoint/syscalls/sys_enter_mmap")
int on_mmap(struct trace_event_raw_sys_enter *ctx)
{
	if ((lsm_on & LSM_MMAP) || (long)ctx->args[4] < 0)
		return 0;
	struct file *f = fd_file((void *)bpf_get_current_task(), ctx->args[4]);
	if (judge_mapping(f, ctx->args[2], F_KILLED))
		bpf_send_signal(SIGKILL);
	return 0;
}

SEC("lsm/mmap_file")
int BPF_PROG(mmap_file, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags, int ret)
{
	if (ret)
		return ret;
	return judge_mapping(file, prot, F_REFUSED) ? -EPERM : 0;
}

SEC("lsm/file_mprotect")
int BPF_PROG(file_mprotect, struct vm_area_struct *vma, unsigned long reqprot, unsigned long prot, int ret)
{
	if (ret)
		return ret;
	return judge_mapping(BPF_CORE_READ(vma, vm_file), prot, F_REFUSED) ? -EPERM : 0;
}

/* --- exit, connect, TCP states ------------------------------------------------------ */

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != (__u32)id)
		return 0;
	struct task_struct *t = (void *)bpf_get_current_task();
	__u64 n = task_ns(t);
	if (!mode_of(n))
		return 0;
	struct rec_exit *r = reserve(sizeof(*r), REC_EXIT);
	if (!r)
		return 0;
	r->ktime = bpf_ktime_get_ns();
	r->pid = id >> 32;
	r->ns = n;
	r->exit_code = BPF_CORE_READ(t, exit_code);
	r->group_exit_code = BPF_CORE_READ(t, signal, group_exit_code);
	bpf_ringbuf_submit(r, 0);
	return 0;
}

static __always_inline int remember(__u64 fd, __u64 addr, __u64 send)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	if (!addr || !mode_of(task_ns(t)))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct conn_args a = {.addr = addr, .fd = fd, .send = send};
	bpf_map_update_elem(&cx, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int on_connect_enter(struct trace_event_raw_sys_enter *ctx)
{
	return remember(ctx->args[0], ctx->args[1], 0);
}

/* A datagram (or a TCP fast-open SYN) sent to an address needs no connect: reported as
 * a connect to that address (sendmmsg is not traced). */
SEC("tracepoint/syscalls/sys_enter_sendto")
int on_sendto_enter(struct trace_event_raw_sys_enter *ctx)
{
	return remember(ctx->args[0], ctx->args[4], 1);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int on_sendmsg_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 name = 0; /* user_msghdr.msg_name, its first field */
	if (ctx->args[1])
		bpf_probe_read_user(&name, sizeof(name), (void *)ctx->args[1]);
	return remember(ctx->args[0], name, 1);
}

static __always_inline int on_connected(struct trace_event_raw_sys_exit *ctx);

SEC("tracepoint/syscalls/sys_exit_connect")
int on_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_connected(ctx);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int on_sendto_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_connected(ctx);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int on_sendmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_connected(ctx);
}

/* The record of a connect (or an addressed send) as the syscall returns: its result, and
 * the socket's type and local port (bound by now) */
static __always_inline int on_connected(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct conn_args *a = bpf_map_lookup_elem(&cx, &tid);
	if (!a)
		return 0;
	struct conn_args args = *a;
	bpf_map_delete_elem(&cx, &tid);
	__u16 fam = 0;
	bpf_probe_read_user(&fam, sizeof(fam), (void *)args.addr);
	if (fam != 2 && fam != 10)
		return 0;
	struct task_struct *t = (void *)bpf_get_current_task();
	struct rec_connect *r = reserve(sizeof(*r), REC_CONNECT);
	if (!r)
		return 0;
	__builtin_memset(r->addr, 0, sizeof(r->addr));
	r->ktime = bpf_ktime_get_ns();
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->ns = task_ns(t);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->ns_pid = pid_nr(BPF_CORE_READ(t, thread_pid), 1);
	r->ret = (args.send && ctx->ret > 0) ? 0 : ctx->ret; /* a send returns its byte count */
	r->family = fam;
	r->type = 0;
	r->sport = 0;
	bpf_probe_read_user(&r->dport, 2, (void *)args.addr + 2);
	bpf_probe_read_user(r->addr, fam == 2 ? 4 : 16, (void *)args.addr + (fam == 2 ? 4 : 8));
	bpf_get_current_comm(r->comm, NAME_LEN);
	struct file *f = fd_file(t, args.fd);
	if (f) {
		struct socket *s = BPF_CORE_READ(f, private_data);
		r->type = BPF_CORE_READ(s, type);
		r->sport = BPF_CORE_READ(s, sk, __sk_common.skc_num);
	}
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* TCP state changes of sockets in a watched sandbox's network namespace, attributed by
 * it (many run in softirq, where the current task is anyone's); the pid only when the
 * current task is in that sandbox. Only ESTABLISHED, CLOSE, LISTEN (what rules use). */
SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	int st = ctx->newstate;
	if (ctx->protocol != 6 || (st != 1 && st != 7 && st != 10))
		return 0;
	struct sock *sk = (void *)ctx->skaddr;
	__u64 netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	__u64 *owner = bpf_map_lookup_elem(&net, &netns);
	if (!owner)
		return 0;
	__u64 n = *owner;
	struct rec_state *r = reserve(sizeof(*r), REC_STATE);
	if (!r)
		return 0;
	struct task_struct *t = (void *)bpf_get_current_task();
	r->ktime = bpf_ktime_get_ns();
	r->pid = task_ns(t) == n ? bpf_get_current_pid_tgid() >> 32 : 0;
	r->ns = n;
	r->oldstate = ctx->oldstate;
	r->newstate = st;
	r->family = ctx->family;
	r->sport = ctx->sport;
	r->dport = ctx->dport;
	r->pad = 0;
	if (ctx->family == 2) {
		__builtin_memset(r->saddr, 0, 16);
		__builtin_memset(r->daddr, 0, 16);
		bpf_probe_read_kernel(r->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(r->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(r->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(r->daddr, 16, ctx->daddr_v6);
	}
	bpf_ringbuf_submit(r, 0);
	return 0;
}
