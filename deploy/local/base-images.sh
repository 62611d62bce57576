#!/usr/bin/env bash
# base-images.sh: the base images of sandguard's own images, built from Debian packages
# (no registry can be reached here, so nothing is pulled):
#   sandguard/base:bookworm        debootstrap minbase + python3, python3-venv, ca-certificates
#   sandguard/jre-base:bookworm    debootstrap minbase + default-jre-headless (Kafka's runtime)
#   sandguard/bpf-build:bookworm   minbase + clang, libbpf-dev, bpftool... (deploy/Dockerfile's
#                                  stage that builds the kernel event source's static loader)
# Each debootstrap tree is cached; an image is imported only when missing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BASE_IMAGE=sandguard/base:bookworm
JRE_IMAGE=sandguard/jre-base:bookworm
BPF_IMAGE=sandguard/bpf-build:bookworm
# The non-root user of every sandguard component that can run without root.
APP_UID=10001

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# rootfs NAME PACKAGES: a cached debootstrap tree (about a minute the first time).
rootfs() {
  local root="$CACHE/$1-rootfs" packages="$2"
  if [ ! -f "$root/.complete" ]; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    rm -rf "$root"
    log "debootstrap (minbase + $packages) into $root"
    debootstrap --variant=minbase --include="$packages" bookworm "$root" >"$CACHE/$1-debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/$1-debootstrap.log" >&2; die "debootstrap $1 failed"; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
           "$root"/usr/share/man "$root"/usr/share/locale
    grep -q '^sandguard:' "$root/etc/passwd" || \
      echo "sandguard:x:$APP_UID:$APP_UID:sandguard:/var/lib/sandguard:/usr/sbin/nologin" >> "$root/etc/passwd"
    grep -q '^sandguard:' "$root/etc/group" || echo "sandguard:x:$APP_UID:" >> "$root/etc/group"
    touch "$root/.complete"
  fi
}

# import NAME IMAGE: the cached tree as an image (docker import: no registry, no builder).
import_rootfs() {
  local root="$CACHE/$1-rootfs"
  log "importing $2"
  tar -C "$root" --exclude=./.complete --exclude=./proc --exclude=./sys --exclude=./dev -c . \
    | docker import -c 'CMD ["/bin/bash"]' -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8' \
        - "$2" >/dev/null
}

build_base() {
  have_image "$BASE_IMAGE" && return 0
  rootfs base python3,python3-venv,ca-certificates
  import_rootfs base "$BASE_IMAGE"
}

build_bpf() {
  have_image "$BPF_IMAGE" && return 0
  rootfs bpf-build clang,llvm,libbpf-dev,bpftool,libelf-dev,zlib1g-dev,libzstd-dev,make,gcc,libc6-dev
  import_rootfs bpf-build "$BPF_IMAGE"
}

build_jre() {
  have_image "$JRE_IMAGE" && return 0
  rootfs jre default-jre-headless,ca-certificates
  import_rootfs jre "$JRE_IMAGE"
}

"$LOCAL/docker.sh"
case "${1:-all}" in
  base) with_lock base-images build_base ;;
  jre) with_lock base-images build_jre ;;
  bpf) with_lock base-images build_bpf ;;
  all) with_lock base-images build_base; with_lock base-images build_jre; with_lock base-images build_bpf ;;
  *) die "usage: base-images.sh [base|jre|bpf|all]" ;;
esac
