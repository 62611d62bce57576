/* The records the BPF program and the loader write, read by collectors/kernel/records.py
 * with struct.unpack_from: fixed C structs, little endian, every one starting with
 * {u32 kind, u32 size}. RECORDS_VERSION changes whenever a layout does; the loader's
 * first record (HELLO) carries it, and a reader of another version stops with a clear
 * error instead of misreading fields. Keep records.py's formats equal to these. */
#ifndef SANDGUARD_RECORDS_H
#define SANDGUARD_RECORDS_H

#define RECORDS_VERSION 2

enum rec_kind {
	REC_HELLO = 1, /* the loader attached: version, which LSM hooks are on */
	REC_EXEC = 2,  /* an exec (tracepoint), or an exec/mapping refused by the LSM hooks */
	REC_EXIT = 3,
	REC_CONNECT = 4,
	REC_STATE = 5, /* a TCP state change */
	REC_ACK = 6,   /* a map update from the collector (its prctl), echoed */
	REC_LOST = 7,  /* ring buffer reservations that failed since the last LOST */
};

#define NAME_LEN 16   /* comm: 15 characters and a NUL */
#define FILENAME_LEN 256
#define ARGV_LEN 512
/* A path as its components leaf first, each NUL-terminated ("rm\0bin\0usr\0"): the reader
 * joins them in reverse. A component is read with at most COMPONENT_LEN bytes, and only
 * while one more fits: at least PATH_LEN - COMPONENT_LEN bytes of path are kept. */
#define PATH_LEN 512
#define COMPONENT_LEN 256
#define PATH_DEPTH 24
#define ANCESTORS 4

/* exec flags */
#define F_MODE_MASK 3     /* 1 audit, 2 enforce */
#define F_KILLED 4        /* SIGKILL at sched_process_exec (before the first instruction) */
#define F_REFUSED 8       /* the LSM hook refused it: the new image never existed */
#define F_MMAP 16         /* not an exec: a PROT_EXEC mapping of a blocked program's file */
#define F_EXE_CUT 32      /* the exe path walk stopped early (depth or length) */
#define F_CWD_CUT 64
#define F_PEXE_CUT 128
#define F_ARGV_CUT 256    /* argv longer than ARGV_LEN */

/* LSM hooks attached (HELLO.lsm) */
#define LSM_BPRM 1
#define LSM_MMAP 2
#define LSM_MPROTECT 4

struct rec_head {
	__u32 kind;
	__u32 size;
};

struct rec_hello {
	struct rec_head h;
	__u32 version;
	__u32 lsm;      /* LSM_* bits of the hooks attached */
	__s32 lsm_err;  /* the first attach error (negative errno), 0 */
	__u32 pad;
};

struct rec_exec {
	struct rec_head h;
	__u64 ktime;        /* CLOCK_MONOTONIC ns */
	__u64 lat;          /* execve entry to the kill/refusal, ns (0 when unknown) */
	__u32 pid, ppid, ns_pid, pgid, sid, uid;
	__u32 ns;           /* mount namespace inum */
	__u32 flags;
	__u32 hit;          /* how many blocked names matched */
	__u32 stdio;        /* fds 0-2 then the parent's, 4 bits each (KINDS in program.py) */
	__u32 argv_len;     /* arg_end - arg_start */
	__u32 ancestors[ANCESTORS]; /* host pids of the parent's parent and up, nearest first, 0 past the top */
	__u16 argv_copied;
	__u16 exe_len, cwd_len, pexe_len;
	char comm[NAME_LEN];
	char exe_name[NAME_LEN];
	char parent_comm[NAME_LEN];
	char filename[FILENAME_LEN];
	char argv[ARGV_LEN];
	char exe[PATH_LEN];
	char cwd[PATH_LEN];
	char pexe[PATH_LEN];
};

struct rec_exit {
	struct rec_head h;
	__u64 ktime;
	__u32 pid, ns;
	__s32 exit_code, group_exit_code;
};

struct rec_connect {
	struct rec_head h;
	__u64 ktime;
	__u32 pid, ns, uid, ns_pid;
	__s32 ret;
	__u16 family, type, sport, dport; /* dport in network order as the sockaddr holds it */
	__u8 addr[16];
	char comm[NAME_LEN];
};

struct rec_state {
	struct rec_head h;
	__u64 ktime;
	__u32 pid, ns;
	__s32 oldstate, newstate;
	__u16 family, sport, dport, pad;
	__u8 saddr[16], daddr[16]; /* v4 in the first 4 bytes */
};

struct rec_ack {
	struct rec_head h;
	__u64 op, a, b;
};

struct rec_lost {
	struct rec_head h;
	__u64 events;
};

#endif
