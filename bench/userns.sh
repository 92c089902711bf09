#!/usr/bin/env bash
# What --userns-remap costs: `docker run --rm busybox true` against two berthds on this machine,
# one plain and one with --userns-remap=default (user namespace, id-mapped layers), same CLI,
# interleaved, RUNS runs each: medians, p90s, ratio. Also with --network none, which leaves the
# network setup out of both.
#   sudo bench/userns.sh [RUNS=30]
# Both daemons are private instances under /tmp/berth-bench-userns (own roots, sockets, bridges
# bthbu0/bthbu1, cgroup parents berth-bench-userns-*). --userns-remap=default creates the
# berth-remap user (and its /etc/subuid range) if missing; it stays, like dockerd's dockremap.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
B=/tmp/berth-bench-userns
[ -e $B ] && { echo "$B exists (a previous run?): remove it first" >&2; exit 1; }

echo "building berthd, berth-shim (release)..." >&2
(cd "$here" && cargo build -q --release -p berth-server -p berth-shim)
rootfs=$("$here/scripts/fixture-busybox.sh")
mkdir -p $B
chmod 711 $B

dk() { local s=$1; shift; DOCKER_HOST=unix://$s docker "$@"; }
PLAIN=$B/plain/berthd.sock
REMAP=$B/remap/berthd.sock

cleanup() {
  set +e
  for s in $PLAIN $REMAP; do
    [ -S $s ] || continue
    ids=$(timeout 30 env DOCKER_HOST=unix://$s docker ps -aq 2>/dev/null)
    [ -n "$ids" ] && timeout 120 env DOCKER_HOST=unix://$s docker rm -f $ids >/dev/null 2>&1
  done
  for p in $B/plain/berthd.pid $B/remap/berthd.pid; do
    [ -f $p ] || continue
    pid=$(cat $p)
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  awk -v b="$B" '$5 ~ "^"b {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  for d in $(find /sys/fs/cgroup -depth -type d -name 'berth-bench-userns-*' 2>/dev/null); do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  for br in bthbu0 bthbu1; do
    ip link del $br 2>/dev/null
    nft delete table inet berth-$br 2>/dev/null
  done
  awk -v b="$B" '$5 ~ "^"b {f=1} END {exit !f}' /proc/self/mountinfo || rm -rf --one-file-system $B
}
trap cleanup EXIT

start() { # name bridge bip pool extra...
  local name=$1 br=$2 bip=$3 pool=$4; shift 4
  mkdir -p $B/$name
  setsid "$here/target/release/berthd" --data-root $B/$name/data --exec-root $B/$name/run \
    -H unix://$B/$name/berthd.sock --pidfile $B/$name/berthd.pid \
    --cgroup-parent berth-bench-userns-$name --bridge $br --bip $bip \
    --default-address-pool base=$pool,size=24 --dns 127.0.0.9 "$@" \
    >$B/$name/log 2>&1 </dev/null &
}
start plain bthbu0 10.179.1.1/24 10.179.16.0/20
start remap bthbu1 10.179.2.1/24 10.179.32.0/20 --userns-remap=default
for s in $PLAIN $REMAP; do
  for _ in $(seq 120); do dk $s version >/dev/null 2>&1 && break; sleep 0.5; done
  dk $s version >/dev/null 2>&1 || { echo "daemon at $s did not start: $(cat $(dirname $s)/log)" >&2; exit 1; }
  tar -C "$rootfs" -c . | dk $s import - busybox:latest >/dev/null
done
[ "$(dk $REMAP run --rm busybox cat /proc/self/uid_map | awk '{print $2}')" != 0 ] ||
  { echo "the remapped daemon's container is not remapped" >&2; exit 1; }

us() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }; local t1=$EPOCHREALTIME; echo $(( 10#${t1/./} - 10#${t0/./} )); }
stat_ms() { sort -n "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; p=a[int(NR*0.9+0.5)]; printf "%.1f %.1f", m/1000, p/1000}'; }

for net in default none; do
  args=(run --rm)
  [ $net = none ] && args+=(--network none)
  : > $B/t-plain; : > $B/t-remap
  for _ in 1 2 3; do dk $PLAIN "${args[@]}" busybox true; dk $REMAP "${args[@]}" busybox true; done >/dev/null
  for i in $(seq "$runs"); do
    if (( i % 2 )); then
      us dk $PLAIN "${args[@]}" busybox true >> $B/t-plain
      us dk $REMAP "${args[@]}" busybox true >> $B/t-remap
    else
      us dk $REMAP "${args[@]}" busybox true >> $B/t-remap
      us dk $PLAIN "${args[@]}" busybox true >> $B/t-plain
    fi
  done
  read -r pm pp <<<"$(stat_ms $B/t-plain)"
  read -r rm_ rp <<<"$(stat_ms $B/t-remap)"
  ratio=$(awk -v a="$rm_" -v b="$pm" 'BEGIN {printf "%.3f", a/b}')
  printf 'run --rm true, network %-7s  plain: median %6.1f ms p90 %6.1f | remap: median %6.1f ms p90 %6.1f | remap/plain %s  (%s runs each, interleaved)\n' \
    "$net" "$pm" "$pp" "$rm_" "$rp" "$ratio" "$runs"
done
