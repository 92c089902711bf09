#!/usr/bin/env bash
# The main job, end to end on a fresh machine (as root): install what is missing, build, start
# berthd on its defaults (/var/lib/berth, unix:///run/berth/berthd.sock), make the busybox base
# image from Debian's busybox-static, run a container and show it working.
# The client is Berth's own `berth` when it is built, else the stock docker CLI pointed at berthd.
# berthd is stopped at the end if this script started it (KEEP_BERTHD=1 leaves it running).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (sudo scripts/demo.sh)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
need=()
for p in busybox-static libseccomp-dev pkg-config curl; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi

echo "== build"
cargo build --release --bins
bin=$PWD/target/release
sock=/run/berth/berthd.sock
export DOCKER_HOST=unix://$sock

started=""
if ! curl -s --unix-socket "$sock" http://berth/_ping >/dev/null 2>&1; then
  echo "== start berthd (log: /run/berth/berthd.log)"
  mkdir -p /run/berth
  "$bin/berthd" >/run/berth/berthd.log 2>&1 &
  started=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
fi
stop() {
  if [ -n "$started" ] && [ -z "${KEEP_BERTHD:-}" ]; then
    kill "$started" 2>/dev/null || true
    wait "$started" 2>/dev/null || true
    # What berthd made on the host for networking (its data root stays).
    ip link del berth0 2>/dev/null || true
    nft delete table inet berth 2>/dev/null || true
  fi
}
trap stop EXIT

if [ -x "$bin/berth" ]; then cli=("$bin/berth"); else cli=(docker); fi
echo "== client: ${cli[*]}"

echo "== base image: busybox from Debian's busybox-static"
rootfs=$(scripts/fixture-busybox.sh)
tar -C "$rootfs" -c . | "${cli[@]}" import - busybox:latest
"${cli[@]}" images

echo "== run a container"
"${cli[@]}" run --rm --name berth-demo --memory 64m --pids-limit 64 busybox sh -c '
  echo "hello from $(hostname): uid=$(id -u), pid=$$"
  echo "network: $(ip -4 -o addr show eth0 | awk "{print \$4}") via $(ip route | awk "/default/{print \$3}")"
  grep -E "^(CapEff|Seccomp|NoNewPrivs)" /proc/self/status
  echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
  echo "pids limit: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
  ls /'
echo "== exit code $?"
"${cli[@]}" ps -a
