#!/usr/bin/env bash
# The container variant of the feed load tests (docs/performance.md#feed), what `task test:load` runs when a Docker
# engine answers: the platform from docker-compose.yml, the feed seeded, then each scenario's k6 script in the
# grafana/k6 image (the `loadtest` service, profile `loadtest`) against the feed and the bare route
# (`loadtest-bare`). Nothing runs on this machine but the seed and the token signing (its node, against the
# compose PostgreSQL and Redis published on 127.0.0.1), and k6's results land in loadtest/results/.
#
#   bash loadtest/feed/k6/run.sh   (LOADTEST_USERS=100000, SCENARIOS="feed hot post like mixed", DURATION=10s,
#                                   VUS=64, RATE: the scenario's default offered rate)
set -euo pipefail
cd "$(dirname "$0")/../../.."
mkdir -p loadtest/results
# The key the compose feed signs with (docker-compose.yml passes FEED_JWT_KEYS on), and the tokens signed with it.
FEED_JWT_KEYS="${FEED_JWT_KEYS:-$(node --import tsx services/feed/scripts/keys.ts)}"
export FEED_JWT_KEYS
# Every request comes from the k6 container's one address, and a few thousand users send all the commands.
export RATE_LIMIT_MAX="${RATE_LIMIT_MAX:-10000000}" FEED_COMMAND_RATE_LIMIT_MAX="${FEED_COMMAND_RATE_LIMIT_MAX:-10000000}"
docker compose up -d --build --wait postgres redis rabbitmq clickhouse feed feed-worker
npm run seed:feed -- --users "${LOADTEST_USERS:-100000}"
node --import tsx loadtest/feed/k6/tokens.ts >loadtest/results/feed-tokens.json
for scenario in ${SCENARIOS:-feed hot post like mixed}; do
  echo "== feed $scenario (k6) =="
  SCENARIO="$scenario" docker compose --profile loadtest run --rm loadtest | tee "loadtest/results/feed-k6-$scenario.txt"
done
docker compose --profile loadtest stop loadtest-bare
