# Sourced by the benchmark and scale scripts: free loopback ports, waiting for a server, and
# the list of processes killed (and work directory removed) on exit.
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "${WORK:-/nonexistent}"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }
# fill_random GB PORT: GB of random hex values (64 KB each, keys big0, big1, ...) through
# redis-cli --pipe: incompressible data for transfer and scale runs.
fill_random() {
  python3 - "$1" <<'PY' | redis-cli -p "$2" --pipe >/dev/null
import os, sys
n = int(float(sys.argv[1]) * 16384)
out = sys.stdout.buffer
for i in range(n):
    k = b"big%d" % i
    v = os.urandom(32768).hex().encode()
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
}
