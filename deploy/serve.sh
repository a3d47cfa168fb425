#!/usr/bin/env bash
# `make serve`: the API, a worker and beat on this machine (and a private redis-server when none answers at
# REWRITER_REDIS_URL). Extra arguments go to `rewriter serve` (--host, --port, --concurrency).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${BIN:-.venv/bin}/rewriter" serve "$@"
