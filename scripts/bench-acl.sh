#!/usr/bin/env bash
# What an ACL-restricted user costs: SET and GET (-P 1 and -P 16) on one Strata server, as the
# default user (everything allowed: no check) and as a user with `~* &* +@all -@dangerous`
# (every request checked), alternating, `rounds` times each. Bounded by the request count.
#
#   scripts/bench-acl.sh [requests-per-test] [rounds]     (defaults 200000, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
N="${1:-200000}"
ROUNDS="${2:-2}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
WORK=$(mktemp -d)
"$BIN" --port "$P" --dir "$WORK/strata" --loglevel warning 2>"$WORK/strata.log" &
SPID=$!
cleanup() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 1 100); do redis-cli -p "$P" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$P" acl setuser app on '>pw' '~*' '&*' '+@all' '-@dangerous' >/dev/null
echo "| user | pipeline | SET ops/s | GET ops/s |"
echo "|---|---|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for who in default app; do
    if [ "$who" = app ]; then A=(--user app -a pw); else A=(); fi
    for pl in 1 16; do
      r=$(redis-benchmark -p "$P" ${A[@]+"${A[@]}"} -n "$N" -c 50 -P "$pl" -r 1000000 -d 100 -t set,get --csv 2>/dev/null \
        | awk -F'","' 'NR>1 {gsub(/"/,"",$2); printf "| %s", $2} END {print " |"}')
      echo "| $who | $pl $r"
    done
  done
done
