#!/usr/bin/env bash
# Networking: berthd against Debian's dockerd on this machine, same docker 28 CLI.
#  1. TCP throughput of one stream (iperf3, 5 s, median of 3) from the host to a container:
#     to its address on the bridge, through berthd's published port on 127.0.0.1 (kernel DNAT),
#     and through dockerd's published port on 127.0.0.1 (docker-proxy, its userland proxy)
#  2. connection latency: median time of 500 TCP connect+close through the same three paths
#  3. the cost of the bridge: `run --rm busybox true` bridged vs --network none (RUNS each)
#   sudo bench/network.sh [RUNS=20]
# iperf3 runs from the host's binary inside the containers' namespaces (nsenter), since busybox
# has none. dockerd runs privately under /tmp/berth-bench-net with --iptables=false on a bridge
# this script makes (bthbenchd0), so it publishes through docker-proxy and never touches the
# host's firewall tables; berthd has its own bridge (bthbenchb0) and nft table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for c in dockerd iperf3 nsenter python3; do
  command -v $c >/dev/null || { echo "$c missing: apt-get install -y docker.io iperf3 util-linux python3" >&2; exit 1; }
done
B=/tmp/berth-bench-net
HOSTFILES="/etc/docker/key.json /opt/containerd /run/docker /run/containerd"
[ -e $B ] && { echo "$B exists (a previous run?): remove it first" >&2; exit 1; }
echo "building berthd, berth-shim (release)..." >&2
(cd "$here" && cargo build -q --release -p berth-server -p berth-shim)
rootfs=$("$here/scripts/fixture-busybox.sh")
mkdir -p $B/berth $B/docker
for f in $HOSTFILES; do [ -e "$f" ] && echo "$f"; done > $B/hostfiles.before || true
BS=$B/berth/berthd.sock
DS=$B/docker/docker.sock
dk() { local s=$1; shift; DOCKER_HOST=unix://$s docker "$@"; }

cleanup() {
  set +e
  for p in $(pgrep -f "iperf3 -s -p 52"); do kill "$p"; done
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
  ip link del bthbenchb0 2>/dev/null; ip link del bthbenchd0 2>/dev/null
  nft delete table inet berth-bthbenchb0 2>/dev/null
  for l in $(ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^veth'); do
    # dockerd's veths on our bridge (only ours: they hang off bthbenchd0).
    ip -o link show "$l" 2>/dev/null | grep -q 'master bthbenchd0' && ip link del "$l"
  done
  for f in $HOSTFILES; do grep -qx "$f" $B/hostfiles.before 2>/dev/null || rm -rf "$f"; done
  awk -v b="$B" '$5 ~ "^"b {f=1} END {exit !f}' /proc/self/mountinfo || rm -rf --one-file-system $B
}
trap cleanup EXIT

setsid "$here/target/release/berthd" --data-root $B/berth/data --exec-root $B/berth/run \
  -H unix://$BS --pidfile $B/berth/berthd.pid --cgroup-parent berth-bench-berthd \
  --bridge bthbenchb0 --bip 10.231.1.1/24 >$B/berth/log 2>&1 </dev/null &
ip link add bthbenchd0 type bridge
ip addr add 10.231.2.1/24 dev bthbenchd0
ip link set bthbenchd0 up
echo '{}' > $B/docker/daemon.json
(cd $B && setsid dockerd --data-root $B/docker/data --exec-root $B/docker/exec \
  --pidfile $B/docker/dockerd.pid -H unix://$DS --config-file $B/docker/daemon.json \
  --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false --bridge=bthbenchd0 \
  --userland-proxy=true --cgroup-parent=/berth-bench-dockerd >$B/docker/log 2>&1 </dev/null &)
for s in $BS $DS; do
  for _ in $(seq 120); do dk $s version >/dev/null 2>&1 && break; sleep 0.5; done
  dk $s version >/dev/null 2>&1 || { echo "daemon at $s did not start" >&2; exit 1; }
  tar -C "$rootfs" -c . | dk $s import - busybox:latest >/dev/null
done
dver=$(dk $DS version --format '{{.Server.Version}}')

# Servers: a container each with busybox httpd on 8080 (connect latency) and iperf3 in its
# namespace on 5201 (throughput), both published on 127.0.0.1.
dk $BS run -d --name bnet -p 127.0.0.1:52011:5201 -p 127.0.0.1:52021:8080 busybox httpd -f -p 8080 -h /etc >/dev/null
dk $DS run -d --name bnet -p 127.0.0.1:52012:5201 -p 127.0.0.1:52022:8080 busybox httpd -f -p 8080 -h /etc >/dev/null
bpid=$(dk $BS inspect -f '{{.State.Pid}}' bnet); dpid=$(dk $DS inspect -f '{{.State.Pid}}' bnet)
bip=$(dk $BS inspect -f '{{.NetworkSettings.IPAddress}}' bnet)
nsenter -t "$bpid" -n iperf3 -s -p 5201 -D --logfile $B/iperf-b.log
nsenter -t "$dpid" -n iperf3 -s -p 5201 -D --logfile $B/iperf-d.log
sleep 0.5

gbps() { # host port -> Gbit/s
  iperf3 -c "$1" -p "$2" -t 5 -J 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)'
}
med() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
declare -A T
for path in "direct:$bip:5201" "dnat:127.0.0.1:52011" "proxy:127.0.0.1:52012"; do
  IFS=: read -r name host port <<<"$path"
  v=(); for _ in 1 2 3; do v+=("$(gbps "$host" "$port")"); done
  T[$name]=$(med "${v[@]}")
done

lat() { # host port -> median connect+close in µs over 500
  python3 - "$1" "$2" <<'PY'
import socket, statistics, sys, time
h, p = sys.argv[1], int(sys.argv[2])
v = []
for _ in range(500):
    t = time.perf_counter()
    s = socket.create_connection((h, p)); s.close()
    v.append((time.perf_counter() - t) * 1e6)
print(statistics.median(v))
PY
}
declare -A L
L[direct]=$(lat "$bip" 8080); L[dnat]=$(lat 127.0.0.1 52021); L[proxy]=$(lat 127.0.0.1 52022)

us() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }; local t1=$EPOCHREALTIME; echo $(( 10#${t1/./} - 10#${t0/./} )); }
: > $B/b-br; : > $B/b-none; : > $B/d-br; : > $B/d-none
for _ in $(seq "$runs"); do
  us dk $BS run --rm busybox true >> $B/b-br
  us dk $BS run --rm --network none busybox true >> $B/b-none
  us dk $DS run --rm busybox true >> $B/d-br
  us dk $DS run --rm --network none busybox true >> $B/d-none
done
mf() { python3 -c 'import statistics,sys; print(statistics.median(int(l) for l in open(sys.argv[1]))/1000)' "$1"; }
python3 - <<PY
d, n, p = ${T[direct]}, ${T[dnat]}, ${T[proxy]}
ld, ln, lp = ${L[direct]}, ${L[dnat]}, ${L[proxy]}
bb, bn, db, dn = $(mf $B/b-br), $(mf $B/b-none), $(mf $B/d-br), $(mf $B/d-none)
print("berthd vs dockerd $dver (docker-proxy for published ports, --iptables=false), docker 28 CLI")
print(f"1. one TCP stream, iperf3 5 s, median of 3 (Gbit/s):")
print(f"   container address {d:.2f} | berthd published port on 127.0.0.1 (kernel DNAT) {n:.2f} ({n/d:.2f} of direct, target >= 0.9) | dockerd published port (docker-proxy) {p:.2f} ({p/d:.2f} of direct)")
print(f"2. TCP connect+close, median of 500 (µs): direct {ld:.0f} | berthd DNAT {ln:.0f} | docker-proxy {lp:.0f}")
print(f"3. run --rm busybox true, median of $runs (ms): berthd bridged {bb:.1f}, none {bn:.1f}: the bridge costs {bb-bn:.1f} ms (target < 15)")
print(f"   dockerd bridged {db:.1f}, none {dn:.1f}: the bridge costs {db-dn:.1f} ms; berthd/dockerd bridged = {bb/db:.2f}")
PY
