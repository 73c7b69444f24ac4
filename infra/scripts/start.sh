#!/usr/bin/env bash
# `npm start`: everything the platform needs, then the five services in the foreground (Ctrl-C stops them).
#   bash infra/scripts/start.sh [--docker] [service ...]
# Locally: bootstrap (pnpm + dependencies), ensure-infra (PostgreSQL, Redis, RabbitMQ, ClickHouse), `pnpm run migrate`,
# then infra/scripts/run-all.ts. With --docker (or START_WITH_DOCKER=1) and a Docker engine that answers:
# `docker compose up --build` instead. Service names restrict the local run to those services.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
log() { printf '[start] %s\n' "$*" >&2; }

docker=${START_WITH_DOCKER:-0}
args=()
for arg in "$@"; do
  case "$arg" in
  --docker) docker=1 ;;
  --no-docker) docker=0 ;;
  *) args+=("$arg") ;;
  esac
done

if [ "$docker" = 1 ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    log "docker compose up --build (Ctrl-C stops; \`docker compose down\` removes the containers)"
    exec docker compose -f "$ROOT/docker-compose.yml" up --build "${args[@]}"
  fi
  log "--docker / START_WITH_DOCKER=1 asked for Docker, but no Docker engine answers (\`docker info\` fails)"
  log "start the engine, or run without --docker to use this machine's PostgreSQL, Redis, RabbitMQ and ClickHouse"
  exit 1
fi

# shellcheck source=infra/scripts/bootstrap.sh
source "$ROOT/infra/scripts/bootstrap.sh"
bash "$ROOT/infra/scripts/ensure-infra.sh"
log "applying migrations"
pnpm_run run --silent migrate
exec node --import tsx "$ROOT/infra/scripts/run-all.ts" "${args[@]}"
