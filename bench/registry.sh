#!/usr/bin/env bash
# Registry pull and push of a large image against a local Debian docker-registry (distribution):
#  pull into a fresh root: berth (download + verify + unpack, 3 layers at once)
#                          vs skopeo copy to dir: (download + verify, no unpack)
#                          vs the raw limit: curl of every layer at once | sha256sum + gunzip | tar x
#  push to a new repository: berth vs the raw limit (curl POST + PUT ?digest= per layer, at once)
# Medians of RUNS runs (hyperfine) and ratios.
#   sudo bench/registry.sh [RUNS=5] [MB=224] [LAYERS=4]
# Everything lives under /tmp/berth-bench-registry (registry storage, roots); the registry is
# killed by pid at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
mb=${2:-224}
layers=${3:-4}
[ "$(id -u)" = 0 ] || { echo "run as root (pulls unpack layers)" >&2; exit 1; }
for t in docker-registry skopeo hyperfine curl jq; do
  command -v $t >/dev/null || { echo "$t missing (apt-get install -y docker-registry skopeo hyperfine curl jq)" >&2; exit 1; }
done
B=/tmp/berth-bench-registry
[ -e $B ] && { echo "$B exists (a previous run?): remove it first" >&2; exit 1; }
mkdir -p $B/data

cleanup() {
  set +e
  if [ -f $B/registry.pid ]; then
    pid=$(cat $B/registry.pid)
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
  fi
  awk -v b="$B" '$5 ~ "^"b {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system $B
}
trap cleanup EXIT

echo "building the registry test drivers (release)..." >&2
bin=$(cd "$here" && cargo test -q --release -p berth-image --test registry --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.executable != null and .target.name == "registry") | .executable' | tail -1)
[ -x "$bin" ] || { echo "could not build the registry test binary" >&2; exit 1; }
drive() { "$bin" --ignored --exact "$1" --nocapture >/dev/null 2>&1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > $B/config.yml <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $B/data
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve $B/config.yml >$B/registry.log 2>&1 &
echo $! > $B/registry.pid
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
reg=127.0.0.1:$port
ref=$reg/bench/big:v1

echo "making a $mb MiB image of $layers gzip layers and pushing it..." >&2
BERTH_BENCH_ROOT=$B/src BERTH_BENCH_REF=$ref BERTH_BENCH_LAYERS=$layers BERTH_BENCH_MB=$mb drive bench_make_image
BERTH_BENCH_ROOT=$B/src BERTH_BENCH_SRC=$ref BERTH_BENCH_REF=$ref drive bench_push
manifest=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/bench/big/manifests/v1")
digests=$(echo "$manifest" | jq -r '.layers[].digest')
compressed=$(echo "$manifest" | jq '[.layers[].size] | add')
echo "image: $(echo "$digests" | wc -l) layers, $compressed bytes compressed" >&2

# the raw limit of a pull: every layer at once, hashed and unpacked as it streams
cat > $B/raw-pull.sh <<EOF
#!/usr/bin/env bash
set -euo pipefail
out=$B/raw
mkdir -p \$out
for d in $(echo $digests); do
  h=\${d#sha256:}
  mkdir -p \$out/\$h
  ( curl -sf "http://$reg/v2/bench/big/blobs/\$d" | tee >(sha256sum > \$out/\$h.sum) | gzip -dc | tar -x -C \$out/\$h
    sleep 0.05; [ "\$(cut -d' ' -f1 \$out/\$h.sum)" = "\$h" ] || { echo "digest mismatch \$d" >&2; exit 1; } ) &
done
wait
EOF
# the raw limit of a push: POST an upload and PUT each blob (from the pulled store) at once
cat > $B/raw-push.sh <<EOF
#!/usr/bin/env bash
set -euo pipefail
repo=bench/raw-\$(date +%s%N)
for d in $(echo $digests); do
  ( loc=\$(curl -sfi -X POST "http://$reg/v2/\$repo/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower(\$1)=="location"{print \$2}')
    case "\$loc" in http*) ;; *) loc="http://$reg\$loc";; esac
    sep='?'; case "\$loc" in *\?*) sep='&';; esac
    curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @$B/src/content/blobs/sha256/\${d#sha256:} "\$loc\${sep}digest=\$d" >/dev/null ) &
done
wait
EOF
chmod +x $B/raw-pull.sh $B/raw-push.sh

hf() { hyperfine --runs "$runs" --warmup 1 --style basic --export-json "$B/$1.json" "${@:2}" >&2; }
echo "--- pull ---" >&2
hf pull \
  --prepare "rm -rf $B/dst $B/skopeo $B/raw; sync" \
  -n berth "BERTH_BENCH_ROOT=$B/dst BERTH_BENCH_REF=$ref $bin --ignored --exact bench_pull" \
  -n skopeo "skopeo copy -q --src-tls-verify=false docker://$ref dir:$B/skopeo" \
  -n raw "$B/raw-pull.sh"
echo "--- push ---" >&2
hf push \
  -n berth "BERTH_BENCH_ROOT=$B/src BERTH_BENCH_SRC=$ref BERTH_BENCH_REF=$reg/bench/push-\$(date +%s%N):v1 $bin --ignored --exact bench_push" \
  -n raw "$B/raw-push.sh"

python3 - "$B" "$compressed" <<'EOF'
import json, sys
b, size = sys.argv[1], int(sys.argv[2])
for name in ("pull", "push"):
    res = {r["command"]: r for r in json.load(open(f"{b}/{name}.json"))["results"]}
    raw = res["raw"]["median"]
    print(f"{name} of {size / 1e6:.0f} MB compressed ({len(res)} tools, medians):")
    for cmd, r in res.items():
        med = r["median"]
        print(f"  {cmd:8s} {med:7.3f} s  {size / med / 1e6:7.1f} MB/s  {med / raw:5.2f}x raw")
EOF
