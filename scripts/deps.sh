#!/usr/bin/env bash
# Installs what building and testing Strata needs on Debian, if missing:
#   libclang-dev + clang (bindgen for the RocksDB bindings), make + g++ (jemalloc's and
#   RocksDB's native builds), redis-tools (redis-cli,
#   redis-benchmark), redis-server (the reference peer in tests and benchmarks), redis-sentinel
#   and prometheus-redis-exporter (the stock exporter, pointed at Strata in a test), openssl
#   (the command: test certificates for the TLS tests and benchmark).
# Usage: scripts/deps.sh [build|test]   (build = only what compiling needs)
set -euo pipefail
want=(libclang-dev clang make g++)
if [ "${1:-test}" != build ]; then
  want+=(redis-tools redis-server redis-sentinel prometheus-redis-exporter openssl)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# A stock redis-server may be started by the package; tests start their own on free ports.
# redis-py: the client library black-box tests drive (its Lock is a Lua script).
if [ "${1:-test}" != build ] && command -v python3 >/dev/null; then
  if ! python3 -c "import redis" 2>/dev/null; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
      SUDO=""
      if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
    fi
    echo "deps: installing redis-py" >&2
    python3 -m pip install -q redis 2>/dev/null || python3 -m pip install -q --break-system-packages redis
  fi
fi
