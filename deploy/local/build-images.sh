#!/usr/bin/env bash
# build-images.sh: sandguard's own images, built here with no registry:
#   sandguard:0.1.0       deploy/Dockerfile on sandguard/base:bookworm, installed offline from
#                         a wheelhouse that pip fills on this host (deploy/wheels/)
#   sandguard/collector:0.1.0  the same image, tagged for the collector (the kernel event
#                         source's static loader is in every image, built in a stage on
#                         sandguard/bpf-build:bookworm; only the collector runs it)
#   sandguard/kafka:4.1.1 deploy/kafka/Dockerfile on sandguard/jre-base:bookworm, with the
#                         Maven Central jars kafka.sh fetches
# Idempotent: the wheelhouse is refilled only when pyproject.toml changed, and docker's layer
# cache makes a rebuild of unchanged sources take seconds.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
APP_IMAGE="${SANDGUARD_IMAGE:-sandguard:0.1.0}"
KAFKA_IMAGE="${SANDGUARD_KAFKA_IMAGE:-sandguard/kafka:4.1.1}"
COLLECTOR_IMAGE="${SANDGUARD_COLLECTOR_IMAGE:-sandguard/collector:0.1.0}"
WHEELS="$ROOT/deploy/wheels"

wheelhouse() {
  local stamp="$WHEELS/.pyproject.sha256" sum
  sum=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
  [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ] && return 0
  log "filling the wheelhouse $WHEELS (pip wheel)"
  rm -f "$WHEELS"/*.whl
  # setuptools and wheel: the build backend, installed with no index inside the image too.
  "$VENV/bin/pip" wheel -q -w "$WHEELS" "$ROOT" "setuptools>=77" wheel >&2
  rm -f "$WHEELS"/sandguard-*.whl   # the image builds sandguard itself from the sources
  echo "$sum" > "$stamp"
}

build_app() {
  wheelhouse
  log "building $APP_IMAGE"
  DOCKER_BUILDKIT=0 docker build -q -f "$ROOT/deploy/Dockerfile" --build-arg BASE=sandguard/base:bookworm \
    --build-arg BPF_BUILD_BASE=sandguard/bpf-build:bookworm -t "$APP_IMAGE" "$ROOT" >/dev/null
  docker tag "$APP_IMAGE" "$COLLECTOR_IMAGE"
  # The legacy builder leaves the build stage and replaced images dangling: only ours go
  # (by the label every stage of deploy/Dockerfile carries), never another user's.
  docker image prune -f --filter label=sandguard.build=sandguard >/dev/null
}

build_kafka() {
  "$LOCAL/kafka.sh" fetch
  local ctx="$STATE/kafka-image"
  if [ ! -f "$ctx/libs/.complete" ]; then
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp -r "$CACHE/kafka-libs" "$ctx/libs"
  fi
  cp "$LOCAL/kafka/log4j2.properties" "$LOCAL/kafka/tools-log4j2.properties" \
     "$ROOT/deploy/kafka/entrypoint.sh" "$ROOT/deploy/kafka/Dockerfile" "$ctx/"
  log "building $KAFKA_IMAGE"
  DOCKER_BUILDKIT=0 docker build -q --build-arg BASE=sandguard/jre-base:bookworm -t "$KAFKA_IMAGE" "$ctx" >/dev/null
}

"$LOCAL/setup.sh"
"$LOCAL/base-images.sh" all
with_lock build-images build_app
with_lock build-images build_kafka
