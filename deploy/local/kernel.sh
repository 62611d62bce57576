#!/usr/bin/env bash
# kernel.sh: what the kernel event source needs on this host: the CO-RE BPF program and
# its static loader (collectors/kernel/bpf, built with clang/libbpf from Debian), installed
# at /usr/local/libexec/sandguard/sandguard-kernel-loader (the collector's default; the
# setting SANDGUARD_KERNEL_LOADER points elsewhere), and tracefs mounted at
# /sys/kernel/tracing (libbpf reads tracepoint ids there). Idempotent: the loader is
# rebuilt only when its sources change. The collector probes at start and falls back to
# the proc connector when this is not possible.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BPF_SRC="$ROOT/collectors/kernel/bpf"
LOADER_DIR="${SANDGUARD_LOADER_DIR:-/usr/local/libexec/sandguard}"
LOADER="$LOADER_DIR/sandguard-kernel-loader"
BUILD_PACKAGES=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev make gcc)

sources_hash() {
  (cd "$BPF_SRC" && cat Makefile ./*.c ./*.h) | sha256sum | cut -d' ' -f1
}

build_loader() {
  local want; want="$(sources_hash)"
  if [ -x "$LOADER" ] && [ "$(cat "$LOADER_DIR/.sources.sha256" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  apt_install "${BUILD_PACKAGES[@]}" || { log "BPF build tools not installable: the collector will use the proc connector"; return 0; }
  local out="$CACHE/kernel-loader/$want"
  log "building the kernel loader into $out"
  make -s -C "$BPF_SRC" OUT="$out" >&2 || { log "the kernel loader did not build: the collector will use the proc connector"; return 0; }
  mkdir -p "$LOADER_DIR"
  install -m 0755 "$out/sandguard-kernel-loader" "$LOADER.new" && mv -f "$LOADER.new" "$LOADER"
  echo "$want" > "$LOADER_DIR/.sources.sha256"
}

setup_kernel() {
  [ -e /sys/kernel/btf/vmlinux ] || { log "no BTF at /sys/kernel/btf/vmlinux: the collector will use the proc connector"; return 0; }
  build_loader
  if ! mountpoint -q /sys/kernel/tracing; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null \
      || log "could not mount tracefs: the collector will use the proc connector"
  fi
}

with_lock kernel setup_kernel
