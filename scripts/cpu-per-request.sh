#!/usr/bin/env bash
# Server CPU per request, Strata next to redis-server (AOF, appendfsync everysec): the user and
# system time the server process spent (from /proc/<pid>/stat) over a fixed number of
# redis-benchmark requests, after a warm-up. Unlike ops/s it does not depend on what else the
# machine runs, so it is the number to compare across builds and sessions.
#
#   scripts/cpu-per-request.sh [requests] [rounds]        (defaults 200000, 3)
#
# TESTS (default "set get incr"), PIPES (default "1 16"), STRATA_BIN (default: the release
# build of this tree; set it to compare another build), STRATA_ARGS: extra server arguments.
# 50 clients, random keys over 1M, 100-byte values. Prints a Markdown table (median of the
# rounds per line). Loopback only; every run is bounded by its request count.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
N="${1:-200000}"
ROUNDS="${2:-3}"
TESTS="${TESTS:-set get incr}"
PIPES="${PIPES:-1 16}"
if [ -z "${STRATA_BIN:-}" ]; then
  cargo build --release --workspace --all-targets >&2
  STRATA_BIN="$CARGO_TARGET_DIR/release/strata-server"
fi
TCK=$(getconf CLK_TCK)
source scripts/lib.sh
WORK=$(mktemp -d)
SP=$(free_port); RP=$(free_port)
"$STRATA_BIN" --port "$SP" --dir "$WORK/strata" --appendfsync everysec --loglevel warning ${STRATA_ARGS:-} 2>"$WORK/strata.log" &
SPID=$!; PIDS+=("$SPID")
redis-server --port "$RP" --dir "$WORK" --appendonly yes --appendfsync everysec --save "" \
  --daemonize no --loglevel warning >"$WORK/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
wait_up "$SP"; wait_up "$RP"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One measurement: prints "ops/s us-per-request".
measure() {
  local port=$1 pid=$2 t=$3 p=$4
  redis-benchmark -p "$port" -t "$t" -n 50000 -c 50 -P "$p" -r 1000000 -d 100 -q >/dev/null 2>&1
  local before after ops
  before=$(ticks "$pid")
  ops=$(redis-benchmark -p "$port" -t "$t" -n "$N" -c 50 -P "$p" -r 1000000 -d 100 --csv 2>/dev/null |
    tail -1 | cut -d, -f2 | tr -d '"')
  after=$(ticks "$pid")
  python3 -c "print(f'{float(\"$ops\"):.0f} {($after-$before)/$TCK/$N*1e6:.2f}')"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| test | pipeline | Strata ops/s | Strata CPU/request | Redis ops/s | Redis CPU/request | CPU ratio (Strata/Redis) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for p in $PIPES; do
  for t in $TESTS; do
    s_ops=(); s_cpu=(); r_ops=(); r_cpu=()
    for r in $(seq 1 "$ROUNDS"); do
      if [ $((r % 2)) -eq 1 ]; then order="s r"; else order="r s"; fi
      for who in $order; do
        if [ "$who" = s ]; then read -r o c < <(measure "$SP" "$SPID" "$t" "$p"); s_ops+=("$o"); s_cpu+=("$c")
        else read -r o c < <(measure "$RP" "$RPID" "$t" "$p"); r_ops+=("$o"); r_cpu+=("$c"); fi
      done
    done
    so=$(printf '%s\n' "${s_ops[@]}" | median); sc=$(printf '%s\n' "${s_cpu[@]}" | median)
    ro=$(printf '%s\n' "${r_ops[@]}" | median); rc=$(printf '%s\n' "${r_cpu[@]}" | median)
    ratio=$(python3 -c "print(f'{$sc/$rc:.2f}')")
    echo "| ${t^^} | $p | $so | $sc us | $ro | $rc us | $ratio |"
  done
done
echo
echo "requests per measurement: $N after 50,000 warm-up (median of $ROUNDS rounds); clients: 50; keyspace: 1M random keys; value size: 100 B; redis $(redis-server --version | grep -o 'v=[0-9.]*')"
