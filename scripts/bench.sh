#!/usr/bin/env bash
# `npm run bench`: every benchmark under bench/, one after another; each prints its own table.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh >/dev/null || exit 1
status=0
for f in bench/*.bench.ts bench/grouping.ts bench/detection.ts; do
  [ -f "$f" ] || continue
  echo "== $f"
  bun "$f" || status=1
done
exit $status
