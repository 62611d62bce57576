#!/usr/bin/env bash
# test.sh: the whole test suite, with all of its own set-up (packages, Docker engine,
# sandbox images, Kafka), then lint (ruff), types (mypy --strict) and pytest.
# Extra arguments go to pytest, e.g. deploy/local/test.sh tests/unit -k policy
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$LOCAL/setup.sh"
"$LOCAL/docker.sh"
"$LOCAL/images.sh"
"$LOCAL/kernel.sh"
"$LOCAL/kafka.sh" start
"$LOCAL/chromium.sh"
cd "$ROOT"
log "ruff"
"$VENV/bin/ruff" check .
log "mypy --strict"
"$VENV/bin/mypy"
log "pytest"
export SANDGUARD_KAFKA_BOOTSTRAP="${SANDGUARD_KAFKA_BOOTSTRAP:-127.0.0.1:${SANDGUARD_KAFKA_PORT:-9092}}"
exec "$VENV/bin/pytest" "${@:-tests}"
