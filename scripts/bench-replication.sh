#!/usr/bin/env bash
# Replication benchmark (run by hand; results go to docs/benchmarks.md):
#  1. full-sync throughput: a replica copies a master holding GB of incompressible values;
#     MB/s of the transfer next to a plain `cp -r` of the same snapshot files on the same disk
#     (the physical limit on this machine; both read from the page cache when it is warm);
#  2. replica lag under a redis-benchmark SET load on the master (50 clients, -P 16): the
#     largest lag in records and in milliseconds, sampled every ~20 ms.
#
#   scripts/bench-replication.sh [GB] [requests]     (defaults 2, 1000000)
#
# Extra Strata arguments in STRATA_ARGS. Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
source scripts/env.sh
GB="${1:-2}"
N="${2:-1000000}"
cargo build --release --workspace --all-targets >&2
BIN="$CARGO_TARGET_DIR/release/strata-server"
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD}" .bench-repl.XXXX)
source scripts/lib.sh
field() { redis-cli -p "$1" info replication | tr -d '\r' | awk -F: -v k="$2" '$1==k {print $2}'; }

MP=$(free_port)
"$BIN" --port "$MP" --dir "$WORK/m" ${STRATA_ARGS:-} 2>"$WORK/m.log" & PIDS+=($!)
wait_up "$MP"
echo "filling the master with ${GB} GB of random 64 KB values..." >&2
fill_random "$GB" "$MP"
redis-cli -p "$MP" debug reload >/dev/null
# The physical limit: cp of a checkpoint of the same engine, same disk.
redis-cli -p "$MP" binlog snapshot cpsrc >/dev/null
SRC="$WORK/m/snapshots/cpsrc"
BYTES=$(du -sb "$SRC" | awk '{print $1}')
cat "$SRC"/* > /dev/null   # warm, as the transfer will find it
sync
T0=$(date +%s.%N); cp -r "$SRC" "$WORK/cpdst"; T1=$(date +%s.%N); sync; T2=$(date +%s.%N)
CP_MBS=$(python3 -c "print(f'{$BYTES/1e6/($T1-$T0):.0f}')")
CPSYNC_MBS=$(python3 -c "print(f'{$BYTES/1e6/($T2-$T0):.0f}')")
rm -rf "$WORK/cpdst"

RP=$(free_port)
T0=$(date +%s.%N)
"$BIN" --port "$RP" --dir "$WORK/r" --replicaof "127.0.0.1 $MP" ${STRATA_ARGS:-} 2>"$WORK/r.log" & PIDS+=($!)
wait_up "$RP"
for _ in $(seq 1 3000); do
  [ "$(field "$RP" master_link_status)" = up ] && break; sleep 0.1
done
T1=$(date +%s.%N)
LINE=$(grep "full sync done" "$WORK/r.log" | tail -1)
FETCHED=$(sed -n 's/.*fetched_bytes=\([0-9]*\).*/\1/p' <<<"$LINE")
TOOK=$(sed -n 's/.*took_ms=\([0-9]*\).*/\1/p' <<<"$LINE")
SYNC_MBS=$(python3 -c "print(f'{$FETCHED/1e6/($TOOK/1000):.0f}')")
WALL_MBS=$(python3 -c "print(f'{$FETCHED/1e6/($T1-$T0):.0f}')")
SNAP_MS=$(grep "snapshot for a full sync created" "$WORK/m.log" | tail -1 | sed -n 's/.*took_ms=\([0-9]*\).*/\1/p')

# Lag under load.
redis-benchmark -h 127.0.0.1 -p "$MP" -t set -n "$N" -c 50 -P 16 -r 1000000 -d 100 -q >"$WORK/bench.out" 2>&1 &
BPID=$!
: >"$WORK/samples"
for _ in $(seq 1 20000); do
  kill -0 "$BPID" 2>/dev/null || break
  m=$(field "$MP" master_repl_offset); r=$(field "$RP" slave_repl_offset)
  echo "$(date +%s%N) $m $r" >>"$WORK/samples"
done
wait "$BPID" || true
for _ in $(seq 1 600); do
  [ "$(field "$RP" slave_repl_offset)" -ge "$(field "$MP" master_repl_offset)" ] && break; sleep 0.05
done
echo "$(date +%s%N) $(field "$MP" master_repl_offset) $(field "$RP" slave_repl_offset)" >>"$WORK/samples"
read -r MAXREC MAXMS <<<"$(python3 - "$WORK/samples" <<'PY'
import sys
s = [tuple(int(x) for x in l.split()) for l in open(sys.argv[1]) if len(l.split()) == 3]
max_rec = max((m - r for _, m, r in s), default=0)
max_ms = 0.0
for i, (t, m, _) in enumerate(s):
    for t2, _, r2 in s[i:]:
        if r2 >= m:
            max_ms = max(max_ms, (t2 - t) / 1e6)
            break
print(max_rec, f"{max_ms:.0f}")
PY
)"
SETS=$(grep -o 'SET: [0-9.]* requests per second' "$WORK/bench.out" | awk '{print $2}')

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo
echo "| snapshot bytes | snapshot made in | transfer MB/s (verified, fsync'd) | replica start to link up, MB/s | cp -r MB/s (no fsync) | cp -r + sync MB/s | transfer / cp |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
echo "| $BYTES | ${SNAP_MS} ms | $SYNC_MBS | $WALL_MBS | $CP_MBS | $CPSYNC_MBS | $(python3 -c "print(f'{$SYNC_MBS/$CP_MBS:.2f}')") |"
echo
echo "| load on the master | SET ops/s | max replica lag (records) | max replica lag (ms) | samples |"
echo "|---|---:|---:|---:|---:|"
echo "| redis-benchmark SET -c 50 -P 16 -n $N | $SETS | $MAXREC | $MAXMS | $(wc -l <"$WORK/samples") |"
