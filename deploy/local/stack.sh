#!/usr/bin/env bash
# stack.sh up|down|status|scrape [--secure]: the compose stack of deploy/compose.yaml on this
# machine (Kafka, collector, enforcer, two processors, sink), with Debian's docker-compose.
#   up      builds the images, starts the stack, waits until every service is healthy and
#           prints ONE JSON line {"services": {"kafka": "healthy", ...}} (exit 1 if one is not;
#           a one-shot service that exited 0 shows "completed")
#   down    removes every container, network and volume of the stack, and its secrets
#   rotate ROLE  (secured stack) a new password for ROLE's identity (collector, processor,
#           enforcer, sink, manager): on the broker, in its secret file and client.json; its
#           services recreated; prints the JSON line once healthy
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
ARGS=(); SECURE=0
for arg in "$@"; do if [ "$arg" = --secure ]; then SECURE=1; else ARGS+=("$arg"); fi; done
[ "${ARGS[0]:-}" = rotate ] && SECURE=1
COMPOSE_FILES=(-f "$ROOT/deploy/compose.yaml")
[ "$SECURE" = 1 ] && COMPOSE_FILES+=(-f "$ROOT/deploy/compose.secure.yaml")
export SANDGUARD_STACK_SECRETS="${SANDGUARD_STACK_SECRETS:-$STATE/stack-$PROJECT}"
# The Kafka image's user: it reads the broker's key, its SCRAM users and properties.
KAFKA_UID=10001
# Where a component finds its Kafka password (compose.secure.yaml mounts <role>.password
# there): SANDGUARD_KAFKA_PASSWORD_FILE, so no password is in any environment.
PASSWORD_SECRET=/run/secrets/kafka-password
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
      printf 'SANDGUARD_KAFKA_USERNAME=%s\nSANDGUARD_KAFKA_PASSWORD_FILE=%s\n' "$user" "$PASSWORD_SECRET" > "$dir/$role.env"
      printf '%s\n' "${PASSWORDS[$user]}" > "$dir/$role.password"
    done
    printf '%s\n' "${SCRAM_ARGS[@]}" | grep -vx -- --add-scram > "$dir/kafka-scram"
    sed -e "s#@TLS@#/run/secrets#g" -e "s#@INTER_BROKER@#internal#g" -e "s#@ADMIN_PASSWORD@#$ADMIN_PASSWORD#g" \
      "$ROOT/deploy/kafka/secure.properties.in" > "$dir/kafka-secure.properties"
    # Every SASL listener needs its own login section: the host's (EXTERNAL) the same.
    local external
    external=$(sed -n 's/^listener\.name\.internal\./listener.name.external./p' "$dir/kafka-secure.properties")
    echo "$external" >> "$dir/kafka-secure.properties" )
  chown "$KAFKA_UID" "$dir/tls/broker.pem" "$dir/kafka-scram" "$dir/kafka-secure.properties"
  # Each component reads its own password (0600): the collector runs as root (which, without
  # CAP_DAC_OVERRIDE, reads it as its owner), the others as KAFKA_UID.
  chown "$KAFKA_UID" "$dir"/*.password
  chown 0 "$dir/collector.password"
  client_json "$dir/client.json" "127.0.0.1:$SANDGUARD_STACK_KAFKA_PORT" "$dir/tls/ca.crt"
  log "secrets of $PROJECT made in $dir"
}

# remove_secrets: only the files make_secrets made (the directory may be the operator's).
remove_secrets() {
  local dir="$SANDGUARD_STACK_SECRETS"
  [ -d "$dir" ] || return 0
  rm -rf "$dir/tls"
  rm -f "$dir"/*.env "$dir"/*.password "$dir/kafka-scram" "$dir/kafka-secure.properties" "$dir/client.json"
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
  [ "$SECURE" = 1 ] && make_secrets
  log "starting the stack $PROJECT (Kafka on 127.0.0.1:$SANDGUARD_STACK_KAFKA_PORT)"
  compose up -d --no-build >&2 || { compose logs --tail 30 >&2 || true; services_json; die "docker-compose up failed"; }
  wait_healthy
}

# wait_healthy: the JSON line once every service is healthy (or completed), else the logs.
wait_healthy() {
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

# env_value FILE NAME: a variable's value in an env file.
env_value() { sed -n "s/^$2=//p" "$1"; }
# password ROLE: the password of ROLE's identity (its secret file).
password() { head -n1 "$SANDGUARD_STACK_SECRETS/$1.password"; }

# rotate ROLE: the broker's SCRAM credential first (ConfigCommand as admin in the Kafka
# container; the admin's login goes through stdin into the container's tmpfs, not argv),
# then the secret file, client.json and kafka-scram, then ROLE's services recreated (a new
# login: a component reads its password file once, at start). The admin's own password is
# the broker's login too: rotate it by down/up.
rotate() {
  local role="$1" dir="$SANDGUARD_STACK_SECRETS" user new services
  [ "$role" != admin ] || die "admin is the broker's own login: stack.sh down, then up --secure"
  [ -f "$dir/$role.env" ] || die "no identity $role in $dir (stack.sh up --secure first)"
  user=$(env_value "$dir/$role.env" SANDGUARD_KAFKA_USERNAME)
  new=$(openssl rand -hex 16)
  printf '%s\n' security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512 ssl.truststore.type=PEM \
    ssl.truststore.location=/run/secrets/ca.crt "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$(password admin)\";" \
    | compose exec -T kafka bash -c 'umask 077 && cat > /tmp/admin.properties'
  compose exec -T kafka java -Dlog4j2.configurationFile=/opt/kafka/tools-log4j2.properties -cp '/opt/kafka/libs/*' \
    kafka.admin.ConfigCommand --bootstrap-server kafka:9092 --command-config /tmp/admin.properties \
    --alter --entity-type users --entity-name "$user" --add-config "SCRAM-SHA-512=[password=$new]" >&2
  compose exec -T kafka rm -f /tmp/admin.properties
  printf '%s\n' "$new" > "$dir/$role.password"  # in place: mode and owner stay
  sed -i "s/^\(SCRAM-SHA-512=\[name=$user,password=\)[0-9a-f]*\]/\1$new]/" "$dir/kafka-scram"
  python3 -c 'import json, sys; p, u, pw = sys.argv[1:]; c = json.load(open(p)); c["users"][u] = pw; open(p, "w").write(json.dumps(c) + "\n")' \
    "$dir/client.json" "$user" "$new"
  log "password of $user rotated"
  services=$(compose config --services | grep -E "^$role(-[0-9]+)?\$" || true)
  # shellcheck disable=SC2086  # one word per service
  [ -z "$services" ] || compose up -d --no-deps $services >&2
  wait_healthy
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

case "${ARGS[0]:-}" in
  up) with_lock "stack-$PROJECT" up ;;
  down) with_lock "stack-$PROJECT" down ;;
  rotate) [ -n "${ARGS[1]:-}" ] || die "usage: stack.sh rotate ROLE"; with_lock "stack-$PROJECT" rotate "${ARGS[1]}" ;;
  status) services_json ;;
  scrape) compose --profile scrape run --rm scrape ;;
  *) die "usage: stack.sh up|down|status|scrape [--secure] | rotate ROLE" ;;
esac
