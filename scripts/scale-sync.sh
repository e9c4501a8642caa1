#!/usr/bin/env bash
# Full-size strata-sync scenario run by hand (CI runs the same code with ~3,000 keys in
# crates/sync/tests/follow.rs): a namespace of 1M keys followed into a real redis-server while
# redis-benchmark writes into it; after the load stops, the target must hold the same data.
# Prints a Markdown table for docs/benchmarks.md.
#
#   scripts/scale-sync.sh [keys]     (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
N="${1:-1000000}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release"
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD}" .scale-sync.XXXX)
source scripts/lib.sh
SP=$(free_port); RP=$(free_port)
"$BIN/strata-server" --port "$SP" --dir "$WORK/src" --requirepass adminpw 2>"$WORK/src.log" & PIDS+=($!)
redis-server --port "$RP" --dir "$WORK" --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 & PIDS+=($!)
wait_up "$SP"; wait_up "$RP"
A=(redis-cli -p "$SP" --no-auth-warning)
"${A[@]}" -a adminpw namespace add app tapp >/dev/null
echo "loading $N keys into the namespace..." >&2
python3 - "$N" <<'PY' | "${A[@]}" -a tapp --pipe >/dev/null
import sys
n = int(sys.argv[1]); out = sys.stdout
for i in range(n):
    k = f"key:{i}"; v = f"value-{i:010d}-" + "x" * 80
    out.write(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n")
PY
T0=$(date +%s.%N)
"$BIN/strata-sync" --source "127.0.0.1:$SP" --source-password adminpw --namespace app \
  --target "127.0.0.1:$RP" --state-file "$WORK/state" --status-file "$WORK/status.json" 2>"$WORK/sync.log" & PIDS+=($!)
# A live write load while it copies and streams.
redis-benchmark -h 127.0.0.1 -p "$SP" -a tapp -t set,incr,lpush,hset,sadd -n 200000 -r 2000000 -c 20 -P 16 -q >"$WORK/bench.out" 2>&1 || true
LAST=$("${A[@]}" -a adminpw info replication | tr -d '\r' | awk -F: '$1=="master_repl_offset"{print $2}')
for _ in $(seq 1 6000); do
  OFF=$(awk '$1=="offset"{print $2}' "$WORK/state" 2>/dev/null || echo 0)
  [ "${OFF:-0}" -ge "$LAST" ] && break; sleep 0.1
done
T1=$(date +%s.%N)
SRC_KEYS=$("${A[@]}" -a tapp dbsize)
DST_KEYS=$(( $(redis-cli -p "$RP" dbsize) - 1 ))   # minus strata-sync:position
# Compare 3000 random keys of the source with the target (type and value).
MISMATCH=0
for i in $(seq 1 3000); do
  k=$("${A[@]}" -a tapp randomkey)
  t1=$("${A[@]}" -a tapp type "$k"); t2=$(redis-cli -p "$RP" type "$k")
  case "$t1" in
    string) v1=$("${A[@]}" -a tapp get "$k"); v2=$(redis-cli -p "$RP" get "$k");;
    list) v1=$("${A[@]}" -a tapp lrange "$k" 0 -1); v2=$(redis-cli -p "$RP" lrange "$k" 0 -1);;
    hash) v1=$("${A[@]}" -a tapp hgetall "$k" | paste - - | sort); v2=$(redis-cli -p "$RP" hgetall "$k" | paste - - | sort);;
    set) v1=$("${A[@]}" -a tapp smembers "$k" | sort); v2=$(redis-cli -p "$RP" smembers "$k" | sort);;
    *) v1=x; v2=x;;
  esac
  if [ "$t1" != "$t2" ] || [ "$v1" != "$v2" ]; then MISMATCH=$((MISMATCH + 1)); fi
done
COPY=$(grep -o 'snapshot copied: [0-9]* keys' "$WORK/sync.log" | head -1)
echo "| keys at start | live load | source keys at end | target keys at end | 3000 random keys compared, mismatches | start to caught up |"
echo "|---:|---|---:|---:|---:|---:|"
echo "| $N | redis-benchmark set,incr,lpush,hset,sadd -n 200000 -c 20 -P 16 | $SRC_KEYS | $DST_KEYS | $MISMATCH | $(python3 -c "print(f'{$T1-$T0:.1f}')") s |"
echo "($COPY)" >&2
