#!/usr/bin/env bash
# stack.sh up|down|status|scrape [--secure]: the compose stack of deploy/compose.yaml on this
# machine (Kafka, collector, enforcer, two processors, sink), with Debian's docker-compose.
#   up      builds the images, starts the stack, waits until every service is healthy and
#           prints ONE JSON line {"services": {"kafka": "healthy", ...}} (exit 1 if one is not;
#           a one-shot service that exited 0 shows "completed")
#   down    removes every container, network and volume of the stack, and its secrets
#   --secure  with deploy/compose.secure.yaml: Kafka on SASL_SSL only, one SCRAM identity per
#           component, ACLs; its CA, certificates, users and env files are made in
#           SANDGUARD_STACK_SECRETS (default $STATE/stack-<project>, 0700; files 0600), and
#           client.json there holds what a client on the host needs (bootstrap, CA, users)
#   status  the JSON line, without starting anything
#   scrape  every component's /metrics parsed as Prometheus text (one JSON line)
# Safe on a shared engine: the project name scopes everything, and the collector and the
# enforcer watch only containers labelled SANDGUARD_WATCH_LABEL (default
# sandguard-stack=<project>), never other sandboxes of this host.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$LOCAL/kafka-secure.sh"
PROJECT="${SANDGUARD_STACK_PROJECT:-sgstack}"
COMPOSE_FILES=(-f "$ROOT/deploy/compose.yaml")
[ "${2:-}" = --secure ] && COMPOSE_FILES+=(-f "$ROOT/deploy/compose.secure.yaml")
export SANDGUARD_STACK_SECRETS="${SANDGUARD_STACK_SECRETS:-$STATE/stack-$PROJECT}"
# The Kafka image's user: it reads the broker's key, its SCRAM users and properties.
KAFKA_UID=10001
# 420 s: Kafka up in ~10 s and every service healthy in ~35 s on a quiet machine; the rest is
# slack for 2 cores at a load average of 15 (measured: up to ~150 s).
UP_TIMEOUT_S="${SANDGUARD_STACK_TIMEOUT_S:-420}"
export SANDGUARD_STACK_KAFKA_PORT="${SANDGUARD_STACK_KAFKA_PORT:-19092}"
export SANDGUARD_WATCH_LABEL="${SANDGUARD_WATCH_LABEL:-sandguard-stack=$PROJECT}"
export SANDGUARD_HOST="${SANDGUARD_HOST:-$(hostname)}"
export DOCKER_GID="${DOCKER_GID:-$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)}"

compose() { docker-compose -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"; }

# make_secrets: the secured stack's CA, broker certificate (SAN: the service name kafka),
# SCRAM users and one env file per identity. Kept while the stack exists (Kafka made its
# users from them at its first format); down removes them.
make_secrets() {
  local dir="$SANDGUARD_STACK_SECRETS" user role
  [ -f "$dir/client.json" ] && return 0
  mkdir -p "$dir"; chmod 700 "$dir"
  secure_tls "$dir/tls" "DNS:kafka"
  secure_users
  ( umask 077
    for user in "${SECURE_USERS[@]}"; do
      role="${user#sandguard-}"
      printf 'SANDGUARD_KAFKA_USERNAME=%s\nSANDGUARD_KAFKA_PASSWORD=%s\n' "$user" "${PASSWORDS[$user]}" > "$dir/$role.env"
    done
    printf '%s\n' "${SCRAM_ARGS[@]}" | grep -vx -- --add-scram > "$dir/kafka-scram"
    sed -e "s#@TLS@#/run/secrets#g" -e "s#@INTER_BROKER@#internal#g" -e "s#@ADMIN_PASSWORD@#$ADMIN_PASSWORD#g" \
      "$ROOT/deploy/kafka/secure.properties.in" > "$dir/kafka-secure.properties"
    # Every SASL listener needs its own login section: the host's (EXTERNAL) the same.
    local external
    external=$(sed -n 's/^listener\.name\.internal\./listener.name.external./p' "$dir/kafka-secure.properties")
    echo "$external" >> "$dir/kafka-secure.properties" )
  chown "$KAFKA_UID" "$dir/tls/broker.pem" "$dir/kafka-scram" "$dir/kafka-secure.properties"
  client_json "$dir/client.json" "127.0.0.1:$SANDGUARD_STACK_KAFKA_PORT" "$dir/tls/ca.crt"
  log "secrets of $PROJECT made in $dir"
}

# remove_secrets: only the files make_secrets made (the directory may be the operator's).
remove_secrets() {
  local dir="$SANDGUARD_STACK_SECRETS"
  [ -d "$dir" ] || return 0
  rm -rf "$dir/tls"
  rm -f "$dir"/*.env "$dir/kafka-scram" "$dir/kafka-secure.properties" "$dir/client.json"
  rmdir "$dir" 2>/dev/null || log "$dir kept: it holds files that are not the stack's"
}

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
    if state.get("Health"):
        out[name] = state["Health"]["Status"]
    elif state["Status"] == "exited" and state["ExitCode"] == 0:
        out[name] = "completed"  # a one-shot service (bus-init) that did its job
    else:
        out[name] = state["Status"]
print(json.dumps({"services": dict(sorted(out.items()))}))'
}

all_healthy() {
  services_json | python3 -c '
import json, sys
s = json.load(sys.stdin)["services"]
sys.exit(0 if s and all(v in ("healthy", "completed") for v in s.values()) else 1)'
}

up() {
  command -v docker-compose >/dev/null || apt_install docker-compose
  "$LOCAL/build-images.sh"
  [ "${#COMPOSE_FILES[@]}" -gt 2 ] && make_secrets
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
  # compose.yaml alone, secured or not: what only the override adds (bus-init) is an orphan.
  COMPOSE_FILES=("${COMPOSE_FILES[@]:0:2}")
  compose --profile scrape down -v --remove-orphans >&2
  local left
  left=$( { docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
            docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
            docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT"; } | wc -l)
  [ "$left" -eq 0 ] || die "$left container(s), network(s) or volume(s) of $PROJECT left"
  remove_secrets
  log "stack $PROJECT removed"
}

case "${1:-}" in
  up) with_lock "stack-$PROJECT" up ;;
  down) with_lock "stack-$PROJECT" down ;;
  status) services_json ;;
  scrape) compose --profile scrape run --rm scrape ;;
  *) die "usage: stack.sh up|down|status|scrape [--secure]" ;;
esac
