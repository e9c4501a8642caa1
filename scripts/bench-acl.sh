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
source scripts/lib.sh
N="${1:-200000}"
ROUNDS="${2:-2}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
P=$(free_port)
WORK=$(mktemp -d)
"$BIN" --port "$P" --dir "$WORK/strata" --loglevel warning 2>"$WORK/strata.log" &
PIDS+=($!)
wait_up "$P"
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
