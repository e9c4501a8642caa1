#!/usr/bin/env bash
# Full-size replication scenario run by hand (CI runs the same code at 48 MB in
# `replication::a_replica_killed_in_a_full_sync_resumes_without_fetching_verified_bytes_again`):
# a master holding GB of incompressible data, a replica killed with kill -9 in the middle of
# its full sync, restarted: it resumes (bytes not fetched twice), never holds a half-written
# file under a final name, and converges. Prints a Markdown table for docs/benchmarks.md.
#
#   scripts/scale-replication.sh [GB] [throttle MB/s]     (defaults 3, 150)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
GB="${1:-3}"
MBS="${2:-150}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD}" .scale-repl.XXXX)
source scripts/lib.sh
field() { redis-cli -p "$1" info "${3:-replication}" | tr -d '\r' | awk -F: -v k="$2" '$1==k {print $2}'; }

MP=$(free_port)
"$BIN" --port "$MP" --dir "$WORK/m" --max-replication-mb "$MBS" 2>"$WORK/m.log" & PIDS+=($!)
wait_up "$MP"
echo "filling the master with ${GB} GB of random 64 KB values..." >&2
fill_random "$GB" "$MP"
RP=$(free_port)
start_replica() { "$BIN" --port "$RP" --dir "$WORK/r" --replicaof "127.0.0.1 $MP" 2>>"$WORK/r.log" & RPID=$!; PIDS+=($RPID); wait_up "$RP"; }
start_replica
TOTAL=0; READ=0
for _ in $(seq 1 6000); do
  if [ "$(field "$RP" master_sync_in_progress)" = 1 ]; then
    TOTAL=$(field "$RP" master_sync_total_bytes); READ=$(field "$RP" master_sync_read_bytes)
    [ "$READ" -gt $((TOTAL / 2)) ] && break
  fi
  sleep 0.05
done
kill -9 "$RPID"; wait "$RPID" 2>/dev/null || true
# No file under a final name is incomplete.
BAD=0
while read -r _ name size _; do
  f="$WORK/r/sync/db/$name"
  if [ -e "$f" ] && [ "$(stat -c %s "$f")" != "$size" ]; then BAD=$((BAD + 1)); fi
done < <(grep '^file ' "$WORK/r/sync/manifest")
T0=$(date +%s.%N)
start_replica
for _ in $(seq 1 6000); do
  [ "$(field "$RP" master_link_status)" = up ] && break; sleep 0.1
done
T1=$(date +%s.%N)
LINE=$(grep "full sync done" "$WORK/r.log" | tail -1)
RESUMED=$(sed -n 's/.*resumed_bytes=\([0-9]*\).*/\1/p' <<<"$LINE")
FETCHED=$(sed -n 's/.*fetched_bytes=\([0-9]*\).*/\1/p' <<<"$LINE")
MK=$(redis-cli -p "$MP" dbsize); RK=$(redis-cli -p "$RP" dbsize)
echo "| data | snapshot bytes | verified at kill -9 | resumed from disk | fetched after restart | verified before the kill and fetched again | half-written files under final names | restart to link up | keys master / replica |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| ${GB} GB random, throttle ${MBS} MB/s | $TOTAL | $READ | $RESUMED | $FETCHED | $((READ - RESUMED)) | $BAD | $(python3 -c "print(f'{$T1-$T0:.1f}')") s | $MK / $RK |"
