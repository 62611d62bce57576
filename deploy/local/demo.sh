#!/usr/bin/env bash
# demo.sh: the main job on the embedded default: a small live scenario of hardened
# sandboxes watched, judged and enforced in one process (no Kafka), with a report.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$LOCAL/setup.sh"
"$LOCAL/docker.sh"
"$LOCAL/images.sh"
"$LOCAL/kernel.sh"
cd "$ROOT"
exec "$VENV/bin/sandguard" demo "$@"
