#!/usr/bin/env bash
# docker.sh: Debian's docker.io installed when missing; dockerd started when its socket does not answer.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# 60 s: dockerd answers in ~1 s here; the rest is slack for a loaded machine.
START_TIMEOUT_S=60

command -v dockerd >/dev/null || apt_install docker.io
command -v iptables >/dev/null || apt_install iptables
# Disk workspaces (sandbox/workspace.py): ext4 images made by mkfs.ext4 and debugfs, attached
# with losetup; the kernel's loop driver must be there (modprobe is a no-op when built in).
command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null || apt_install e2fsprogs
command -v losetup >/dev/null || apt_install mount
[ -e /dev/loop-control ] || modprobe loop 2>/dev/null || log "no /dev/loop-control: disk workspaces need the loop driver"
start_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  log "starting dockerd"
  setsid nohup dockerd >"$STATE/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq $((START_TIMEOUT_S * 2))); do
    docker info >/dev/null 2>&1 && { log "dockerd ready"; return 0; }
    sleep 0.5
  done
  tail -30 "$STATE/dockerd.log" >&2
  die "dockerd did not answer in ${START_TIMEOUT_S}s"
}
with_lock dockerd start_dockerd
