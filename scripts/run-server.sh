#!/usr/bin/env bash
# Builds and starts Strata with sensible defaults: 127.0.0.1:6379, data in ./data,
# appendfsync everysec. Extra arguments are passed on (a config file first, then --name value).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
source scripts/env.sh
cargo build --release -p server --bin strata-server
exec "$CARGO_TARGET_DIR/release/strata-server" "$@"
