# Shared settings for the local scripts (sourced, not run).
# Caches survive between runs on one machine; nothing here is needed across machines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/deploy/local"
CACHE="${SANDGUARD_CACHE:-/var/cache/sandguard}"
STATE="${SANDGUARD_STATE:-/var/lib/sandguard}"
VENV="${SANDGUARD_VENV:-$ROOT/.venv}"
mkdir -p "$CACHE" "$STATE"

log() { printf '[sandguard-local] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# apt_install PKG...: installs only the packages that are missing (second runs stay fast).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
}

# with_lock NAME CMD...: one at a time across processes (parallel test runs share the engine and broker).
with_lock() {
  local name="$1"; shift
  exec {lockfd}>"$STATE/$name.lock"
  flock "$lockfd"
  "$@"
  local rc=$?
  flock -u "$lockfd"
  return $rc
}
