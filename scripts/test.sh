#!/usr/bin/env bash
# Runs every check: formatting, clippy (-D warnings) and all tests (unit + black-box tests
# that start the real server binary, redis-cli and redis-benchmark). Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --release --workspace -- --test-threads="${STRATA_TEST_THREADS:-2}"
