#!/usr/bin/env bash
# Builds and starts Strata with sensible defaults: 127.0.0.1:6379, data in ./data,
# appendfsync everysec. Extra arguments are passed on (a config file first, then --name value).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
source scripts/env.sh
# --all-targets: the same feature set as `cargo test`, so RocksDB is not compiled twice
# (a dev-dependency changes a feature of a shared crate, which would rebuild it).
cargo build --release --workspace --all-targets
exec "$CARGO_TARGET_DIR/release/strata-server" "$@"
