#!/usr/bin/env bash
# The main job, end to end on a fresh machine (as root): install what is missing, build, make the
# busybox base image from Debian's busybox-static, run a container and show it working.
# Until berthd lands (issue 4) the container is run by berth-runc directly on an OCI bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (sudo scripts/demo.sh)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
need=()
for p in busybox-static libseccomp-dev pkg-config; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi

echo "== build"
cargo build --release --bins
runc=$PWD/target/release/berth-runc

echo "== base image: busybox rootfs from Debian's busybox-static"
rootfs=$(scripts/fixture-busybox.sh)
echo "$rootfs"

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
state=$work/state
cleanup() {
  "$runc" --root "$state" delete -f demo >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp -a "$rootfs" "$work/rootfs"
"$runc" spec -b "$work"
# A non-interactive process, a memory and pids limit, a cgroup below ours.
python3 - "$work/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c",
    "echo \"hello from $(hostname): uid=$(id -u), pid=$$\"; "
    "grep -E '^(CapEff|Seccomp|NoNewPrivs)' /proc/self/status; "
    "echo memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); "
    "echo pids limit: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); "
    "ls /"]
c["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 64}}
c["linux"]["cgroupsPath"] = "berth/berth-demo"
json.dump(c, open(p, "w"), indent=2)
EOF
echo "== berth-runc run demo"
"$runc" --root "$state" run -b "$work" demo
echo "== exit code $?"
