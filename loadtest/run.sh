#!/usr/bin/env bash
# Runs every benchmark under loadtest/ (each prints its figures beside a baseline measured in the same run).
# Results are also written to loadtest/results/. Takes a few minutes; never part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p results
# The ingest benchmark saturates with wrk (a load generator in C, Debian's package) and falls back to autocannon.
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing wrk (apt-get install wrk)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || echo "could not install wrk; using autocannon"
fi
shopt -s nullglob
ran=0
for bench in */bench.ts; do
  echo "== ${bench%/bench.ts} =="
  node --import tsx "$bench" | tee "results/${bench%/bench.ts}.txt"
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || echo "no benchmarks yet"
