#!/usr/bin/env bash
# `npm run build`: one self-contained executable, dist/mcpmon. ssh2's optional native add-on
# (cpu-features) cannot load in Bun; ssh2 falls back to pure JS, so it stays external.
# --bytecode needs --format=esm because of top-level await; it cuts start-up to about 30 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
bun build cli/main.ts --compile --minify --bytecode --format=esm \
  --external cpu-features \
  --outfile dist/mcpmon
ls -lh dist/mcpmon
