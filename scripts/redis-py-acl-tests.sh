#!/usr/bin/env bash
# redis-py's own ACL tests (tests/test_commands.py and tests/test_asyncio/test_commands.py,
# `-k acl`), from its source distribution, against Strata and against Debian's redis-server
# side by side. By hand (downloads redis-py's sdist and pytest from PyPI); results in
# docs/acl.md.
#
#   scripts/redis-py-acl-tests.sh [redis-py version]      (default: the installed one)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
source scripts/lib.sh
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
VER="${1:-$(python3 -c 'import redis; print(redis.__version__)')}"
WORK=$(mktemp -d)
python3 -m pip install -q pytest pytest-asyncio >&2 || python3 -m pip install -q --break-system-packages pytest pytest-asyncio >&2
(cd "$WORK" && python3 -m pip download -q "redis==$VER" --no-binary :all: --no-deps >&2 && tar xzf redis-*.tar.gz)
SP=$(free_port); RP=$(free_port)
"$BIN" --port "$SP" --dir "$WORK/strata" --loglevel warning 2>"$WORK/strata.log" &
PIDS+=($!)
redis-server --port "$RP" --save "" --daemonize no --loglevel warning >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_up "$SP"; wait_up "$RP"
cd "$WORK"/redis-"$VER"
for who in "redis-server:$RP" "strata:$SP"; do
  echo "== ${who%%:*}"
  timeout 600 python3 -m pytest tests/test_commands.py tests/test_asyncio/test_commands.py -k acl \
    --redis-url="redis://127.0.0.1:${who##*:}" -q -p no:cacheprovider 2>&1 | grep -E "^FAILED|passed|failed" || true
done
