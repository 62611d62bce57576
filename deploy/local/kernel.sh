#!/usr/bin/env bash
# kernel.sh: what the kernel event source needs on this host: Debian's bpftrace and tracefs
# mounted at /sys/kernel/tracing. Idempotent (a second run only checks); the collector
# probes at start and falls back to the proc connector when this is not possible.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

setup_kernel() {
  if ! command -v bpftrace >/dev/null 2>&1; then
    # Other set-up scripts may hold the dpkg lock: wait for it rather than fail.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q bpftrace >/dev/null \
      || log "bpftrace not installable: the collector will use the proc connector"
  fi
  if ! mountpoint -q /sys/kernel/tracing; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null \
      || log "could not mount tracefs: the collector will use the proc connector"
  fi
  [ -e /sys/kernel/btf/vmlinux ] || log "no BTF at /sys/kernel/btf/vmlinux: no kernel-event fields by type"
}

with_lock kernel setup_kernel
