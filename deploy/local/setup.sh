#!/usr/bin/env bash
# setup.sh: the Python environment (a venv in the project, the package and its dev tools).
# Re-installs only when pyproject.toml changed since the last install.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || apt_install python3 python3-venv
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PY" -m venv "$VENV"; }
fi
stamp="$VENV/.sandguard-installed"
sum=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  log "installing sandguard and its dev tools into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e "$ROOT[dev]"
  echo "$sum" > "$stamp"
fi
