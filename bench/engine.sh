#!/usr/bin/env bash
# berthd against Debian's dockerd (+ containerd + runc) on this machine, same docker 28 CLI:
#  1. `docker run --rm --network none busybox true`, RUNS runs each, interleaved: medians, ratio;
#     also berthd with `--runtime runc` and `--runtime crun` (berth-shim driving the binary)
#     where they work on this host
#  2. N containers started concurrently with `run -d` (sleep): wall time
#  3. memory with N running: RSS and PSS of the daemon(s) plus every shim
#  4. `docker ps` with N running: median of 10
#   sudo bench/engine.sh [RUNS=30] [N=50]
# Both daemons are private instances under /tmp/berth-bench-engine (own roots, sockets,
# cgroup parents named berth-bench-*; dockerd without bridge, iptables or ip_forward changes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
n=${2:-50}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "dockerd missing: apt-get install -y docker.io" >&2; exit 1; }
B=/tmp/berth-bench-engine
HOSTFILES="/etc/docker/key.json /opt/containerd /run/docker /run/containerd"
[ -e $B ] && { echo "$B exists (a previous run?): remove it first" >&2; exit 1; }

echo "building berthd, berth-shim (release)..." >&2
(cd "$here" && cargo build -q --release -p berth-server -p berth-shim)
rootfs=$("$here/scripts/fixture-busybox.sh")
mkdir -p $B
for f in $HOSTFILES; do [ -e "$f" ] && echo "$f"; done > $B/hostfiles.before || true
# berthd makes its default bridge and nft table at start: removed at the end unless already there.
had_bridge=; ip link show berth0 >/dev/null 2>&1 && had_bridge=1

BS=$B/berth/berthd.sock
DS=$B/docker/docker.sock
dk() { local s=$1; shift; DOCKER_HOST=unix://$s docker "$@"; }

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
  for p in $(pgrep -f -- "$B/"); do [ "$p" != $$ ] && kill -KILL "$p" 2>/dev/null; done
  awk -v b="$B" '$5 ~ "^"b {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  for d in /sys/fs/cgroup/*/berth-bench-* /sys/fs/cgroup/memory/*/*/berth-bench-*; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  for f in $HOSTFILES; do grep -qx "$f" $B/hostfiles.before 2>/dev/null || rm -rf "$f"; done
  if [ -z "$had_bridge" ]; then
    ip link del berth0 2>/dev/null; nft delete table inet berth 2>/dev/null
  fi
  awk -v b="$B" '$5 ~ "^"b {f=1} END {exit !f}' /proc/self/mountinfo || rm -rf --one-file-system $B
}
trap cleanup EXIT

# --- daemons ---
mkdir -p $B/berth $B/docker
crun_flag=(); [ -x /usr/bin/crun ] && crun_flag=(--add-runtime crun=/usr/bin/crun)
setsid "$here/target/release/berthd" --data-root $B/berth/data --exec-root $B/berth/run \
  -H unix://$BS --pidfile $B/berth/berthd.pid --cgroup-parent berth-bench-berthd "${crun_flag[@]}" \
  >$B/berth/log 2>&1 </dev/null &
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
dver=$(dk $DS version --format '{{.Server.Version}}')

us() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }; local t1=$EPOCHREALTIME; echo $(( 10#${t1/./} - 10#${t0/./} )); }

# --- 1. run --rm latency ---
: > $B/t-berth; : > $B/t-docker
dk $BS run --rm --network none busybox true; dk $DS run --rm --network none busybox true
ext=()
for r in runc crun; do
  : > $B/t-berth-$r
  dk $BS run --rm --network none --runtime $r busybox true >/dev/null 2>&1 && ext+=($r)
done
for _ in $(seq "$runs"); do
  us dk $BS run --rm --network none busybox true >> $B/t-berth
  us dk $DS run --rm --network none busybox true >> $B/t-docker
  for r in "${ext[@]}"; do us dk $BS run --rm --network none --runtime $r busybox true >> $B/t-berth-$r; done
done

# --- 2. N concurrent run -d ---
par() {
  local s=$1 t0 t1
  t0=$EPOCHREALTIME
  for i in $(seq "$n"); do dk $s run -d --network none --name "bth-bench-$i" busybox sleep 3600 >/dev/null & done
  wait
  t1=$EPOCHREALTIME
  echo $(( (10#${t1/./} - 10#${t0/./}) / 1000 ))
}
wall_b=$(par $BS)
wall_d=$(par $DS)
running_b=$(dk $BS ps -q | wc -l)
running_d=$(dk $DS ps -q | wc -l)

# --- 3. memory ---
mem() { # KiB: rss pss of the given pids
  local rss=0 pss=0 p r q
  for p in "$@"; do
    [ -r /proc/$p/smaps_rollup ] || continue
    r=$(awk '/^Rss:/{print $2}' /proc/$p/smaps_rollup); q=$(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)
    rss=$((rss + r)); pss=$((pss + q))
  done
  echo "$rss $pss"
}
bpid=$(cat $B/berth/berthd.pid)
shims_b=$(pgrep -f -- "berth-shim $B/berth/run/shims/" || true)
dpid=$(cat $B/docker/dockerd.pid)
cpid=$(pgrep -P "$dpid" -x containerd || true)
shims_d=$(pgrep -f -- "containerd-shim.*-address $B/docker/exec" || true)
read -r mb_d_rss mb_d_pss < <(mem $bpid)
read -r mb_s_rss mb_s_pss < <(mem $shims_b)
read -r md_d_rss md_d_pss < <(mem $dpid $cpid)
read -r md_s_rss md_s_pss < <(mem $shims_d)
nb=$(echo $shims_b | wc -w); nd=$(echo $shims_d | wc -w)

# --- 4. ps with N running ---
: > $B/ps-berth; : > $B/ps-docker
for _ in $(seq 10); do us dk $BS ps >> $B/ps-berth; us dk $DS ps >> $B/ps-docker; done

python3 - "$B" "$runs" "$n" "$dver" <<EOF
import statistics, sys
B, runs, n, dver = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def med(f): return statistics.median(float(x)/1000 for x in open(f"{B}/{f}") if x.strip())
rb, rd = med("t-berth"), med("t-docker")
pb, pd = med("ps-berth"), med("ps-docker")
print(f"berthd vs dockerd {dver} (containerd + runc), docker 28 CLI, --network none")
print(f"1. run --rm busybox true, {runs} interleaved runs: berthd {rb:.1f} ms, dockerd {rd:.1f} ms median; berthd/dockerd = {rb/rd:.2f} (target <= 0.25)")
import os
for r in ("runc", "crun"):
    f = f"{B}/t-berth-{r}"
    if os.path.exists(f) and os.path.getsize(f) > 0:
        x = med(f"t-berth-{r}")
        print(f"   berthd --runtime {r}: {x:.1f} ms median; /dockerd = {x/rd:.2f}, /berthd linked = {x/rb:.2f}")
    else:
        print(f"   berthd --runtime {r}: not run ({r} refused a container on this host or is missing)")
print(f"2. {n} x run -d concurrently: berthd {$wall_b} ms ({$running_b} running), dockerd {$wall_d} ms ({$running_d} running); ratio {$wall_b/$wall_d:.2f}")
print(f"3. memory with {n} running (KiB):")
print(f"   berthd           RSS {$mb_d_rss:>8} PSS {$mb_d_pss:>8}")
print(f"   {$nb:>3} berth-shims   RSS {$mb_s_rss:>8} PSS {$mb_s_pss:>8}   PSS/shim {$mb_s_pss/max($nb,1):.0f} KiB (target < 512)")
print(f"   dockerd+containerd RSS {$md_d_rss:>8} PSS {$md_d_pss:>8}")
print(f"   {$nd:>3} containerd-shims RSS {$md_s_rss:>8} PSS {$md_s_pss:>8}   PSS/shim {$md_s_pss/max($nd,1):.0f} KiB")
print(f"   total PSS: berth {($mb_d_pss+$mb_s_pss)/1024:.1f} MiB, docker {($md_d_pss+$md_s_pss)/1024:.1f} MiB")
print(f"4. docker ps with {n} running, median of 10: berthd {pb:.1f} ms, dockerd {pd:.1f} ms")
EOF
