#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft) broker for development and CI, assembled
# from Maven Central jars. No Docker, no Apache download site.
#
#   kafka.sh fetch    resolve the broker jars into the cache (once)
#   kafka.sh start    fetch if needed, format storage once, start, wait until ready;
#                     prints exactly one stdout line: KAFKA_BROKERS=127.0.0.1:<port>
#   kafka.sh stop     SIGTERM, wait up to 30 s, then SIGKILL (idempotent)
#   kafka.sh status   exit 0 and print the KAFKA_BROKERS line if running, else exit 1
#   kafka.sh reset    stop and delete the data dir
#   kafka.sh format   write server.properties and format the storage if it is
#                     not formatted yet (start does this too), without starting
#   kafka.sh tool NAME ARGS…
#                     run one of Kafka's operator tools against the broker on
#                     KAFKA_PORT (consumer-groups, topics, console-consumer,
#                     get-offsets); --bootstrap-server is added unless given
#
# Variables: ONESTOP_CACHE_DIR (default ~/.cache/onestop), KAFKA_PORT (19092),
# KAFKA_CONTROLLER_PORT (port+1), KAFKA_DATA_DIR (<cache>/kafka-data-<port>),
# KAFKA_START_TIMEOUT (90 s), KAFKA_HEAP (512m), KAFKA_CLUSTER_ID (a fixed
# cluster id for the first format instead of a random one), JAVA_HOME.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/pom.xml"
LOG4J_CONFIG="$HERE/log4j2.properties"
TOOLS_LOG4J_CONFIG="$HERE/tools-log4j2.properties"

# Absolute paths: they end up in server.properties and the broker's command line.
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
CACHE_DIR="$(abspath "${ONESTOP_CACHE_DIR:-$HOME/.cache/onestop}")"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
[[ -n "$KAFKA_VERSION" ]] || { echo "kafka.sh: cannot read <kafka.version> from $POM" >&2; exit 2; }
DIST_DIR="$CACHE_DIR/kafka-$KAFKA_VERSION"
LIB_DIR="$DIST_DIR/lib"
MARKER="$DIST_DIR/.complete"

PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
DATA_DIR="$(abspath "${KAFKA_DATA_DIR:-$CACHE_DIR/kafka-data-$PORT}")"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
HEAP="${KAFKA_HEAP:-512m}"
PID_FILE="$DATA_DIR/kafka.pid"
LOG_FILE="$DATA_DIR/kafka.log"
PROPS="$DATA_DIR/server.properties"
READY_LINE="Kafka Server started"

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="java"; fi

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# The marker holds a hash of pom.xml: a changed POM means a new download.
pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

fetched() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "$(pom_hash)" && -d "$LIB_DIR" ]]; }

cmd_fetch() {
  if fetched; then
    log "jars for Kafka $KAFKA_VERSION already in $LIB_DIR"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven is needed to fetch the Kafka jars)"
  mkdir -p "$DIST_DIR"
  rm -f "$MARKER"
  local tmp="$DIST_DIR/lib.tmp.$$" old
  # Leftovers of an interrupted fetch (whose process is gone).
  for old in "$DIST_DIR"/lib.tmp.*; do
    [[ -e "$old" ]] || continue
    kill -0 "${old##*.}" 2>/dev/null || rm -rf "$old"
  done
  rm -rf "$tmp"
  log "fetching Kafka $KAFKA_VERSION jars into $LIB_DIR"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >&2; then
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed"
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "no kafka_2.13 jar was fetched"; }
  # Swap by two renames, not a long delete: a broker running from the old
  # folder opens some jars late, and finds them (same names) in the new one.
  local retired="$DIST_DIR/lib.old.$$"
  [[ -d "$LIB_DIR" ]] && mv "$LIB_DIR" "$retired"
  mv "$tmp" "$LIB_DIR"
  rm -rf "$retired"
  pom_hash >"$MARKER"
  log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars"
}

# kill -0 alone also succeeds for a zombie (the broker is our own child while
# `start` runs), so look at the process state too. A JVM's main thread can be
# a zombie while its other threads (and sockets) are still going away: only a
# zombie with no other thread left counts as gone.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state tasks
  state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [[ -n "$state" ]] || return 1
  [[ "$state" != Z ]] && return 0
  tasks="$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
  ((tasks > 1))
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pid of the broker running from this data dir, or nothing.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  # Guard against a recycled pid: it must be kafka.Kafka on our server.properties.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

is_ready() {
  [[ -f "$LOG_FILE" ]] && grep -qF "$READY_LINE" "$LOG_FILE" && port_open "$PORT"
}

brokers_line() { echo "KAFKA_BROKERS=127.0.0.1:$PORT"; }

write_props() {
  cat >"$PROPS" <<EOF
# Written by infra/kafka/kafka.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR/logs
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# How often retention deletes expired segments (Kafka's default: 5 minutes). A
# broker-only setting (not alterable at runtime), so tests that watch a short
# retention.ms delete a partner's answers (issue 12) need it here; the check
# only compares segment timestamps, cheap even with many test topics.
log.retention.check.interval.ms=1000
EOF
}

# A cluster id is 16 bytes in URL-safe base64 without padding: 22 characters
# of A-Z a-z 0-9 - _. About 1 in 64 starts with "-".
CLUSTER_ID_FORMAT='^[A-Za-z0-9_-]{22}$'

cluster_id() {
  if [[ -n "${KAFKA_CLUSTER_ID:-}" ]]; then
    [[ "$KAFKA_CLUSTER_ID" =~ $CLUSTER_ID_FORMAT ]] ||
      die "KAFKA_CLUSTER_ID must be 22 characters of URL-safe base64 (16 bytes), not \"$KAFKA_CLUSTER_ID\""
    echo "$KAFKA_CLUSTER_ID"
    return 0
  fi
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

format_storage() {
  if [[ -f "$DATA_DIR/logs/meta.properties" ]]; then
    return 0
  fi
  local id
  id="$(cluster_id)"
  log "formatting storage in $DATA_DIR/logs (cluster id $id)"
  # -g: leave an already formatted directory as it is.
  # --cluster-id=<id> in one word: as "-t <id>", an id that starts with "-"
  # is taken for an option ("argument --cluster-id/-t: expected one argument").
  "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$LOG4J_CONFIG" -cp "$LIB_DIR/*" \
    kafka.tools.StorageTool format -g --cluster-id="$id" -c "$PROPS" >&2
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if is_ready; then return 0; fi
    if ! alive "$pid"; then
      log "broker (pid $pid) exited during start-up; last log lines of $LOG_FILE:"
      tail -n 40 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      return 1
    fi
    sleep 0.2
  done
  log "broker not ready after ${START_TIMEOUT}s; last log lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 || true
  return 1
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    if is_ready; then
      log "broker already running (pid $pid, data $DATA_DIR)"
      brokers_line
      return 0
    fi
    log "broker (pid $pid) is starting; waiting"
    wait_ready "$pid" || exit 1
    brokers_line
    return 0
  fi
  rm -f "$PID_FILE"
  if port_open "$PORT"; then die "port $PORT is already in use by another process"; fi
  if port_open "$CONTROLLER_PORT"; then die "controller port $CONTROLLER_PORT is already in use by another process"; fi

  cmd_format

  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.prev"
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (controller $CONTROLLER_PORT, data $DATA_DIR)"
  # setsid + nohup: the broker outlives the calling shell. The inner shell
  # writes its own pid and then execs java, so the pid file holds java's pid.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
    "$JAVA" -Xms256m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
    -cp "$LIB_DIR/*" kafka.Kafka "$PROPS" \
    >"$LOG_FILE" 2>&1 </dev/null &
  for _ in $(seq 50); do [[ -s "$PID_FILE" ]] && break; sleep 0.1; done
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || die "broker did not start (no pid file); see $LOG_FILE"
  if ! wait_ready "$pid"; then
    cmd_stop
    exit 1
  fi
  log "ready (pid $pid)"
  brokers_line
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "broker not running (data $DATA_DIR)"
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid"; then
    log "broker did not exit within 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  # Let the kernel release the listeners before a following `start` checks them.
  for _ in $(seq 50); do port_open "$PORT" || port_open "$CONTROLLER_PORT" || break; sleep 0.1; done
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && port_open "$PORT"; then
    log "running (pid $pid, data $DATA_DIR)"
    brokers_line
    return 0
  fi
  log "not running (data $DATA_DIR)"
  return 1
}

cmd_format() {
  cmd_fetch
  command -v "$JAVA" >/dev/null || die "java not found (set JAVA_HOME or put java on PATH)"
  mkdir -p "$DATA_DIR/logs"
  write_props
  format_storage
}

cmd_reset() {
  cmd_stop
  rm -rf "$DATA_DIR"
  log "deleted $DATA_DIR"
}

# Short names of Kafka's operator tools (from org.apache.kafka:kafka-tools),
# as bin/kafka-<name>.sh of a Kafka download calls them.
tool_class() {
  case "$1" in
    consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    topics) echo org.apache.kafka.tools.TopicCommand ;;
    console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
    *) return 1 ;;
  esac
}
TOOLS="consumer-groups topics console-consumer get-offsets"

cmd_tool() {
  local name="${1:-}" class arg
  class="$(tool_class "$name")" || {
    echo "usage: $(basename "$0") tool {${TOOLS// /|}} [ARGS…] (--bootstrap-server 127.0.0.1:$PORT is added unless given)" >&2
    exit 2
  }
  shift
  fetched || cmd_fetch
  command -v "$JAVA" >/dev/null || die "java not found (set JAVA_HOME or put java on PATH)"
  local bootstrap=(--bootstrap-server "127.0.0.1:$PORT")
  for arg in "$@"; do
    case "$arg" in --bootstrap-server | --bootstrap-server=*) bootstrap=() ;; esac
  done
  # exec: the tool's exit code and signals are the caller's.
  exec "$JAVA" -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$TOOLS_LOG4J_CONFIG" -cp "$LIB_DIR/*" \
    "$class" "${bootstrap[@]}" "$@"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  format) cmd_format ;;
  tool) shift; cmd_tool "$@" ;;
  *)
    echo "usage: $(basename "$0") fetch|start|stop|status|reset|format|tool NAME [ARGS…]" >&2
    exit 2
    ;;
esac
