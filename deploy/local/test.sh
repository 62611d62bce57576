#!/usr/bin/env bash
# test.sh: the whole test suite, with all of its own set-up (packages, Docker engine,
# sandbox images, Kafka plain and secured, docker-compose), then lint (ruff), types (mypy --strict) and pytest.
# Extra arguments go to pytest, e.g. deploy/local/test.sh tests/unit -k policy
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$LOCAL/setup.sh"
"$LOCAL/docker.sh"
"$LOCAL/images.sh"
"$LOCAL/kernel.sh"
"$LOCAL/kafka.sh" start
# The secured broker (SASL_SSL + SCRAM, TLS, ACLs) of tests/integration/deploy/test_secure_bus.py.
SANDGUARD_KAFKA_SECURE=1 SANDGUARD_KAFKA_PORT=9192 SANDGUARD_KAFKA_CONTROLLER_PORT=9193 "$LOCAL/kafka.sh" start
export SANDGUARD_SECURE_KAFKA_DIR="$STATE/kafka-9192"
# docker-compose for the compose stack test (tests/integration/deploy/test_stack.py builds its images).
command -v docker-compose >/dev/null || apt_install docker-compose
"$LOCAL/chromium.sh"
cd "$ROOT"
log "ruff"
"$VENV/bin/ruff" check .
log "mypy --strict"
"$VENV/bin/mypy"
log "pytest"
export SANDGUARD_KAFKA_BOOTSTRAP="${SANDGUARD_KAFKA_BOOTSTRAP:-127.0.0.1:${SANDGUARD_KAFKA_PORT:-9092}}"
exec "$VENV/bin/pytest" "${@:-tests}"
