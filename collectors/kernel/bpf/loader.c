// SPDX-License-Identifier: GPL-2.0
/* sandguard-kernel-loader: loads sandguard.bpf.o (embedded as a skeleton), attaches it,
 * and copies the ring buffer's records to stdout in large writes, unchanged.
 *
 *   sandguard-kernel-loader COLLECTOR_PID
 *
 * Only COLLECTOR_PID may change the maps (its prctl; see control.py). The first record
 * is HELLO (version, the LSM hooks attached); then the program's records; ring buffer
 * reservations that failed are reported as LOST records (checked after every poll).
 * The tracepoints must attach (exit status 2 and the reason on stderr otherwise); an LSM
 * hook that cannot be attached (no BPF LSM on this host) is said in HELLO and the
 * program's tracepoint kill covers what it would have refused. Ends on SIGTERM/SIGINT,
 * when stdout closes, or when its parent ends (the collector sets PDEATHSIG). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "records.h"
#include "sandguard.skel.h"

/* Records are copied here and written when a poll returns (or this fills): one write
 * per wake-up, not one per record. 1 MiB holds ~400 exec records. */
#define OUT_BYTES (1 << 20)
#define POLL_MS 100
/* After a poll that returned records the loader naps this long before the next, so a busy
 * stream is read ~200 times a second, many records per write, instead of once per record
 * (each wake-up and write cost ~20 us of CPU here; ~1,000-2,000 execs/s at the fastest
 * loop). After a quiet spell a record is read at once. Kills never wait: they are in the
 * kernel. The ring buffer (16 MiB) holds ~3 s of the fastest loop meanwhile. */
#define BUSY_NAP_US 5000

static char out[OUT_BYTES];
static size_t used;
static volatile sig_atomic_t stopping;

static void on_signal(int sig) { (void)sig; stopping = 1; }

static int flush(void)
{
	size_t at = 0;
	while (at < used) {
		ssize_t n = write(STDOUT_FILENO, out + at, used - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		at += (size_t)n;
	}
	used = 0;
	return 0;
}

static int put(const void *data, size_t size)
{
	if (used + size > OUT_BYTES && flush())
		return -1;
	memcpy(out + used, data, size);
	used += size;
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	return put(data, size) ? -EPIPE : 0;
}

static unsigned long long lost_total(int fd)
{
	int cpus = libbpf_num_possible_cpus();
	unsigned long long *v = calloc(cpus > 0 ? cpus : 1, sizeof(*v)), sum = 0;
	unsigned int zero = 0;
	if (v && cpus > 0 && bpf_map_lookup_elem(fd, &zero, v) == 0)
		for (int i = 0; i < cpus; i++)
			sum += v[i];
	free(v);
	return sum;
}

static int report_lost(int fd, unsigned long long *seen)
{
	unsigned long long now = lost_total(fd);
	if (now == *seen)
		return 0;
	struct rec_lost r = {{REC_LOST, sizeof(r)}, now - *seen};
	*seen = now;
	return put(&r, sizeof(r));
}

/* LSM hooks one by one: a host without BPF LSM keeps the tracepoint kills */
static void attach_lsm(struct sandguard_bpf *skel, struct rec_hello *hello)
{
	struct { struct bpf_program *prog; struct bpf_link **link; unsigned int bit; } hooks[] = {
		{skel->progs.bprm_check, &skel->links.bprm_check, LSM_BPRM},
		{skel->progs.mmap_file, &skel->links.mmap_file, LSM_MMAP},
		{skel->progs.file_mprotect, &skel->links.file_mprotect, LSM_MPROTECT},
	};
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		*hooks[i].link = bpf_program__attach(hooks[i].prog);
		long err = libbpf_get_error(*hooks[i].link);
		if (!err) {
			hello->lsm |= hooks[i].bit;
			continue;
		}
		*hooks[i].link = NULL;
		if (!hello->lsm_err)
			hello->lsm_err = (int)err;
		fprintf(stderr, "lsm hook %s not attached: %s\n", bpf_program__name(hooks[i].prog), strerror((int)-err));
	}
}

/* LSM programs fail to load where BPF LSM is missing: the rest load without them */
static struct sandguard_bpf *load(unsigned int pid, int with_lsm)
{
	struct sandguard_bpf *skel = sandguard_bpf__open();
	if (!skel)
		return NULL;
	skel->rodata->collector_pid = pid;
	bpf_program__set_autoload(skel->progs.bprm_check, with_lsm);
	bpf_program__set_autoload(skel->progs.mmap_file, with_lsm);
	bpf_program__set_autoload(skel->progs.file_mprotect, with_lsm);
	/* attached one by one after the tracepoints (attach_lsm) */
	bpf_program__set_autoattach(skel->progs.bprm_check, false);
	bpf_program__set_autoattach(skel->progs.mmap_file, false);
	bpf_program__set_autoattach(skel->progs.file_mprotect, false);
	if (sandguard_bpf__load(skel)) {
		sandguard_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

static int run(struct sandguard_bpf *skel, struct rec_hello *hello)
{
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring buffer: %s\n", strerror(errno));
		return 2;
	}
	int lost_fd = bpf_map__fd(skel->maps.lost), rc = 0;
	unsigned long long seen = 0;
	if (put(hello, sizeof(*hello)) || flush())
		rc = 1;
	while (!rc && !stopping) {
		int n = ring_buffer__poll(rb, POLL_MS);
		if (n < 0 && n != -EINTR) {
			rc = n == -EPIPE ? 1 : 2;
			break;
		}
		if (report_lost(lost_fd, &seen) || (used && flush()))
			rc = 1;
		if (n > 0 && !rc && !stopping)
			usleep(BUSY_NAP_US);
	}
	ring_buffer__free(rb);
	return rc == 1 ? 0 : rc; /* stdout closed: the collector is gone, not a failure */
}

int main(int argc, char **argv)
{
	if (argc != 2 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: %s COLLECTOR_PID\n", argv[0]);
		return 64;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	unsigned int pid = (unsigned int)atoi(argv[1]);
	struct rec_hello hello = {{REC_HELLO, sizeof(hello)}, RECORDS_VERSION, 0, 0, 0};
	struct sandguard_bpf *skel = load(pid, 1);
	if (!skel) {
		hello.lsm_err = -errno;
		fprintf(stderr, "load with lsm hooks failed (%s), loading without them\n", strerror(errno));
		skel = load(pid, 0);
	}
	if (!skel) {
		fprintf(stderr, "load failed: %s\n", strerror(errno));
		return 2;
	}
	if (sandguard_bpf__attach(skel)) {
		fprintf(stderr, "attach failed: %s\n", strerror(errno));
		sandguard_bpf__destroy(skel);
		return 2;
	}
	if (!hello.lsm_err)
		attach_lsm(skel, &hello);
	skel->bss->lsm_on = hello.lsm;
	int rc = run(skel, &hello);
	sandguard_bpf__destroy(skel);
	return rc;
}
