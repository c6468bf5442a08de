#!/usr/bin/env bash
# kafka.sh: Apache Kafka (KRaft, one combined broker+controller node) for tests,
# benchmarks and `./kubemend up`, run with the machine's Java 17 from jars that
# Maven resolves once from Maven Central into ~/.cache/kubemend/kafka-<version>/.
#
#   scripts/kafka.sh fetch                 resolve the jars (idempotent)
#   scripts/kafka.sh start DIR [PORT]      format DIR/kafka (first time) and start; prints host:port
#   scripts/kafka.sh stop DIR              SIGTERM, then SIGKILL after 20 s
#   scripts/kafka.sh create-topic DIR NAME PARTITIONS [key=value...]
#   scripts/kafka.sh acls DIR PREFIX GROUP_PREFIX
#                                          the least-privilege ACLs of the five services (SASL)
#
# KAFKA_SASL=1 at the first start makes a broker that authenticates every
# client (SASL/PLAIN, one user per service, passwords in DIR/kafka/users) and
# authorises with ACLs (StandardAuthorizer, nothing allowed without an ACL).
# Clients: DIR/kafka/client-<user>.properties (librdkafka keys).
#
# The data directory survives stop/start (the fault suite relies on that).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/tools/kafka/pom.xml")
CACHE=${KUBEMEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubemend}
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
JAVA=${JAVA:-java}

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  command -v mvn >/dev/null || die "mvn not found (Maven resolves Kafka from Maven Central)"
  echo "kafka.sh: resolving Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME" >&2
  rm -rf "$KAFKA_HOME.tmp"
  (cd /tmp && mvn -q -B -f "$ROOT/tools/kafka/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME.tmp/libs" -DincludeScope=runtime >&2) \
    || die "maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
  rm -rf "$KAFKA_HOME"; mv "$KAFKA_HOME.tmp" "$KAFKA_HOME"
  touch "$KAFKA_HOME/.complete"
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    # Below the kernel's ephemeral range, so that no client connection can
    # hold the port when a listener (re)binds it (a restarted broker keeps its ports).
    p=$((10000 + RANDOM % ($(cut -f1 /proc/sys/net/ipv4/ip_local_port_range) - 10000)))
    if ! ss -Hltn "sport = :$p" | grep -q .; then echo "$p"; return; fi
  done
  die "no free port found"
}

# The JVM: serial GC and the C1 compiler only start fast and idle cheaply,
# and in the benchmarks' runs of a few minutes they also cost the broker less
# CPU per message than full tiered compilation with the parallel GC (bench/
# README.md). KAFKA_JVM_OPTS replaces them.
java_run() {  # java_run MAINCLASS ARGS...: the broker's classpath, small heap (execs: run in a subshell)
  exec "$JAVA" ${KAFKA_HEAP_OPTS:--Xms32m -Xmx256m} ${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$DIR/kafka/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

SASL_USERS=(admin collector analyzer safety-gate executor audit)

# SASL: one password per user, kept across restarts.
write_users() {
  [ -f "$DIR/kafka/users" ] && return 0
  local u
  for u in "${SASL_USERS[@]}"; do
    echo "$u $(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  done >"$DIR/kafka/users"
  chmod 600 "$DIR/kafka/users"
}

password_of() { awk -v u="$1" '$1 == u { print $2 }' "$DIR/kafka/users"; }

write_client_configs() {
  local u p
  for u in "${SASL_USERS[@]}"; do
    p=$(password_of "$u")
    # librdkafka keys (the services' kafka.properties)
    printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=%s\nsasl.password=%s\n' \
      "$u" "$p" >"$DIR/kafka/client-$u.properties"
  done
  # Java admin tools
  p=$(password_of admin)
  cat >"$DIR/kafka/admin-java.properties" <<JAVA
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$p";
JAVA
  chmod 600 "$DIR"/kafka/client-*.properties "$DIR/kafka/admin-java.properties"
}

write_config() {
  local port=$1 cport=$2 proto=PLAINTEXT
  mkdir -p "$DIR/kafka/data"
  [ -f "$DIR/kafka/sasl" ] && proto=SASL_PLAINTEXT
  cat >"$DIR/kafka/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$proto://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$proto://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=$proto
listener.security.protocol.map=$proto:$proto,CONTROLLER:PLAINTEXT
log.dirs=$DIR/kafka/data
num.partitions=8
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.min.session.timeout.ms=1000
group.classic.min.session.timeout.ms=1000
log.retention.hours=168
log.segment.bytes=67108864
# The log cleaner (compaction of __consumer_offsets) allocates this buffer on
# the heap at start; the default 128 MiB alone would be most of a small heap.
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
PROPS
  if [ "$proto" = SASL_PLAINTEXT ]; then
    local jaas="org.apache.kafka.common.security.plain.PlainLoginModule required" u
    jaas+=" username=\"admin\" password=\"$(password_of admin)\""
    for u in "${SASL_USERS[@]}"; do jaas+=" user_$u=\"$(password_of "$u")\""; done
    cat >>"$DIR/kafka/server.properties" <<PROPS
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# ANONYMOUS: the controller listener (loopback, plaintext) in this one-node setup.
super.users=User:admin;User:ANONYMOUS
auto.create.topics.enable=false
PROPS
  fi
  cat >"$DIR/kafka/log4j2.properties" <<'LOG'
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.server.name = kafka.server.KafkaServer
logger.server.level = INFO
LOG
}

start() {
  DIR=$1
  local port=${2:-} cport id
  fetch
  mkdir -p "$DIR/kafka"
  if [ -f "$DIR/kafka/port" ]; then  # a restart keeps its address and data
    port=$(cat "$DIR/kafka/port"); cport=$(cat "$DIR/kafka/cport")
  else
    [ -n "$port" ] || port=$(free_port)
    cport=$(free_port)
    echo "$port" >"$DIR/kafka/port"; echo "$cport" >"$DIR/kafka/cport"
  fi
  if [ "${KAFKA_SASL:-0}" = 1 ] && [ ! -f "$DIR/kafka/data/meta.properties" ]; then
    touch "$DIR/kafka/sasl"
  fi
  if [ -f "$DIR/kafka/sasl" ]; then write_users; write_client_configs; fi
  write_config "$port" "$cport"
  if [ ! -f "$DIR/kafka/data/meta.properties" ]; then
    # Like Kafka's own Uuid.randomUuid: never an id starting with "-", which
    # the storage tool would read as an option (1 start in 64 failed so).
    id=$(python3 -c 'import base64,uuid
while True:
    i = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not i.startswith("-"):
        break
print(i)')
    (java_run -Dkafka.logs.dir="$DIR/kafka" kafka.tools.StorageTool format -t "$id" \
      -c "$DIR/kafka/server.properties") >"$DIR/kafka/format.log" 2>&1 \
      || die "formatting the log dir failed: see $DIR/kafka/format.log"
  fi
  [ -f "$DIR/kafka/broker.log" ] && cat "$DIR/kafka/broker.log" >>"$DIR/kafka/broker.log.old"
  rm -f "$DIR/kafka/broker.log"
  (java_run -Dkafka.logs.dir="$DIR/kafka" kafka.Kafka "$DIR/kafka/server.properties") \
    >"$DIR/kafka/stdout.log" 2>&1 &
  echo $! >"$DIR/kafka/pid"
  local until=$((SECONDS + 90))
  until grep -q "Kafka Server started\|KafkaRaftServer.*started\|Transition from STARTING to STARTED" \
      "$DIR/kafka/broker.log" "$DIR/kafka/stdout.log" 2>/dev/null; do
    kill -0 "$(cat "$DIR/kafka/pid")" 2>/dev/null || die "broker exited: see $DIR/kafka/broker.log and stdout.log"
    ((SECONDS < until)) || die "broker did not start within 90 s: see $DIR/kafka/broker.log"
    sleep 0.2
  done
  echo "127.0.0.1:$port"
}

stop() {
  DIR=$1
  local pid
  [ -f "$DIR/kafka/pid" ] || return 0
  pid=$(cat "$DIR/kafka/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/kafka/pid"
}

admin_args() {  # --command-config for a SASL broker
  [ -f "$DIR/kafka/sasl" ] && echo "--command-config $DIR/kafka/admin-java.properties"
}

create_topic() {  # create_topic DIR NAME PARTITIONS [key=value...]
  DIR=$1; local name=$2 parts=$3; shift 3
  local cfg=() kv
  for kv in "$@"; do cfg+=(--config "$kv"); done
  # shellcheck disable=SC2046
  (mkdir -p "$DIR/kafka/tools"; java_run -Dkafka.logs.dir="$DIR/kafka/tools" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$(cat "$DIR/kafka/port")" $(admin_args) --create --if-not-exists \
    --topic "$name" --partitions "$parts" --replication-factor 1 "${cfg[@]}") >&2
}

# The bus enforces the pipeline: each service may read what it consumes and
# write only what it produces, so only the gate can write decisions and only
# the executor outcomes. Every service may write control (refused admin calls
# are audited there) and deadletter, and describe the control topic's
# settings (checked at start). Topics are created here, by the admin, since
# no service may create them.
acls() {
  DIR=$1; local prefix=$2 groups=$3
  [ -f "$DIR/kafka/sasl" ] || die "acls: the broker in $DIR does not use SASL"
  local t spec
  for t in signals proposals decisions outcomes control deadletter; do
    spec=()
    [ "$t" = control ] && spec=(retention.ms=-1)
    [ "$t" = deadletter ] && spec=(retention.ms=2592000000)
    create_topic "$DIR" "$prefix$t" 8 "${spec[@]}" &
  done
  wait
  # One AclCommand (one JVM) per call: several principals, operations and
  # resources at once.
  acl() {  # acl PRINCIPALS OPERATIONS RESOURCE-ARGS...   (space-separated lists)
    local args=() x
    for x in $1; do args+=(--allow-principal "User:$x"); done
    for x in $2; do args+=(--operation "$x"); done
    shift 2
    # shellcheck disable=SC2046
    (java_run -Dkafka.logs.dir="$DIR/kafka/tools" org.apache.kafka.tools.AclCommand \
      --bootstrap-server "127.0.0.1:$(cat "$DIR/kafka/port")" $(admin_args) --add --force \
      "${args[@]}" "$@") >/dev/null
  }
  local all="collector analyzer safety-gate executor audit"
  topics() { local t out=(); for t in "$@"; do out+=(--topic "$prefix$t"); done; echo "${out[@]}"; }
  acl "$all" Describe --topic "$prefix" --resource-pattern-type prefixed
  # shellcheck disable=SC2046
  acl "$all" "Write DescribeConfigs" $(topics control deadletter)
  acl "$all" IdempotentWrite --cluster
  # the services' groups, and the state followers' (they never join)
  acl "$all" Read --group "$groups" --group kubemend- --resource-pattern-type prefixed
  # shellcheck disable=SC2046
  {
    acl collector Write $(topics signals)
    acl analyzer Write $(topics proposals)
    acl safety-gate Write $(topics decisions)
    acl executor Write $(topics outcomes)
    acl analyzer Read $(topics signals decisions outcomes control)
    acl safety-gate Read $(topics proposals decisions outcomes control signals)
    acl executor Read $(topics decisions outcomes control)
    acl audit Read $(topics signals proposals decisions outcomes control deadletter)
  }
}

case ${1:-} in
  create-topic) shift; create_topic "$@" ;;
  acls) shift; acls "$@" ;;
  fetch) fetch ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  home) fetch; echo "$KAFKA_HOME" ;;
  *) die "usage: kafka.sh fetch|start DIR [PORT]|stop DIR|home" ;;
esac
