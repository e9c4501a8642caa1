#!/usr/bin/env bash
# Side-by-side benchmark: Strata and redis-server (AOF, appendfsync everysec) on free loopback
# ports, the same redis-benchmark workloads against both in one run, ops/s and the
# Strata/Redis ratio per line.
#
#   scripts/bench.sh [requests-per-test] [rounds]     (defaults 200000, 3)
#
# Each workload runs `rounds` times on each server, alternating which goes first, and the
# median is reported: the two servers share the machine's cores, so single runs are noisy.
#
# Workloads: SET, GET, INCR, MSET, LPUSH, LPOP, SADD, HSET, SPOP, ZADD, ZPOPMIN, LRANGE_100,
# EVALSHA_SET and EVALSHA_3 (Lua: one SET; INCR+EXPIRE+GET), XADD (auto IDs into random streams
# trimmed with MAXLEN ~ 1000), XADD_ONE (every client into one stream), XRANGE_10 (first ten
# entries of that stream) (override with TESTS="set get"); 50 clients; -P 1 and -P 16; random keys over 1M (-r);
# 100-byte values (-d 100). Results go to stdout as a Markdown table (paste into
# docs/benchmarks.md). Every run is bounded by the request count. Extra Strata arguments can be
# given in STRATA_ARGS (e.g. STRATA_ARGS="--worker-threads 1").
#
# TLS=1: both servers also listen on a TLS port (certificates made with openssl, no client
# certificates) and redis-benchmark runs with --tls against those ports (default TESTS "set
# get"); the table says TLS in its pipeline column.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
N="${1:-200000}"
ROUNDS="${2:-3}"
# --all-targets: the same feature set as `cargo test`, so RocksDB is not compiled twice
# (a dev-dependency changes a feature of a shared crate, which would rebuild it).
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
WORK=$(mktemp -d)
SP=$(free_port); RP=$(free_port)
TLS_SERVER=(); TLS_CLIENT=(); SBP="$SP"; RBP="$RP"; TAG=""
if [ "${TLS:-0}" = 1 ]; then
  (cd "$WORK" && openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout ca.key -out ca.crt -days 2 -subj "/CN=bench CA" -addext basicConstraints=critical,CA:TRUE \
      -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null \
    && openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout server.key \
      -out server.csr -subj "/CN=localhost" 2>/dev/null \
    && printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext \
    && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
      -days 2 -extfile server.ext 2>/dev/null)
  SBP=$(free_port); RBP=$(free_port)
  TLS_SERVER=(--tls-cert-file "$WORK/server.crt" --tls-key-file "$WORK/server.key" --tls-auth-clients no)
  TLS_CLIENT=(--tls --cacert "$WORK/ca.crt")
  TAG=" TLS"
fi
"$BIN" --port "$SP" --dir "$WORK/strata" --appendfsync everysec --loglevel warning \
  ${TLS_SERVER[@]+"${TLS_SERVER[@]}"} $([ "${TLS:-0}" = 1 ] && echo --tls-port "$SBP") \
  ${STRATA_ARGS:-} 2>"$WORK/strata.log" &
SPID=$!
redis-server --port "$RP" --dir "$WORK" --appendonly yes --appendfsync everysec --save "" \
  ${TLS_SERVER[@]+"${TLS_SERVER[@]}"} $([ "${TLS:-0}" = 1 ] && echo --tls-port "$RBP") \
  --daemonize no --loglevel warning >"$WORK/redis.log" 2>&1 &
RPID=$!
cleanup() { kill "$SPID" "$RPID" 2>/dev/null || true; wait "$SPID" "$RPID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for p in "$SP" "$RP"; do
  for _ in $(seq 1 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# Two Lua workloads (issue 18): EVALSHA of a script that runs one SET, and of one that runs
# three commands (INCR, EXPIRE, GET) on a random key.
SCRIPT_SET="return redis.call('set', KEYS[1], ARGV[1])"
SCRIPT_3="redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 1000) return redis.call('get', KEYS[1])"
for p in "$SP" "$RP"; do
  SHA_SET=$(redis-cli -p "$p" script load "$SCRIPT_SET")
  SHA_3=$(redis-cli -p "$p" script load "$SCRIPT_3")
done
VALUE=$(head -c 100 /dev/zero | tr '\0' x)

run() { # port test pipeline -> ops/s
  local what=(-t "$2")
  case "$2" in
    evalsha_set) what=(evalsha "$SHA_SET" 1 "key:__rand_int__" "$VALUE") ;;
    evalsha_3) what=(evalsha "$SHA_3" 1 "counter:__rand_int__") ;;
    xadd) what=(xadd "stream:__rand_int__" MAXLEN "~" 1000 "*" field "$VALUE") ;;
    xadd_one) what=(xadd "bench-stream" "*" field "$VALUE") ;;
    xrange_10) what=(xrange "bench-stream" - + COUNT 10) ;;
  esac
  redis-benchmark ${TLS_CLIENT[@]+"${TLS_CLIENT[@]}"} -h 127.0.0.1 -p "$1" -n "$N" -c 50 -P "$3" -r 1000000 -d 100 --csv "${what[@]}" 2>/dev/null \
    | awk -F'","' 'NR>1 {gsub(/"/,"",$2); v=$2} END {print v}'
}

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:] if x]; print(f"{statistics.median(v):.0f}" if v else "0")' "$@"; }

echo "| test | pipeline | Strata ops/s | Redis AOF everysec ops/s | Strata/Redis |"
echo "|---|---|---:|---:|---:|"
for P in 1 16; do
  DEFAULT_TESTS="set get incr mset lpush lpop sadd hset spop zadd zpopmin lrange_100 evalsha_set evalsha_3 xadd xadd_one xrange_10"
  [ "${TLS:-0}" = 1 ] && DEFAULT_TESTS="set get"
  for T in ${TESTS:-$DEFAULT_TESTS}; do
    ss=(); rs=()
    for i in $(seq 1 "$ROUNDS"); do
      if [ $((i % 2)) -eq 1 ]; then
        ss+=("$(run "$SBP" "$T" "$P")"); rs+=("$(run "$RBP" "$T" "$P")")
      else
        rs+=("$(run "$RBP" "$T" "$P")"); ss+=("$(run "$SBP" "$T" "$P")")
      fi
    done
    s=$(median "${ss[@]}"); r=$(median "${rs[@]}")
    ratio=$(python3 -c "print(f'{$s/$r:.2f}')" 2>/dev/null || echo "n/a")
    echo "| ${T^^} | $P$TAG | $s | $r | $ratio |"
  done
done
echo
echo "requests per test: $N (median of $ROUNDS rounds); clients: 50; keyspace: 1M random keys; value size: 100 B;"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; redis $(redis-server --version | awk '{print $3}')"
