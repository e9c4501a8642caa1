# Sourced by the scripts: one persistent target directory outside the clone, so RocksDB
# (a ~14-minute C++ build) compiles once for the server, the tests and the benchmark.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"
