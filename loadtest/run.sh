#!/usr/bin/env bash
# Runs every benchmark under loadtest/ (each prints its figures beside a baseline measured in the same run).
# Results are also written to loadtest/results/. Takes a few minutes; never part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p results
shopt -s nullglob
ran=0
for bench in */bench.ts; do
  echo "== ${bench%/bench.ts} =="
  node --import tsx "$bench" | tee "results/${bench%/bench.ts}.txt"
  ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || echo "no benchmarks yet"
