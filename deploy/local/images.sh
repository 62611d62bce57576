#!/usr/bin/env bash
# images.sh: builds the sandbox images locally, with no registry (nothing can be pulled here).
#   sandguard/busybox:1   Debian's (dynamic) busybox with its libc (a few MB, starts fast)
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

# Debian's dynamic busybox, not busybox-static: the static build is "standalone"
# (FEATURE_SH_STANDALONE, FEATURE_PREFER_APPLETS), so its sh, find, xargs, nice... run
# applets in-process and `sh -c 'rm x'` never execs rm: the kernel layer could neither see
# nor stop a blocked applet. This one execs every applet through PATH (/bin/rm -> busybox,
# judged by its applet name). It needs the loader, libc and libresolv, taken from the same
# bookworm packages as the host's. A change of the recipe rebuilds the image.
BUSYBOX_RECIPE="busybox-dynamic-1"

busybox_deb() {
  local deb="$CACHE/busybox-deb"
  [ -x "$deb/bin/busybox" ] && { echo "$deb"; return 0; }
  local dl; dl=$(mktemp -d)
  (cd "$dl" && { apt-get download -q busybox >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get download -q busybox >/dev/null; }; }) \
    || die "could not download Debian's busybox package"
  rm -rf "$deb"; dpkg-deb -x "$dl"/busybox_*.deb "$deb"; rm -rf "$dl"
  echo "$deb"
}

build_busybox() {
  local built
  built=$(docker image inspect -f '{{ index .Config.Labels "sandguard.recipe" }}' "$BUSYBOX_IMAGE" 2>/dev/null || true)
  [ "$built" = "$BUSYBOX_RECIPE" ] && return 0
  local deb root lib
  deb=$(busybox_deb)
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc" "$root/lib/x86_64-linux-gnu" "$root/lib64"
  cp "$deb/bin/busybox" "$root/bin/busybox"
  for lib in libc.so.6 libresolv.so.2; do cp -L "/lib/x86_64-linux-gnu/$lib" "$root/lib/x86_64-linux-gnu/"; done
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\n' > "$root/etc/group"
  add_sandbox_user "$root"
  log "importing $BUSYBOX_IMAGE"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' \
    -c "LABEL sandguard.recipe=$BUSYBOX_RECIPE" - "$BUSYBOX_IMAGE" >/dev/null
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
