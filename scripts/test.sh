#!/usr/bin/env bash
# test.sh - the whole test suite: set up, lint (ruff, the rules in pyproject.toml [tool.ruff]; a
# violation fails the run before any test), start the throwaway S3 server (Ceph RGW with Object
# Lock) for the S3 tests, run pytest, stop the server again, also on failure. Idempotent.
# Extra arguments go to pytest (for example: scripts/test.sh -k ingest).
# FOOTAGE_TEST_NO_S3=1 skips the server (the S3 tests then skip with a reason).
# After the tests, a smoke run of every benchmark (benchmarks/README.md): each once, on small
# inputs, without timing statistics, so that none rots unnoticed; one that errors fails the run.
# FOOTAGE_TEST_NO_BENCH=1 skips it.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
bash scripts/setup.sh
.venv/bin/ruff check --no-cache .

if [[ ${FOOTAGE_TEST_NO_S3:-0} != 1 ]]; then
  trap 'bash scripts/s3-test-server stop || true' EXIT
  bash scripts/s3-test-server start
  eval "$(bash scripts/s3-test-server env)"
fi
export FOOTAGE_SHARED=${FOOTAGE_SHARED:-$(cd "$REPO/.." && pwd -P)/shared}
.venv/bin/python -m pytest "$@"
if [[ ${FOOTAGE_TEST_NO_BENCH:-0} != 1 ]]; then
  FOOTAGE_BENCH_SMOKE=1 .venv/bin/python -m pytest benchmarks --benchmark-disable -p no:cacheprovider -q
fi
