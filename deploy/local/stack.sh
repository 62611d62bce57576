#!/usr/bin/env bash
# stack.sh up|down|status|scrape: the compose stack of deploy/compose.yaml on this machine
# (Kafka, collector, enforcer, two processors, sink), with Debian's docker-compose.
#   up      builds the images, starts the stack, waits until every service is healthy and
#           prints ONE JSON line {"services": {"kafka": "healthy", ...}} (exit 1 if one is not)
#   down    removes every container, network and volume of the stack
#   status  the JSON line, without starting anything
#   scrape  every component's /metrics parsed as Prometheus text (one JSON line)
# Safe on a shared engine: the project name scopes everything, and the collector and the
# enforcer watch only containers labelled SANDGUARD_WATCH_LABEL (default
# sandguard-stack=<project>), never other sandboxes of this host.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PROJECT="${SANDGUARD_STACK_PROJECT:-sgstack}"
COMPOSE_FILE="$ROOT/deploy/compose.yaml"
# 420 s: Kafka up in ~10 s and every service healthy in ~35 s on a quiet machine; the rest is
# slack for 2 cores at a load average of 15 (measured: up to ~150 s).
UP_TIMEOUT_S="${SANDGUARD_STACK_TIMEOUT_S:-420}"
export SANDGUARD_STACK_KAFKA_PORT="${SANDGUARD_STACK_KAFKA_PORT:-19092}"
export SANDGUARD_WATCH_LABEL="${SANDGUARD_WATCH_LABEL:-sandguard-stack=$PROJECT}"
export SANDGUARD_HOST="${SANDGUARD_HOST:-$(hostname)}"
export DOCKER_GID="${DOCKER_GID:-$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)}"

compose() { docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }

# services_json: {"services": {name: health}} of the stack's containers.
services_json() {
  local ids; ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
  [ -z "$ids" ] && { echo '{"services": {}}'; return 0; }
  # shellcheck disable=SC2086
  docker inspect $ids | python3 -c '
import json, sys
out = {}
for c in json.load(sys.stdin):
    name = c["Config"]["Labels"].get("com.docker.compose.service", c["Name"])
    state = c["State"]
    out[name] = state.get("Health", {}).get("Status") if state.get("Health") else state["Status"]
print(json.dumps({"services": dict(sorted(out.items()))}))'
}

all_healthy() {
  services_json | python3 -c '
import json, sys
s = json.load(sys.stdin)["services"]
sys.exit(0 if s and all(v == "healthy" for v in s.values()) else 1)'
}

up() {
  command -v docker-compose >/dev/null || apt_install docker-compose
  "$LOCAL/build-images.sh"
  log "starting the stack $PROJECT (Kafka on 127.0.0.1:$SANDGUARD_STACK_KAFKA_PORT)"
  compose up -d --no-build >&2 || { compose logs --tail 30 >&2 || true; services_json; die "docker-compose up failed"; }
  local deadline=$((SECONDS + UP_TIMEOUT_S))
  until all_healthy; do
    if [ $SECONDS -ge $deadline ]; then
      compose logs --tail 30 >&2 || true
      services_json; die "the stack is not healthy after ${UP_TIMEOUT_S}s"
    fi
    sleep 2
  done
  services_json
}

down() {
  command -v docker-compose >/dev/null || apt_install docker-compose
  compose --profile scrape down -v --remove-orphans >&2
  local left
  left=$( { docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
            docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
            docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"; } | wc -l)
  [ "$left" -eq 0 ] || die "$left container(s), network(s) or volume(s) of $PROJECT left"
  log "stack $PROJECT removed"
}

case "${1:-}" in
  up) with_lock "stack-$PROJECT" up ;;
  down) with_lock "stack-$PROJECT" down ;;
  status) services_json ;;
  scrape) compose --profile scrape run --rm scrape ;;
  *) die "usage: stack.sh up|down|status|scrape" ;;
esac
