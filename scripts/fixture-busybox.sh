#!/usr/bin/env bash
# Make a busybox root filesystem from Debian's busybox-static, idempotently, into a cache directory.
#   scripts/fixture-busybox.sh [CACHE_DIR]      (default: <repo>/.cache/fixtures)
# Prints the rootfs path. Also writes busybox-rootfs.tar beside it (for image import tests).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${BERTH_FIXTURES:-$here/.cache/fixtures}}
bb=/bin/busybox
banner=$("$bb" --help 2>&1 || true)
if [ ! -x "$bb" ] || [ "${banner#BusyBox}" = "$banner" ]; then
  echo "fixture-busybox: $bb missing; install it with: apt-get install -y busybox-static" >&2
  exit 1
fi
ver=$(printf '%s\n' "$banner" | awk 'NR==1{print $2}')
out="$cache/busybox-$ver"
if [ -f "$out/.done" ]; then echo "$out/rootfs"; exit 0; fi
rm -rf "$out.tmp"; mkdir -p "$out.tmp/rootfs"
r="$out.tmp/rootfs"
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,root,home,var/log,run,tmp}
chmod 1777 "$r/tmp"; chmod 0700 "$r/root"
cp "$bb" "$r/bin/busybox"
# every applet as a symlink at its usual place
"$bb" --list-full | while read -r p; do
  [ "$p" = "bin/busybox" ] && continue
  mkdir -p "$r/$(dirname "$p")"
  ln -sf /bin/busybox "$r/$p"
done
cat > "$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$r/etc/group" <<'G'
root:x:0:
tty:x:5:
nogroup:x:65534:
G
touch "$r/etc/hosts" "$r/etc/resolv.conf" "$r/etc/hostname"
# a reproducible tarball of the same tree
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$r" -cf "$out.tmp/busybox-rootfs.tar" .
touch "$out.tmp/.done"
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out/rootfs"
