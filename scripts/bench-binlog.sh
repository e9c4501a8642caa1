#!/usr/bin/env bash
# The binlog's cost and the fsync policies, side by side with redis-server in one run:
# SET, 50 clients, -P 1, for appendfsync always / everysec / no — Strata with the binlog,
# Strata without it (`binlog no`: RocksDB's WAL), and redis-server with AOF and the same
# appendfsync. Prints a Markdown table with the ratios (paste into docs/benchmarks.md).
#
#   scripts/bench-binlog.sh [requests] [rounds]     (defaults 200000, 3; median of rounds)
#
# Extra Strata arguments in STRATA_ARGS (e.g. STRATA_ARGS="--worker-threads 1").
# Every run is bounded by the request count; all servers listen on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
N="${1:-200000}"
ROUNDS="${2:-3}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
run() { # port -> ops/s
  redis-benchmark -h 127.0.0.1 -p "$1" -t set -n "$N" -c 50 -P 1 -r 1000000 -d 100 --csv 2>/dev/null \
    | awk -F'","' 'NR>1 {gsub(/"/,"",$2); v=$2} END {print v}'
}
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:] if x]; print(f"{statistics.median(v):.0f}" if v else "0")' "$@"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }

echo "| appendfsync | Strata binlog ops/s | Strata no binlog ops/s | Redis AOF ops/s | binlog/Redis | binlog/no-binlog |"
echo "|---|---:|---:|---:|---:|---:|"
for F in always everysec no; do
  BP=$(free_port); "$BIN" --port "$BP" --dir "$WORK/b-$F" --appendfsync "$F" --loglevel warning ${STRATA_ARGS:-} 2>>"$WORK/log" & PIDS+=($!)
  NP=$(free_port); "$BIN" --port "$NP" --dir "$WORK/n-$F" --appendfsync "$F" --binlog no --loglevel warning ${STRATA_ARGS:-} 2>>"$WORK/log" & PIDS+=($!)
  RP=$(free_port); mkdir -p "$WORK/r-$F"
  redis-server --port "$RP" --dir "$WORK/r-$F" --appendonly yes --appendfsync "$F" --save "" --daemonize no --loglevel warning >>"$WORK/log" 2>&1 & PIDS+=($!)
  wait_up "$BP"; wait_up "$NP"; wait_up "$RP"
  bs=(); ns=(); rs=()
  # The order rotates from round to round (binlog, no binlog, Redis; then no binlog, Redis,
  # binlog; ...): no server always runs first or right after another's run.
  for i in $(seq 1 "$ROUNDS"); do
    for k in 0 1 2; do
      case $(( (i + k) % 3 )) in
        1) bs+=("$(run "$BP")") ;;
        2) ns+=("$(run "$NP")") ;;
        0) rs+=("$(run "$RP")") ;;
      esac
    done
  done
  b=$(median "${bs[@]}"); n=$(median "${ns[@]}"); r=$(median "${rs[@]}")
  echo "| $F | $b | $n | $r | $(ratio "$b" "$r") | $(ratio "$b" "$n") |"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=()
done
