#!/usr/bin/env bash
# berth-runc against Debian's runc and crun: `<runtime> run` of busybox /bin/true, with and without
# a new network namespace, RUNS runs each (default 50), interleaved (one of each in turn), printing
# medians, p90 and ratios to berth-runc.
#   sudo bench/runtime.sh [RUNS]
# crun 1.8 refuses this machine's hybrid cgroup layout unless /sys/fs/cgroup/unified is unmounted,
# so the whole driver runs in a private mount namespace where it is: every runtime sees the same
# (pure v1) layout, the host's mounts are untouched.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-50}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for t in runc crun python3; do command -v $t >/dev/null || { echo "missing $t (apt-get install -y $t)" >&2; exit 1; }; done

if [ -z "${BERTH_BENCH_INNER:-}" ]; then
  echo "building berth-runc (release)..." >&2
  (cd "$here" && cargo build -q --release -p berth-runtime --bin berth-runc)
  exec env BERTH_BENCH_INNER=1 unshare -m --propagation private bash "$0" "$@"
fi
mountpoint -q /sys/fs/cgroup/unified && umount /sys/fs/cgroup/unified

berth=$here/target/release/berth-runc
rootfs=$("$here/scripts/fixture-busybox.sh")
work=$(mktemp -d /tmp/berth-bench-runtime.XXXXXX)
cleanup() {
  for r in berth runc crun; do
    for v in netns hostnet; do
      case $r in berth) b=$berth ;; *) b=$r ;; esac
      "$b" --root "$work/state-$r" delete -f "bth-bench-$r-$v" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
  # The runtimes leave the empty parent of their cgroups behind.
  find /sys/fs/cgroup -depth -type d -name 'berth-bench' -exec rmdir {} + 2>/dev/null || true
  # With the unified hierarchy unmounted here, crun wrote its cgroup into the plain tmpfs
  # directory below the mount point (hidden from the host, not removed by rmdir).
  if ! mountpoint -q /sys/fs/cgroup/unified; then rm -rf /sys/fs/cgroup/unified/berth-bench; fi
}
trap cleanup EXIT

# One bundle per variant, shared by the runtimes (read-only root, so nothing is written to it).
for v in netns hostnet; do
  mkdir -p "$work/$v"
  cp -a "$rootfs" "$work/$v/rootfs"
  runc spec -b "$work/$v"
  python3 - "$work/$v/config.json" "$v" <<'EOF'
import json, sys
p, v = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["readonly"] = True
c["linux"]["cgroupsPath"] = "berth-bench/" + v
if v == "hostnet":
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open(p, "w"), indent=1)
EOF
done

us() { # elapsed microseconds of "$@"
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>"$work/err" || { echo "FAILED: $* : $(cat "$work/err")" >&2; exit 1; }
  local t1=$EPOCHREALTIME
  echo $(( 10#${t1/./} - 10#${t0/./} ))
}

for r in berth runc crun; do for v in netns hostnet; do : > "$work/t-$r-$v"; done; done
# Warm-up: page cache, binaries.
for r in berth runc crun; do
  case $r in berth) b=$berth ;; *) b=$r ;; esac
  "$b" --root "$work/state-$r" run -b "$work/netns" "bth-bench-$r-netns" >/dev/null
done
for i in $(seq 1 "$runs"); do
  for v in netns hostnet; do
    for r in berth runc crun; do
      case $r in berth) b=$berth ;; *) b=$r ;; esac
      us "$b" --root "$work/state-$r" run -b "$work/$v" "bth-bench-$r-$v" >> "$work/t-$r-$v"
    done
  done
done

python3 - "$work" "$runs" "$(runc --version | head -1)" "$(crun --version | head -1)" <<'EOF'
import statistics, sys
work, runs, runcv, crunv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
print(f"runtime run of busybox /bin/true, {runs} interleaved runs each ({runcv}; {crunv})")
print(f"{'variant':9} {'runtime':11} {'median ms':>10} {'p90 ms':>8} {'vs berth':>9}")
for v in ["netns", "hostnet"]:
    med = {}
    for r in ["berth", "runc", "crun"]:
        xs = sorted(float(x) / 1000 for x in open(f"{work}/t-{r}-{v}") if x.strip())
        med[r] = statistics.median(xs)
        p90 = xs[int(len(xs) * 0.9) - 1]
        print(f"{v:9} {r + ('-runc' if r == 'berth' else ''):11} {med[r]:10.2f} {p90:8.2f} {med[r] / med['berth']:8.2f}x")
EOF
