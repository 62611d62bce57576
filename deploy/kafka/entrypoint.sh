#!/usr/bin/env bash
# The broker's configuration from the environment, storage formatted on first start, then
# the broker in the foreground (SIGTERM reaches the JVM: a clean shutdown).
#   KAFKA_LISTENERS              name://host:port,...  (CONTROLLER is added on loopback)
#   KAFKA_ADVERTISED_LISTENERS   what clients are told
#   KAFKA_SECURITY_PROTOCOL_MAP  name:protocol,...     (CONTROLLER:$KAFKA_CONTROLLER_PROTOCOL is added)
#   KAFKA_CONTROLLER_PROTOCOL    the controller listener's (loopback of the container):
#                                PLAINTEXT (default) or SSL (client certificates: the
#                                broker's own, principal User:CN=<its CN>)
#   KAFKA_INTER_BROKER_LISTENER  default: the first listener's name
#   KAFKA_CLUSTER_ID             default: a random one at the first format
#   KAFKA_EXTRA_PROPERTIES       a file appended to server.properties (TLS, SASL, ACLs)
#   KAFKA_SCRAM_FILE             SCRAM users created at the first format, one a line:
#                                SCRAM-SHA-512=[name=<user>,password=<password>]
#   KAFKA_HEAP_OPTS              default -Xms256m -Xmx512m
set -euo pipefail
K=/opt/kafka; CONF=/var/lib/kafka/server.properties; DATA=/var/lib/kafka/data
CONTROLLER=127.0.0.1:9093
LISTENERS="${KAFKA_LISTENERS:-PLAINTEXT://0.0.0.0:9092}"
ADVERTISED="${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://127.0.0.1:9092}"
PROTOCOLS="${KAFKA_SECURITY_PROTOCOL_MAP:-PLAINTEXT:PLAINTEXT}"
FIRST="${LISTENERS%%:*}"
cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$CONTROLLER
controller.listener.names=CONTROLLER
listeners=$LISTENERS,CONTROLLER://$CONTROLLER
advertised.listeners=$ADVERTISED
listener.security.protocol.map=$PROTOCOLS,CONTROLLER:${KAFKA_CONTROLLER_PROTOCOL:-PLAINTEXT}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER:-$FIRST}
log.dirs=$DATA
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=1
share.coordinator.state.topic.num.partitions=1
PROPS
[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ] && cat "$KAFKA_EXTRA_PROPERTIES" >> "$CONF"
TOOLLOG="-Dlog4j2.configurationFile=$K/tools-log4j2.properties"
if [ ! -f "$DATA/meta.properties" ]; then
  cid="${KAFKA_CLUSTER_ID:-$(java "$TOOLLOG" -cp "$K/libs/*" kafka.tools.StorageTool random-uuid)}"
  scram=()
  if [ -n "${KAFKA_SCRAM_FILE:-}" ]; then
    while IFS= read -r user || [ -n "$user" ]; do [ -n "$user" ] && scram+=(--add-scram "$user"); done < "$KAFKA_SCRAM_FILE"
  fi
  java "$TOOLLOG" -cp "$K/libs/*" kafka.tools.StorageTool format --standalone -t "$cid" -c "$CONF" "${scram[@]}"
fi
# shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several flags
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
  "-Dlog4j2.configurationFile=$K/log4j2.properties" -cp "$K/libs/*" kafka.Kafka "$CONF"
