#!/usr/bin/env bash
# Larger than memory: Strata with a dataset many times its block cache, next to redis-server
# (AOF everysec) holding the same data in RAM, in one run.
#
#   scripts/scale-memory.sh [keys] [requests] [value-bytes]   (defaults 30000000, 1000000, 100)
#
# Loads `keys` keys (key:000000000000 .. key:N-1 zero-padded as redis-benchmark writes them, `value-bytes` random bytes each) into both servers with
# redis-cli --pipe, then runs random GET and SET over the whole keyspace with redis-benchmark
# (50 clients, -P 1 and -P 16, `requests` each) and prints ops/s and p50/p99/p99.9 latency
# per line, the data directory and RSS of each, and how long Strata takes to answer again
# after `kill -9` at that size. Strata runs with its defaults (256 MB block cache, 64 MB write
# buffers). Every run is bounded by its request count; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
source scripts/lib.sh
KEYS="${1:-30000000}"
N="${2:-1000000}"
VSIZE="${3:-100}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/scale-memory.XXXXXX")
SP=$(free_port); RP=$(free_port)
"$BIN" --port "$SP" --dir "$WORK/strata" --loglevel warning 2>"$WORK/strata.log" & PIDS+=($!)
SPID=$!
mkdir -p "$WORK/redis"
redis-server --port "$RP" --dir "$WORK/redis" --appendonly yes --appendfsync everysec --save "" \
  --daemonize no --loglevel warning >"$WORK/redis.log" 2>&1 & PIDS+=($!)
RPID=$!
wait_up "$SP"; wait_up "$RP"

load() { # port
  python3 - "$KEYS" "$VSIZE" <<'PY' | redis-cli -p "$1" --pipe >/dev/null
import os, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
v = os.urandom(size // 2 + 1).hex()[:size].encode()
head = b"*3\r\n$3\r\nSET\r\n"
tail = b"$%d\r\n%s\r\n" % (len(v), v)
buf = []
for i in range(n):
    k = b"key:%012d" % i  # redis-benchmark's __rand_int__ is 12 digits, zero-padded
    buf.append(head + b"$%d\r\n%s\r\n" % (len(k), k) + tail)
    if len(buf) == 10000:
        out.write(b"".join(buf)); buf.clear()
out.write(b"".join(buf))
PY
}
for who in strata redis; do
  port=$SP; [ "$who" = redis ] && port=$RP
  t0=$(date +%s.%N); load "$port"; t1=$(date +%s.%N)
  keys=$(redis-cli -p "$port" dbsize)
  echo "load $who: $keys keys in $(python3 -c "print(f'{$t1-$t0:.0f}')") s" >&2
done

# One redis-benchmark run: "ops/s p50 p99 p99.9" (ms).
bench() { # port test pipeline
  local cmd
  if [ "$2" = get ]; then cmd=(GET "key:__rand_int__"); else cmd=(SET "key:__rand_int__" "$(head -c "$VSIZE" /dev/zero | tr '\0' x)"); fi
  redis-benchmark -h 127.0.0.1 -p "$1" -n "$N" -c 50 -P "$3" -r "$KEYS" "${cmd[@]}" 2>/dev/null | tr '\r' '\n' | python3 -c '
import re, sys
text = sys.stdin.read()
rps = re.findall(r"throughput summary: ([0-9.]+) requests per second", text)
pct = {}
for p, ms in re.findall(r"^\s*([0-9.]+)% <= ([0-9.]+) milliseconds", text, re.M):
    pct[float(p)] = float(ms)
def at(q):
    ks = sorted(k for k in pct if k >= q)
    return pct[ks[0]] if ks else float("nan")
print(f"{float(rps[-1]) if rps else 0:.0f} {at(50):.3f} {at(99):.3f} {at(99.9):.3f}")'
}

echo "| command | -P | Strata ops/s | p50 / p99 / p99.9 ms | Redis ops/s | p50 / p99 / p99.9 ms | ratio |"
echo "|---|---:|---:|---|---:|---|---:|"
for t in get set; do
  for p in 1 16; do
    read -r s50 s_p50 s_p99 s_p999 < <(bench "$SP" "$t" "$p")
    read -r r50 r_p50 r_p99 r_p999 < <(bench "$RP" "$t" "$p")
    ratio=$(python3 -c "print(f'{$s50/$r50:.2f}' if $r50 else 'n/a')")
    echo "| ${t^^} | $p | $s50 | $s_p50 / $s_p99 / $s_p999 | $r50 | $r_p50 / $r_p99 / $r_p999 | $ratio |"
  done
done
echo
rss() { awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$1/status"; }
echo "keys: $KEYS x $VSIZE B; requests per line: $N; clients: 50"
echo "Strata: data dir $(du -sh "$WORK/strata" | cut -f1), RSS $(rss "$SPID"); Redis: RSS $(rss "$RPID"), AOF $(du -sh "$WORK/redis" | cut -f1)"
kill -9 "$SPID"; wait "$SPID" 2>/dev/null || true
t0=$(date +%s.%N)
"$BIN" --port "$SP" --dir "$WORK/strata" --loglevel warning 2>>"$WORK/strata.log" & PIDS+=($!)
for _ in $(seq 1 3000); do redis-cli -p "$SP" ping >/dev/null 2>&1 && break; sleep 0.05; done
t1=$(date +%s.%N)
echo "Strata after kill -9: answering again in $(python3 -c "print(f'{$t1-$t0:.1f}')") s, dbsize $(redis-cli -p "$SP" dbsize)"
