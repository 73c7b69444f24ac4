#!/usr/bin/env bash
# `npm test`: bootstrap, ensure-infra (not for unit tests), then vitest over one tier or all of them.
#   bash infra/scripts/test.sh [unit|int|integration|e2e|all] [vitest args ...]
# Tiers are file names: *.unit.test.ts, *.int.test.ts, *.e2e.test.ts. Extra arguments go to `vitest run`
# (a file filter, -t <name>, --reporter ...). Exports TEST_TIER (unit, int, e2e or all).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

tier=all
case "${1:-}" in
unit | int | e2e | all) tier=$1 && shift ;;
integration) tier=int && shift ;;
esac

# A tier leaves out the other tiers' files (rather than adding a file-name filter, which vitest would OR with the
# caller's own filters: `test.sh int packages/db` runs the integration tests of packages/db only).
exclude=()
case "$tier" in
unit) exclude=(--exclude '**/*.int.test.ts' --exclude '**/*.e2e.test.ts') ;;
int) exclude=(--exclude '**/*.unit.test.ts' --exclude '**/*.e2e.test.ts') ;;
e2e) exclude=(--exclude '**/*.unit.test.ts' --exclude '**/*.int.test.ts') ;;
esac

# shellcheck source=infra/scripts/bootstrap.sh
source "$ROOT/infra/scripts/bootstrap.sh"
if [ "$tier" != unit ]; then bash "$ROOT/infra/scripts/ensure-infra.sh"; fi

export TEST_TIER=$tier
printf '[test] %s tests: vitest run %s\n' "$tier" "$*" >&2
exec "${PNPM[@]}" exec vitest run --passWithNoTests "${exclude[@]}" "$@"
