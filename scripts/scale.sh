#!/usr/bin/env bash
# Full-size scenarios run by hand (CI runs the same tests at small sizes):
#   - 1M-member hash and 1M-member zset deleted, compacted, disk space reclaimed.
# Results go to stdout; record them in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
STRATA_RECLAIM_MEMBERS="${STRATA_RECLAIM_MEMBERS:-1000000}" \
  cargo test --release --workspace -- reclaim --nocapture 2>&1 | grep -E "reclaim:|test result"
