#!/usr/bin/env bash
# `npm test`: the one command that runs every check. Installs the Debian packages the integration
# tests need when they are missing, then type check, lint/format check, and every bun test, and
# ends with one line `tests: N passed, M failed` (CI reads that line).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
summary_file=.tmp/test-summary
rm -f "$summary_file"

finish() {
  local passed=$1 failed=$2
  echo "tests: ${passed} passed, ${failed} failed" | tee "$summary_file"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}

bash scripts/install-test-deps.sh || { echo "test dependencies are missing (see above)"; finish 0 1; }

static_failed=0
echo "== type check (tsc --noEmit)"
if ! tsc --noEmit -p .; then static_failed=$((static_failed + 1)); echo "type check failed"; fi
echo "== lint and format (biome check)"
if ! biome check . --diagnostic-level=error; then static_failed=$((static_failed + 1)); echo "lint/format check failed"; fi

echo "== bun test"
log=.tmp/bun-test.log
# Test files run one after another in one process; integration tests start their own servers.
bun test --timeout 120000 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# bun prints " 123 pass" and " 4 fail" in its closing block.
passed=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -n1 | grep -oE '[0-9]+' || echo 0)
failed=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -n1 | grep -oE '[0-9]+' || echo 0)
passed=${passed:-0}
failed=${failed:-0}
# A crash, an unhandled error between tests or a file that failed to load fails the run even when
# no single test is counted as failed.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; echo "bun test exited with status $status"; fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then failed=1; echo "no test ran"; fi
finish "$passed" $((failed + static_failed))
