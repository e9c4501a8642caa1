#!/usr/bin/env bash
# A long stream, Strata next to redis-server (AOF everysec): N entries (100-byte values, auto
# IDs) XADDed into one stream by 50 pipelining clients, then what a user of a long stream
# does: pages at the head, the tail and the middle, a consumer group reading and
# acknowledging, trimming, and deleting the whole stream. Reports ops/s, RSS, disk, and the
# time of each step (run by hand; results go to docs/benchmarks.md).
#
#   scripts/scale-streams.sh [entries]        (default 10000000)
#
# Loopback only; every load is bounded by its request count.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
N="${1:-10000000}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
source scripts/lib.sh
WORK=$(mktemp -d)
SP=$(free_port); RP=$(free_port)
"$BIN" --port "$SP" --dir "$WORK/strata" --appendfsync everysec --loglevel warning 2>"$WORK/strata.log" &
SPID=$!; PIDS+=("$SPID")
redis-server --port "$RP" --dir "$WORK" --appendonly yes --appendfsync everysec --save "" \
  --daemonize no --loglevel warning >"$WORK/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
wait_up "$SP"; wait_up "$RP"
VALUE=$(head -c 100 /dev/zero | tr '\0' x)

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
ms_of() { # port command... -> milliseconds the command took (wall, one call)
  local p=$1; shift
  local t0 t1
  t0=$(date +%s%N); redis-cli -p "$p" "$@" >/dev/null; t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
ops() { # port n command... -> ops/s of one client repeating the command
  local p=$1 n=$2; shift 2
  redis-benchmark -p "$p" -n "$n" -c 1 --csv "$@" 2>/dev/null | awk -F'","' 'NR>1 {gsub(/"/,"",$2); v=$2} END {print v}'
}

declare -A R
for who in s r; do
  if [ "$who" = s ]; then p=$SP; pid=$SPID; else p=$RP; pid=$RPID; fi
  t0=$(date +%s%N)
  redis-benchmark -p "$p" -n "$N" -c 50 -P 64 --csv xadd big '*' field "$VALUE" >/dev/null 2>&1
  t1=$(date +%s%N)
  R[$who,fill]=$(python3 -c "print(f'{$N/(($t1-$t0)/1e9):.0f}')")
  R[$who,len]=$(redis-cli -p "$p" xlen big)
  R[$who,rss]=$(rss_mb "$pid")
  first=$(redis-cli -p "$p" xrange big - + count 1 | head -1)
  last=$(redis-cli -p "$p" xrevrange big + - count 1 | head -1)
  mid=$(( (${first%-*} + ${last%-*}) / 2 ))
  R[$who,head]=$(ops "$p" 20000 xrange big - + COUNT 10)
  R[$who,tail]=$(ops "$p" 20000 xrevrange big + - COUNT 10)
  R[$who,mid]=$(ops "$p" 20000 xrange big "$mid" + COUNT 10)
  R[$who,len_ops]=$(ops "$p" 20000 xlen big)
  redis-cli -p "$p" xgroup create big g 0 >/dev/null
  R[$who,group]=$(ops "$p" 20000 xreadgroup GROUP g c COUNT 10 STREAMS big '>')
  R[$who,pending]=$(ops "$p" 20000 xpending big g - + 10)
  R[$who,trim]=$(ms_of "$p" xtrim big MAXLEN '~' $(( N / 2 )))
  R[$who,len2]=$(redis-cli -p "$p" xlen big)
  R[$who,del]=$(ms_of "$p" del big)
done
sdisk=$(du -sm "$WORK/strata" | cut -f1)
rdisk=$(du -sm "$WORK/appendonlydir" 2>/dev/null | cut -f1 || echo 0)

echo "| step | Strata | Redis (AOF everysec) |"
echo "|---|---:|---:|"
echo "| XADD of $N entries (50 clients, -P 64), ops/s | ${R[s,fill]} | ${R[r,fill]} |"
echo "| XLEN after | ${R[s,len]} | ${R[r,len]} |"
echo "| RSS after the fill, MB | ${R[s,rss]} | ${R[r,rss]} |"
echo "| XRANGE - + COUNT 10 (head), ops/s, 1 client | ${R[s,head]} | ${R[r,head]} |"
echo "| XREVRANGE + - COUNT 10 (tail), ops/s | ${R[s,tail]} | ${R[r,tail]} |"
echo "| XRANGE mid + COUNT 10 (middle), ops/s | ${R[s,mid]} | ${R[r,mid]} |"
echo "| XLEN, ops/s | ${R[s,len_ops]} | ${R[r,len_ops]} |"
echo "| XREADGROUP COUNT 10 >, ops/s | ${R[s,group]} | ${R[r,group]} |"
echo "| XPENDING - + 10 (pending list of 200,000), ops/s | ${R[s,pending]} | ${R[r,pending]} |"
echo "| XTRIM MAXLEN ~ N/2, ms | ${R[s,trim]} | ${R[r,trim]} |"
echo "| XLEN after the trim | ${R[s,len2]} | ${R[r,len2]} |"
echo "| DEL of the stream, ms | ${R[s,del]} | ${R[r,del]} |"
echo "| data on disk (Strata dir / AOF dir), MB | $sdisk | $rdisk |"
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; redis $(redis-server --version | grep -o 'v=[0-9.]*')"
