#!/usr/bin/env bash
# Image load/save speed: Berth (crates/image, through its example binary) against the raw limit
# and skopeo.
#   bench/images.sh [RUNS]         (default 5; needs root for ownership, busybox-static, skopeo)
#   BERTH_IMAGE_BIN=path BERTH_BENCH_SETTLE=seconds bench/images.sh   (other binary, settle time)
# Builds a >=200 MB image with 4 layers (busybox rootfs + 3 generated layers of random data),
# prints medians of RUNS runs (warm page cache) and ratios to the raw limit.
#
# The raw limit of a load is what any loader must do with the same layers, done by the fastest
# stock tools: hash each layer (sha256sum) and extract it (tar -x) into a directory of its own,
# as Berth keeps one directory per layer (an overlay lowerdir); layer files already in the page
# cache. It is a floor, not the same work: Berth also reads the layers out of the outer archive
# and keeps each blob in its content store (another 200 MB written and fsynced, its crash-safety
# guarantee). The line "raw + keep the blobs" adds that copy (cp + fsync) to show the floor of a
# loader that keeps blobs. Unpacked layers are not fsynced, by Berth nor by the raw commands.
#
# Fairness: measured commands run interleaved (raw, berth, raw, berth, ...) so both see the same
# machine load, each into a fresh directory, and nothing is deleted before the end: ext4 without
# a journal (as on the dev VMs) skips inodes freed in the last 60 s (360 s while their inode
# table block is dirty) when it allocates new ones (recently_deleted() in fs/ext4/ialloc.c), so
# right after an `rm -rf` of thousands of files every file create pays a scan, which made the
# timings swing by 3-5x. BERTH_BENCH_SETTLE (default 60) seconds are waited after setup for the
# same reason (other work on the machine may have deleted files).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
work=$(mktemp -d /tmp/berth-bench-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ -n "${BERTH_IMAGE_BIN:-}" ]; then
  bi=$BERTH_IMAGE_BIN   # another build of the example, e.g. to measure a before/after
else
  echo "building the example binary (release)..." >&2
  (cd "$here" && cargo build -q --release -p berth-image --example berth-image)
  bi="$here/target/release/examples/berth-image"
fi
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
done   # the generated trees stay until the end: deleting them would slow the creates below
for f in "$work"/layers/*.tar; do gzip -6 -c "$f" > "$f.gz"; done
total=$(du -cb "$work"/layers/*.tar | tail -1 | cut -f1)
echo "image: 4 layers, $((total / 1000000)) MB uncompressed, $(du -cb "$work"/layers/*.gz | tail -1 | cut -f1 | awk '{print int($1/1000000)}') MB gzip" >&2

"$bi" build "$work/src" bench/img:1 "$work"/layers/l{0,1,2,3}.tar.gz >/dev/null
"$bi" save "$work/src" "$work/img.tar" bench/img:1

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# time_group NAME1 CMD1 [NAME2 CMD2 ...]: runs the commands interleaved, RUNS rounds; each CMD is
# eval'ed with $out set to a fresh directory path (never deleted before the end). Prints medians.
declare -A T
time_group() {
  local -a names=() cmds=()
  while [ $# -gt 0 ]; do names+=("$1"); cmds+=("$2"); shift 2; done
  local i k t0 t1 out
  for i in $(seq 1 "$runs"); do
    for k in "${!names[@]}"; do
      out="$work/run/$k-$i-$RANDOM"
      sync
      t0=$(now); eval "${cmds[$k]}"; t1=$(now)
      echo "$t1 - $t0" | bc -l >> "$work/t.$k"
    done
  done
  for k in "${!names[@]}"; do
    T[${names[$k]}]=$(median < "$work/t.$k")
    rm -f "$work/t.$k"
    printf '  %-48s %8.3f s\n' "${names[$k]}" "${T[${names[$k]}]}"
  done
}
ratio() { echo "scale=2; ${T[$1]} / ${T[$2]}" | bc -l; }
mkdir -p "$work/run"
settle=${BERTH_BENCH_SETTLE:-60}
echo "settling ${settle}s (recently freed inodes, see the header)..." >&2
sync; sleep "$settle"

RAW="raw: sha256sum + tar -x (4 uncompressed layers)"
RAWB="raw + keep the blobs (cp + fsync each)"
LOAD="berth load docker-archive"
RAWGZ="raw: sha256sum + gzip -dc | tar -x (4 gz layers)"
BUILD="berth build from gz layers (ingest + unpack)"
echo "medians of $runs runs (warm cache, interleaved):"
time_group \
  "$RAW" 'for f in "$work"/layers/*.tar; do d="$out/$(basename "$f" .tar)"; mkdir -p "$d"; sha256sum "$f" >/dev/null; tar -C "$d" -xf "$f"; done' \
  "$LOAD" '"$bi" load "$out" "$work/img.tar" >/dev/null' \
  "$RAWB" 'mkdir -p "$out/blobs"; for f in "$work"/layers/*.tar; do d="$out/$(basename "$f" .tar)"; mkdir -p "$d"; sha256sum "$f" >/dev/null; cp "$f" "$out/blobs/"; sync "$out/blobs/$(basename "$f")"; tar -C "$d" -xf "$f"; done'
time_group \
  "$RAWGZ" 'for f in "$work"/layers/*.tar.gz; do d="$out/$(basename "$f" .tar.gz)"; mkdir -p "$d"; sha256sum "$f" >/dev/null; gzip -dc "$f" | tar -C "$d" -x; done' \
  "$BUILD" '"$bi" build "$out" bench/img:1 "$work"/layers/l{0,1,2,3}.tar.gz >/dev/null'
time_group "skopeo copy docker-archive: oci:" \
  'skopeo --insecure-policy copy -q "docker-archive:$work/img.tar" "oci:$out:img" >/dev/null'
"$bi" load "$work/dst2" "$work/img.tar" >/dev/null
time_group \
  "raw: tar -c of the 4 layers + sync" 'tar -C "$work/layers" -cf "$out.tar" l0.tar l1.tar l2.tar l3.tar; sync "$out.tar"' \
  "berth save docker-archive (gz blobs → tar)" '"$bi" save "$work/src" "$out.tar" bench/img:1' \
  "berth save docker-archive (tar blobs)" '"$bi" save "$work/dst2" "$out.tar" bench/img:1' \
  "skopeo copy docker-archive: docker-archive:" 'skopeo --insecure-policy copy -q "docker-archive:$work/img.tar" "docker-archive:$out.tar:bench/img:1" >/dev/null'

echo "ratios:"
echo "  berth load / raw (tar)               $(ratio "$LOAD" "$RAW")  (target <= 1.2)"
echo "  berth load / raw + keep the blobs    $(ratio "$LOAD" "$RAWB")"
echo "  berth build gz / raw (gzip -dc|tar)  $(ratio "$BUILD" "$RAWGZ")"
echo "  skopeo copy → oci / berth load       $(ratio 'skopeo copy docker-archive: oci:' "$LOAD")"
echo "  berth save (tar blobs) / raw tar -c  $(ratio 'berth save docker-archive (tar blobs)' 'raw: tar -c of the 4 layers + sync')"
echo "  skopeo docker-archive / berth save   $(ratio 'skopeo copy docker-archive: docker-archive:' 'berth save docker-archive (tar blobs)')"
