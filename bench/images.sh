#!/usr/bin/env bash
# Image load/save speed: Berth (crates/image, through its example binary) against the raw limit
# (sha256sum + tar -x of the same layers; gzip -dc | tar -x for compressed ones) and skopeo.
#   bench/images.sh [RUNS]         (default 5; needs root for ownership, busybox-static, skopeo)
# Builds a >=200 MB image with 4 layers (busybox rootfs + 3 generated layers of random data),
# prints medians of RUNS runs (warm page cache) and ratios to the raw limit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
work=$(mktemp -d /tmp/berth-bench-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "building the example binary (release)..." >&2
(cd "$here" && cargo build -q --release -p berth-image --example berth-image)
bi="$here/target/release/examples/berth-image"
rootfs=$("$here/scripts/fixture-busybox.sh")
command -v skopeo >/dev/null || { echo "skopeo missing: apt-get install -y skopeo" >&2; exit 1; }

# --- the image: layer 0 busybox, layers 1-3 generated (random, so gzip cannot cheat much) ---
mkdir -p "$work/layers"
tar -C "$rootfs" -cf "$work/layers/l0.tar" .
for l in 1 2 3; do
  d="$work/gen$l"; mkdir -p "$d/data/big" "$d/data/small"
  for i in $(seq 1 45); do head -c 1M /dev/urandom > "$d/data/big/f$i.bin"; done
  for i in $(seq 1 2000); do head -c 6K /dev/urandom | base64 > "$d/data/small/s$i.txt"; done
  tar -C "$d" -cf "$work/layers/l$l.tar" .
  rm -rf "$d"
done
for f in "$work"/layers/*.tar; do gzip -6 -c "$f" > "$f.gz"; done
total=$(du -cb "$work"/layers/*.tar | tail -1 | cut -f1)
echo "image: 4 layers, $((total / 1000000)) MB uncompressed, $(du -cb "$work"/layers/*.gz | tail -1 | cut -f1 | awk '{print int($1/1000000)}') MB gzip" >&2

"$bi" build "$work/src" bench/img:1 "$work"/layers/l{0,1,2,3}.tar.gz >/dev/null
"$bi" save "$work/src" "$work/img.tar" bench/img:1

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# time_it NAME SETUP CMD: runs SETUP (untimed) then CMD, RUNS times; prints the median seconds
declare -A T
time_it() {
  local name=$1 setup=$2 cmd=$3 i t0 t1
  for i in $(seq 1 "$runs"); do
    eval "$setup"
    sync
    t0=$(now); eval "$cmd"; t1=$(now)
    echo "$t1 - $t0" | bc -l
  done | median > "$work/t"
  T[$name]=$(cat "$work/t")
  printf '  %-44s %8.3f s\n' "$name" "${T[$name]}"
}
ratio() { echo "scale=2; ${T[$1]} / ${T[$2]}" | bc -l; }

echo "medians of $runs runs (warm cache):"
time_it "raw: sha256sum + tar -x (4 uncompressed layers)" 'rm -rf "$work/x"; mkdir "$work/x"' \
  'for f in "$work"/layers/*.tar; do sha256sum "$f" >/dev/null; tar -C "$work/x" -xf "$f"; done'
time_it "berth load docker-archive" 'rm -rf "$work/dst"' '"$bi" load "$work/dst" "$work/img.tar" >/dev/null'
time_it "raw: sha256sum + gzip -dc | tar -x (4 gz layers)" 'rm -rf "$work/x"; mkdir "$work/x"' \
  'for f in "$work"/layers/*.tar.gz; do sha256sum "$f" >/dev/null; gzip -dc "$f" | tar -C "$work/x" -x; done'
time_it "berth build from gz layers (ingest + unpack)" 'rm -rf "$work/dst"' \
  '"$bi" build "$work/dst" bench/img:1 "$work"/layers/l{0,1,2,3}.tar.gz >/dev/null'
time_it "skopeo copy docker-archive: oci:" 'rm -rf "$work/oci"' \
  'skopeo --insecure-policy copy -q "docker-archive:$work/img.tar" "oci:$work/oci:img" >/dev/null'
time_it "raw: tar -c of the 4 layers + sync" 'rm -f "$work/raw-save.tar"' \
  'tar -C "$work/layers" -cf "$work/raw-save.tar" l0.tar l1.tar l2.tar l3.tar; sync "$work/raw-save.tar"'
time_it "berth save docker-archive (gz blobs → tar)" 'rm -f "$work/out.tar"' '"$bi" save "$work/src" "$work/out.tar" bench/img:1'
"$bi" load "$work/dst2" "$work/img.tar" >/dev/null
time_it "berth save docker-archive (tar blobs)" 'rm -f "$work/out.tar"' '"$bi" save "$work/dst2" "$work/out.tar" bench/img:1'
time_it "skopeo copy docker-archive: docker-archive:" 'rm -f "$work/sk.tar"' \
  'skopeo --insecure-policy copy -q "docker-archive:$work/img.tar" "docker-archive:$work/sk.tar:bench/img:1" >/dev/null'

echo "ratios:"
echo "  berth load / raw (tar)               $(ratio 'berth load docker-archive' 'raw: sha256sum + tar -x (4 uncompressed layers)')  (target <= 1.2)"
echo "  berth build gz / raw (gzip -dc|tar)  $(ratio 'berth build from gz layers (ingest + unpack)' 'raw: sha256sum + gzip -dc | tar -x (4 gz layers)')"
echo "  skopeo copy → oci / berth load       $(ratio 'skopeo copy docker-archive: oci:' 'berth load docker-archive')"
echo "  berth save (tar blobs) / raw tar -c  $(ratio 'berth save docker-archive (tar blobs)' 'raw: tar -c of the 4 layers + sync')"
echo "  skopeo docker-archive / berth save   $(ratio 'skopeo copy docker-archive: docker-archive:' 'berth save docker-archive (tar blobs)')"
