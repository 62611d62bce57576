#!/usr/bin/env bash
# kafka.sh start|resume|stop|status|fetch — one KRaft broker+controller on 127.0.0.1 from Maven Central jars.
# start is idempotent: a broker already answering on the port is reused.
# SANDGUARD_KAFKA_SECURE=1: a secured broker instead (SASL_SSL + SCRAM, TLS, ACLs; see
# kafka-secure.sh); test.sh runs one on 127.0.0.1:9192 beside the plain one on 9092.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$LOCAL/kafka-secure.sh"
SECURE="${SANDGUARD_KAFKA_SECURE:-0}"
PORT="${SANDGUARD_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${SANDGUARD_KAFKA_CONTROLLER_PORT:-9093}"
LIBS="$CACHE/kafka-libs"
RUN="$STATE/kafka-$PORT"
# 60 s: startup measured at a few seconds; the slack covers a loaded 2-core machine.
START_TIMEOUT_S=60

fetch() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v java >/dev/null || apt_install default-jre-headless
  command -v mvn >/dev/null || apt_install maven
  log "fetching Kafka jars into $LIBS"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -B -q -f "$LOCAL/kafka/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.complete"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
running() { [ -f "$RUN/kafka.pid" ] && kill -0 "$(cat "$RUN/kafka.pid")" 2>/dev/null; }

# start: a fresh broker (new data directory). resume: the same broker and data, after a stop.
start() {
  local fresh="$1"
  if port_open "$PORT"; then log "kafka already answers on 127.0.0.1:$PORT"; return 0; fi
  fetch
  if [ "$fresh" = 1 ] || [ ! -f "$RUN/server.properties" ]; then
    [ -f "$RUN/kafka.out" ] && mv "$RUN/kafka.out" "$STATE/kafka-$PORT.out.prev"
    rm -rf "$RUN"; mkdir -p "$RUN/data"
    local template="$LOCAL/kafka/server.properties.in"
    SCRAM_ARGS=(); ADMIN_PASSWORD=""
    [ "$SECURE" = 1 ] && { template="$LOCAL/kafka/server-secure.properties.in"; secure_material "$RUN"; }
    local security=(); [ "$SECURE" = 1 ] && security=("$ROOT/deploy/kafka/secure.properties.in")
    cat "$template" "${security[@]}" | sed -e "s#@PORT@#$PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
        -e "s#@DATA@#$RUN/data#g" -e "s#@TLS@#$RUN/tls#g" -e "s#@ADMIN_PASSWORD@#$ADMIN_PASSWORD#g" \
        -e "s#@INTER_BROKER@#sasl_ssl#g" > "$RUN/server.properties"
    local toollog="-Dlog4j2.configurationFile=$LOCAL/kafka/tools-log4j2.properties"
    local cid; cid=$(java "$toollog" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)
    java "$toollog" -cp "$LIBS/*" kafka.tools.StorageTool format --standalone -t "$cid" \
        -c "$RUN/server.properties" "${SCRAM_ARGS[@]}" >&2
  fi
  log "starting kafka on 127.0.0.1:$PORT"
  [ -f "$RUN/kafka.out" ] && mv "$RUN/kafka.out" "$RUN/kafka.out.prev"  # kept for a post-mortem
  local heap=1g; [ "$SECURE" = 1 ] && heap=512m  # the secured broker serves a few tests only
  setsid nohup java "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      "-Dlog4j2.configurationFile=$LOCAL/kafka/log4j2.properties" -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" \
      > "$RUN/kafka.out" 2>&1 < /dev/null &
  echo $! > "$RUN/kafka.pid"
  local i
  for i in $(seq $((START_TIMEOUT_S * 2))); do
    if grep -q "Kafka Server started" "$RUN/kafka.out" && port_open "$PORT"; then log "kafka ready"; return 0; fi
    running || { tail -50 "$RUN/kafka.out" >&2; die "kafka exited during start"; }
    sleep 0.5
  done
  tail -50 "$RUN/kafka.out" >&2; die "kafka did not start in ${START_TIMEOUT_S}s"
}

stop() {
  running || { log "kafka not running"; return 0; }
  local pid; pid=$(cat "$RUN/kafka.pid")
  kill "$pid"   # SIGTERM runs the broker's shutdown hook: a clean stop
  local i; for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || { log "kafka stopped"; return 0; }; sleep 0.5; done
  kill -9 "$pid"; log "kafka killed after 30 s"
}

case "${1:-start}" in
  start) with_lock "kafka-$PORT" start 1 ;;
  resume) with_lock "kafka-$PORT" start 0 ;;
  stop) with_lock "kafka-$PORT" stop ;;
  fetch) with_lock kafka-fetch fetch ;;
  status) port_open "$PORT" && echo "up 127.0.0.1:$PORT" || { echo down; exit 1; } ;;
  *) die "usage: kafka.sh start|resume|stop|status|fetch" ;;
esac
