#!/usr/bin/env bash
# images.sh: builds the sandbox images locally, with no registry (nothing can be pulled here).
#   sandguard/busybox:1   a rootfs of Debian's busybox-static (a few MB, starts fast)
#   sandguard/python:3    debootstrap minbase + Debian's python3 with the full standard library
# Each image is built only when missing; the debootstrap tree is cached, so a rebuild takes seconds.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BUSYBOX_IMAGE=sandguard/busybox:1
PYTHON_IMAGE=sandguard/python:3
SANDBOX_UID=1000

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Every sandbox runs as this user, with /work as its home and workspace.
add_sandbox_user() {
  local root="$1"
  grep -q '^sandbox:' "$root/etc/passwd" 2>/dev/null || \
    echo "sandbox:x:$SANDBOX_UID:$SANDBOX_UID:sandbox:/work:/bin/sh" >> "$root/etc/passwd"
  grep -q '^sandbox:' "$root/etc/group" 2>/dev/null || echo "sandbox:x:$SANDBOX_UID:" >> "$root/etc/group"
  mkdir -p "$root/work" "$root/tmp"; chmod 1777 "$root/tmp"
}

build_busybox() {
  have_image "$BUSYBOX_IMAGE" && return 0
  apt_install busybox-static  # static: the image has no libc
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\n' > "$root/etc/group"
  add_sandbox_user "$root"
  log "importing $BUSYBOX_IMAGE"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$root"
}

# The python image's packages: a change rebuilds the cached rootfs and the image (the
# detection tests need gawk, socat and netcat; an image built from an older list lacks them).
PYTHON_PACKAGES="python3,gawk,socat,netcat-openbsd,bzip2,xz-utils"

build_python() {
  local built
  built=$(docker image inspect -f '{{ index .Config.Labels "sandguard.packages" }}' "$PYTHON_IMAGE" 2>/dev/null || true)
  [ "$built" = "$PYTHON_PACKAGES" ] && return 0
  local root="$CACHE/python-rootfs"
  if [ "$(cat "$root/.complete" 2>/dev/null)" != "$PYTHON_PACKAGES" ]; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    rm -rf "$root"
    log "debootstrap (minbase + python3) into $root, about a minute"
    debootstrap --variant=minbase --include="$PYTHON_PACKAGES" bookworm "$root" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
    # Caches and docs are not needed in a sandbox image; this halves it.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
           "$root"/usr/share/man "$root"/usr/share/locale
    add_sandbox_user "$root"
    echo "$PYTHON_PACKAGES" > "$root/.complete"
  fi
  log "importing $PYTHON_IMAGE"
  tar -C "$root" --exclude=./.complete --exclude=./proc --exclude=./sys --exclude=./dev -c . \
    | docker import -c 'CMD ["/bin/sh"]' -c "LABEL sandguard.packages=$PYTHON_PACKAGES" \
        -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8' \
        - "$PYTHON_IMAGE" >/dev/null
}

with_lock images build_busybox
with_lock images build_python
