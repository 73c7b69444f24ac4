#!/usr/bin/env bash
# Makes sure the infrastructure the platform needs is running on this machine, and starts what is missing.
# Idempotent: safe to run before every `npm start`, `npm test` and CI run.
#   PostgreSQL 127.0.0.1:5432, Redis 6379, RabbitMQ 5672 (+ management 15672 with the shovel plugins),
#   ClickHouse 8123 (installed from Debian's packages when absent and we are root).
# Where a Docker engine answers and the local services are absent, `docker compose up -d` is used instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '[infra] %s\n' "$*" >&2; }

listening() { # host port
  # a subshell opens and closes the socket, so no descriptor or redirection leaks into this shell
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_for() { # name host port seconds
  local i
  for ((i = 0; i < $4 * 5; i++)); do
    if listening "$2" "$3"; then return 0; fi
    sleep 0.2
  done
  log "$1 did not come up on $2:$3 within $4 s"
  return 1
}

# An HTTP GET that must answer 2xx (port open is not enough: RabbitMQ's management API answers a while later).
http_ok() { # url [user:password]
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 3 ${2:+-u "$2"} "$1" 2>/dev/null
  else
    node -e '
      const [url, auth] = process.argv.slice(1)
      const headers = auth ? { authorization: "Basic " + Buffer.from(auth).toString("base64") } : {}
      fetch(url, { headers, signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))
    ' "$1" "${2:-}"
  fi
}

wait_http() { # name url seconds [user:password]
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    if http_ok "$2" "${4:-}"; then return 0; fi
    sleep 0.5
  done
  log "$1 did not answer at $2 within $3 s"
  return 1
}

RABBIT_API=http://127.0.0.1:15672/api/overview
CLICKHOUSE_PING=http://127.0.0.1:8123/ping

is_root() { [ "$(id -u)" = 0 ]; }

docker_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if ! listening 127.0.0.1 5432 && ! command -v pg_ctlcluster >/dev/null 2>&1 && docker_answers; then
  log "no local services and a Docker engine answers: docker compose up -d (infrastructure only)"
  # -f: the compose file of this repository, whatever the current directory
  docker compose -f "$ROOT/docker-compose.yml" up -d --wait postgres redis rabbitmq clickhouse
  wait_for PostgreSQL 127.0.0.1 5432 120
  wait_for Redis 127.0.0.1 6379 120
  wait_for RabbitMQ 127.0.0.1 5672 120
  wait_http "RabbitMQ management API" "$RABBIT_API" 120 guest:guest
  wait_http ClickHouse "$CLICKHOUSE_PING" 120
  log "PostgreSQL, Redis, RabbitMQ (+management, shovel) and ClickHouse are up (docker compose)"
  exit 0
fi

# PostgreSQL
if ! listening 127.0.0.1 5432; then
  log "starting PostgreSQL"
  # the first cluster (Debian: 15 main)
  read -r pg_version pg_cluster _ < <(pg_lsclusters -h | head -n1)
  pg_ctlcluster --skip-systemctl-redirect "${pg_version:?no PostgreSQL cluster (pg_createcluster)}" "$pg_cluster" start
  wait_for PostgreSQL 127.0.0.1 5432 60
fi

# Redis (keeps nothing on disk: it is a cache and rate-limit store here)
if ! listening 127.0.0.1 6379; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 127.0.0.1 6379 30
fi

# RabbitMQ, with the management UI and the shovel plugins (the UI's "Move messages" is a shovel)
if ! listening 127.0.0.1 5672; then
  log "starting RabbitMQ"
  rabbitmq-server -detached
  wait_for RabbitMQ 127.0.0.1 5672 120
fi
# The plugins are read off their HTTP endpoints (the shovel API answers only with rabbitmq_shovel_management, :15692
# listens only with rabbitmq_prometheus); the CLI is asked only when one is missing. Every CLI call is an Erlang
# distribution connection to the node, and on 3.10 two at once (parallel test runs) crash the management agent's
# node statistics (rabbit_net:dist_info case_clause), after which /api/overview answers 500 until it is restarted.
if ! listening 127.0.0.1 15672 || ! http_ok http://127.0.0.1:15672/api/shovels guest:guest ||
  ! listening 127.0.0.1 15692; then
  # (the list is read into a variable first: `… | grep -q` under pipefail fails when grep stops reading early)
  plugins=$(rabbitmq-plugins list -e -m 2>/dev/null || true)
  plugins_read=1
fi
# Unread (every endpoint answered) means enabled; read, only what the list names is (an empty list: none of them).
if [ -n "${plugins_read:-}" ] && { ! grep -qx rabbitmq_shovel_management <<<"$plugins" ||
  ! grep -qx rabbitmq_prometheus <<<"$plugins" || ! listening 127.0.0.1 15672; }; then
  # rabbitmq_prometheus: queue depth, unacked and consumers per queue at :15692/metrics (infra/prometheus)
  log "enabling rabbitmq_management, rabbitmq_shovel, rabbitmq_shovel_management, rabbitmq_prometheus"
  rabbitmq-plugins enable rabbitmq_management rabbitmq_shovel rabbitmq_shovel_management rabbitmq_prometheus >/dev/null
  wait_for "RabbitMQ management" 127.0.0.1 15672 60
fi
# the test suite creates a vhost per file through the management API: it must answer, not just listen. One that
# listens but keeps answering 500 lost its node statistics (the 3.10 crash above): restarting the management
# applications, not the broker, brings them back.
if ! (wait_http "RabbitMQ management API" "$RABBIT_API" 20 guest:guest 2>/dev/null) && listening 127.0.0.1 15672; then
  log "RabbitMQ management API answers errors: restarting its management applications (not the broker)"
  rabbitmqctl eval 'application:stop(rabbitmq_management), application:stop(rabbitmq_management_agent),
    application:start(rabbitmq_management_agent), application:start(rabbitmq_management).' >/dev/null
fi
wait_http "RabbitMQ management API" "$RABBIT_API" 60 guest:guest

# ClickHouse (Debian ships 18.16; our SQL also runs on current releases, see docs/adr/0003)
if ! listening 127.0.0.1 8123; then
  if ! command -v clickhouse-server >/dev/null 2>&1; then
    if is_root; then
      log "installing clickhouse-server from Debian's packages"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
    else
      log "ClickHouse is not running and not installed; install clickhouse-server or run as root"
      exit 1
    fi
  fi
  # a server still starting (another run of this script) or still stopping: give it time before starting one
  for ((i = 0; i < 60; i++)); do
    pgrep -f '^[^ ]*clickhouse-server( |$)' >/dev/null 2>&1 || break
    listening 127.0.0.1 8123 && break
    sleep 0.5
  done
fi
if ! listening 127.0.0.1 8123; then
  log "starting ClickHouse"
  mkdir -p /var/log/clickhouse-server /var/lib/clickhouse
  if is_root; then
    chown -R clickhouse:clickhouse /var/log/clickhouse-server /var/lib/clickhouse 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --chuid clickhouse \
      --exec /usr/sbin/clickhouse-server -- --config=/etc/clickhouse-server/config.xml
  else
    nohup clickhouse-server --config=/etc/clickhouse-server/config.xml >/dev/null 2>&1 &
  fi
  wait_for ClickHouse 127.0.0.1 8123 120
fi
wait_http ClickHouse "$CLICKHOUSE_PING" 60

# Test tools from Debian's packages (no browser or binary downloads here): chromium for the browser tests
# (playwright-core's executablePath), prometheus for promtool and the alerting test. Only installed, never started.
# And the hll extension of the local PostgreSQL (analytics' weekly and monthly estimates, migration 0003): a file
# the running server reads when a schema first creates the extension, no restart.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_major=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print $1; exit }')
  if [ -n "$pg_major" ] && [ ! -f "/usr/share/postgresql/$pg_major/extension/hll.control" ]; then
    missing+=("postgresql-$pg_major-hll")
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  if is_root; then
    log "installing ${missing[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    # Not fatal: only the browser and Prometheus tests need them, and they fail naming what is missing.
    log "missing ${missing[*]} (Debian packages): install them, or run as root; the browser, alerting and estimate tests need them"
  fi
fi

log "PostgreSQL, Redis, RabbitMQ (+management, shovel, prometheus) and ClickHouse are up"
