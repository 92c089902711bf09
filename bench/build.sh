#!/usr/bin/env bash
# `docker build` of one Dockerfile with a 50 MB context (a COPY and three RUNs), cold (no cache,
# base image present) and cached (nothing changed), against berthd, Debian's dockerd (classic
# builder, DOCKER_BUILDKIT=0) and `podman build` on this machine, RUNS each, interleaved:
# medians and ratios to dockerd.
#   sudo bench/build.sh [RUNS=7]
# Private instances under /tmp/berth-bench-build (own roots, sockets, cgroup parents
# berth-bench-*; dockerd without bridge or iptables; RUN steps with --network none everywhere).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-7}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "dockerd missing: apt-get install -y docker.io" >&2; exit 1; }
have_podman=1
command -v podman >/dev/null || { have_podman=0; echo "podman missing (apt-get install -y podman): its column is skipped" >&2; }
B=/tmp/berth-bench-build
HOSTFILES="/etc/docker/key.json /opt/containerd /run/docker /run/containerd"
[ -e $B ] && { echo "$B exists (a previous run?): remove it first" >&2; exit 1; }

echo "building berthd, berth-shim (release)..." >&2
(cd "$here" && cargo build -q --release -p berth-server -p berth-shim)
rootfs=$("$here/scripts/fixture-busybox.sh")
mkdir -p $B
for f in $HOSTFILES; do [ -e "$f" ] && echo "$f"; done > $B/hostfiles.before || true

BS=$B/berth/berthd.sock
DS=$B/docker/docker.sock
dk() { local s=$1; shift; DOCKER_HOST=unix://$s DOCKER_BUILDKIT=0 docker "$@"; }
pm() { podman --root $B/podman/root --runroot $B/podman/run --cgroup-manager cgroupfs --runtime runc \
  --events-backend none --storage-driver overlay "$@"; }

cleanup() {
  set +e
  for s in $BS $DS; do
    [ -S $s ] || continue
    ids=$(timeout 30 env DOCKER_HOST=unix://$s docker ps -aq 2>/dev/null)
    [ -n "$ids" ] && timeout 120 env DOCKER_HOST=unix://$s docker rm -f $ids >/dev/null 2>&1
  done
  for p in $B/berth/berthd.pid $B/docker/dockerd.pid; do
    [ -f $p ] || continue
    pid=$(cat $p)
    kill -0 "$pid" 2>/dev/null || continue
    cpids=$(pgrep -P "$pid")
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    for c in $cpids; do
      for _ in $(seq 20); do kill -0 "$c" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$c" 2>/dev/null && kill -KILL "$c"
    done
  done
  [ $have_podman = 1 ] && [ -d $B/podman ] && pm system reset -f >/dev/null 2>&1
  for p in $(pgrep -f -- "$B/"); do [ "$p" != $$ ] && kill -KILL "$p" 2>/dev/null; done
  awk -v b="$B" '$5 ~ "^"b {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  for d in /sys/fs/cgroup/*/berth-bench-* /sys/fs/cgroup/memory/*/*/berth-bench-*; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  ip link del bthbenchb0 2>/dev/null; nft delete table inet berth-bthbenchb0 2>/dev/null
  for f in $HOSTFILES; do grep -qx "$f" $B/hostfiles.before 2>/dev/null || rm -rf "$f"; done
  awk -v b="$B" '$5 ~ "^"b {f=1} END {exit !f}' /proc/self/mountinfo || rm -rf --one-file-system $B
}
trap cleanup EXIT

# --- daemons ---
mkdir -p $B/berth $B/docker $B/podman
setsid "$here/target/release/berthd" --data-root $B/berth/data --exec-root $B/berth/run \
  -H unix://$BS --pidfile $B/berth/berthd.pid --cgroup-parent berth-bench-berthd \
  --bridge bthbenchb0 --bip 10.213.0.1/24 >$B/berth/log 2>&1 </dev/null &
echo '{}' > $B/docker/daemon.json
(cd $B && setsid dockerd --data-root $B/docker/data --exec-root $B/docker/exec \
  --pidfile $B/docker/dockerd.pid -H unix://$DS --config-file $B/docker/daemon.json \
  --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false --bridge=none \
  --cgroup-parent=/berth-bench-dockerd >$B/docker/log 2>&1 </dev/null &)
for s in $BS $DS; do
  for _ in $(seq 120); do dk $s version >/dev/null 2>&1 && break; sleep 0.5; done
  dk $s version >/dev/null 2>&1 || { echo "daemon at $s did not start" >&2; exit 1; }
  tar -C "$rootfs" -c . | dk $s import - busybox:latest >/dev/null
done
if [ $have_podman = 1 ]; then
  tar -C "$rootfs" -c . | pm import - localhost/busybox:latest >/dev/null
fi
dver=$(dk $DS version --format '{{.Server.Version}}')

# --- the context: 50 MB in 50 files, a COPY and three RUNs ---
C=$B/ctx
mkdir -p $C/data
for i in $(seq 50); do head -c 1048576 /dev/urandom > $C/data/blob$i; done
cat > $C/Dockerfile <<'EOF'
FROM busybox
COPY data /data
RUN du -s /data > /du
RUN echo built > /built && mkdir -p /app
RUN sh -c 'for i in 1 2 3; do echo $i; done > /app/count'
EOF
# podman names the base image localhost/busybox.
sed 's|^FROM busybox|FROM localhost/busybox|' $C/Dockerfile > $B/Dockerfile.podman

us() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }; local t1=$EPOCHREALTIME; echo $(( 10#${t1/./} - 10#${t0/./} )); }
b_cold() { dk $BS build -q --no-cache --network none $C; }
b_hot() { dk $BS build -q --network none $C; }
d_cold() { dk $DS build -q --no-cache --network none $C; }
d_hot() { dk $DS build -q --network none $C; }
p_cold() { pm build -q --no-cache --network none -f $B/Dockerfile.podman $C; }
p_hot() { pm build -q --network none -f $B/Dockerfile.podman $C; }

# Warm-up (and the caches for the "cached" rows).
b_hot >/dev/null; d_hot >/dev/null
[ $have_podman = 1 ] && p_hot >/dev/null
for k in cold hot; do for t in berth docker podman; do : > $B/t-$t-$k; done; done
for i in $(seq "$runs"); do
  us b_cold >> $B/t-berth-cold; us d_cold >> $B/t-docker-cold
  [ $have_podman = 1 ] && us p_cold >> $B/t-podman-cold
  us b_hot >> $B/t-berth-hot; us d_hot >> $B/t-docker-hot
  [ $have_podman = 1 ] && us p_hot >> $B/t-podman-hot
  echo "  run $i/$runs" >&2
done
med() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m/1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a=="-"||b=="-"||b==0) print "-"; else printf "%.2fx", a/b}'; }
echo
echo "docker build, 50 MB context, COPY + 3 RUN; medians of $runs (seconds); dockerd $dver classic builder"
printf "%-8s %10s %10s %10s %12s %12s\n" "" berthd dockerd podman "berth/docker" "podman/docker"
for k in cold hot; do
  bm=$(med $B/t-berth-$k); dm=$(med $B/t-docker-$k); pmed=$(med $B/t-podman-$k)
  label=$k; [ $k = hot ] && label=cached
  printf "%-8s %10s %10s %10s %12s %12s\n" $label "$bm" "$dm" "$pmed" "$(ratio "$bm" "$dm")" "$(ratio "$pmed" "$dm")"
done
