#!/usr/bin/env bash
# The VM test: boots Debian's kernel under qemu on a cgroup v2-only hierarchy with AppArmor on,
# runs vm/guest-test.sh inside (berth-runc on bundles, then berthd with the stock docker CLI),
# prints the console and exits non-zero if any check failed or the VM did not report.
#   vm/run.sh            (root not needed on the host; /dev/kvm is used when it answers)
# Env: BERTH_VM_CACHE (default <repo>/.cache/vm), BERTH_VM_TIMEOUT (seconds; 300 with KVM, 600
#      with TCG), BERTH_VM_ACCEL=kvm|tcg to choose, BERTH_VM_TCG=1 to emulate even on one CPU,
#      BERTH_VM_KEEP=1 to keep the work dir, BERTH_VM_SCRIPT=<file> to run another guest script.
# Everything comes from Debian packages: the kernel (linux-image-amd64) and apparmor_parser
# (apparmor) are fetched with `apt-get download` and unpacked with `dpkg-deb -x` into the cache;
# nothing is installed on the host except qemu-system-x86 (by .ci/run).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${BERTH_VM_CACHE:-$repo/.cache/vm}
start=$(date +%s.%N)

say() { echo "vm: $*" >&2; }

qemu=$(command -v qemu-system-x86_64 || true)
if [ -z "$qemu" ]; then
  say "qemu-system-x86_64 not found: install qemu-system-x86 (apt-get install qemu-system-x86)"
  exit 1
fi
# KVM when /dev/kvm answers for a stock kernel; otherwise software emulation (TCG, multi-threaded),
# which runs this test in about 1.5 minutes on 2 cores. A PVM host (kvm_pvm, as in nested cloud
# sandboxes) opens /dev/kvm but only runs PVM-built guest kernels: Debian's hangs there.
accel=${BERTH_VM_ACCEL:-}
if [ -z "$accel" ]; then
  if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
    accel=kvm
  else
    accel=tcg
    why="no /dev/kvm"
    [ -d /sys/module/kvm_pvm ] && why="/dev/kvm is PVM (kvm_pvm), which boots only PVM guest kernels"
    say "$why: software emulation (TCG); set BERTH_VM_ACCEL=kvm to force KVM"
  fi
fi
case "$accel" in kvm | tcg) ;; *) say "BERTH_VM_ACCEL must be kvm or tcg"; exit 1 ;; esac
if [ "$accel" = tcg ] && [ "$(nproc)" -lt 2 ] && [ "${BERTH_VM_TCG:-}" != 1 ]; then
  say "SKIP: software emulation on one CPU is too slow for CI (set BERTH_VM_TCG=1 to run anyway)"
  exit 0
fi

# --- Debian packages: kernel and apparmor_parser -------------------------------------------------
fetch_pkg() { # fetch_pkg <package> <dir>: download and unpack once, keyed by version
  local pkg=$1 dir=$2 ver
  ver=$(apt-cache policy "$pkg" | awk '/Candidate:/{print $2}')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    say "package $pkg not known to apt: run apt-get update"
    exit 1
  fi
  if [ -f "$dir/.version" ] && [ "$(cat "$dir/.version")" = "$ver" ]; then return 0; fi
  rm -rf "$dir" "$cache/debs/$pkg"; mkdir -p "$cache/debs/$pkg" "$dir"
  if ! (cd "$cache/debs/$pkg" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1); then
    # stale package lists name a version the mirror no longer has
    if [ "$(id -u)" = 0 ]; then apt-get update -qq; fi
    ver=$(apt-cache policy "$pkg" | awk '/Candidate:/{print $2}')
    (cd "$cache/debs/$pkg" && apt-get download "$pkg=$ver")
  fi
  dpkg-deb -x "$cache/debs/$pkg"/*.deb "$dir"
  echo "$ver" >"$dir/.version"
}
mkdir -p "$cache"
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$kpkg" ]; then say "cannot resolve linux-image-amd64 to a kernel package: run apt-get update"; exit 1; fi
fetch_pkg "$kpkg" "$cache/kernel"
fetch_pkg apparmor "$cache/apparmor"
kver=$(ls "$cache/kernel/lib/modules" | head -n1)
# Debian's package ships no modules.dep (the postinst makes it): build it once.
if [ ! -s "$cache/kernel/lib/modules/$kver/modules.dep" ]; then
  busybox depmod -b "$cache/kernel" "$kver" || { say "depmod for $kver failed"; exit 1; }
fi
vmlinuz="$cache/kernel/boot/vmlinuz-$kver"

# --- binaries ------------------------------------------------------------------------------------
(cd "$repo" && cargo build -q -p berth-server -p berth-shim -p berth-runtime --bins)
bin="$repo/target/debug"
docker_cli=$(command -v docker || true)
if [ -z "$docker_cli" ]; then say "docker CLI not found (the docker checks need it)"; exit 1; fi
fixture=$("$repo/scripts/fixture-busybox.sh")

# --- initramfs -----------------------------------------------------------------------------------
work=$(mktemp -d /tmp/berth-vm.XXXXXX)
cleanup() {
  if [ -n "${qpid:-}" ]; then kill "$qpid" 2>/dev/null || true; fi
  if [ "${BERTH_VM_KEEP:-}" = 1 ]; then say "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
r="$work/root"
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib64,etc,proc,sys,dev,run,tmp,root,vm,fixture}
cp /bin/busybox "$r/bin/busybox"
copy_bin() { # copy_bin <file> <dest dir>: stripped copy plus its shared libraries
  local f=$1 d=$2 lib
  objcopy --strip-debug "$f" "$r$d/$(basename "$f")" 2>/dev/null || cp "$f" "$r$d/"
  chmod 0755 "$r$d/$(basename "$f")"
  for lib in $(ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
    [ -e "$r$lib" ] && continue
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
}
for b in berthd berth-shim berth-runc; do copy_bin "$bin/$b" /usr/local/bin; done
copy_bin "$docker_cli" /usr/local/bin
copy_bin "$cache/apparmor/sbin/apparmor_parser" /sbin
# kernel modules the tests need, with their dependencies (modules.dep), for busybox modprobe
mods=(overlay veth bridge virtio_pci virtio_blk)
mdir="lib/modules/$kver"
mkdir -p "$r/$mdir"
cp "$cache/kernel/$mdir"/modules.{dep,alias,builtin,order} "$r/$mdir/" 2>/dev/null || true
want=()
for m in "${mods[@]}"; do
  line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$cache/kernel/$mdir/modules.dep" || true)
  if [ -z "$line" ]; then
    if grep -qE "/$m\.ko" "$cache/kernel/$mdir/modules.builtin"; then continue; fi
    say "kernel module $m not found in $kpkg"; exit 1
  fi
  want+=(${line//:/})
done
for f in "${want[@]}"; do
  mkdir -p "$r/$mdir/$(dirname "$f")"
  cp "$cache/kernel/$mdir/$f" "$r/$mdir/$f"
done
echo "${mods[*]}" >"$r/vm/modules"
cp "$repo/vm/init" "$r/init"
cp "${BERTH_VM_SCRIPT:-$repo/vm/guest-test.sh}" "$r/vm/guest-test.sh"
chmod 0755 "$r/init" "$r/vm/guest-test.sh"
cp "$(dirname "$fixture")/busybox-rootfs.tar" "$r/fixture/busybox-rootfs.tar"
(cd "$r" && find . | busybox cpio -o -H newc 2>/dev/null) >"$work/initrd.cpio"
# a small disk for io.max / io.weight (a real block device: virtio-blk)
truncate -s 64M "$work/disk.img"
prep=$(date +%s.%N)

# --- boot ----------------------------------------------------------------------------------------
timeout_s=${BERTH_VM_TIMEOUT:-300}
[ "$accel" = tcg ] && timeout_s=${BERTH_VM_TIMEOUT:-600}
cpu=host accelopt=kvm
[ "$accel" = tcg ] && cpu=max accelopt=tcg,thread=multi
say "booting $kpkg ($accel, 1G, 2 cpus, timeout ${timeout_s}s)"
log="$work/console.log"
set +e
timeout --foreground -k 5 "$timeout_s" "$qemu" \
  -machine q35 -accel "$accelopt" -cpu "$cpu" -m 1G -smp 2 \
  -nographic -no-reboot -nodefaults -serial stdio -monitor none \
  -kernel "$vmlinuz" -initrd "$work/initrd.cpio" \
  -drive file="$work/disk.img",if=virtio,format=raw,cache=none \
  -append "console=ttyS0 cgroup_no_v1=all apparmor=1 security=apparmor panic=-1 quiet loglevel=3 rdinit=/init" \
  </dev/null 2>&1 | tee "$log" | sed -u 's/^/vm| /' >&2
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s.%N)
summary=$(grep -a '^BERTH-VM-SUMMARY' "$log" | tr -d '\r' | tail -n1 || true)
say "prepare $(awk "BEGIN{printf \"%.1f\", $prep - $start}") s, boot+tests $(awk "BEGIN{printf \"%.1f\", $end - $prep}") s (qemu exit $rc)"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then say "FAIL: the VM did not finish within ${timeout_s}s"; exit 1; fi
if [ -z "$summary" ]; then say "FAIL: the VM printed no summary (see the console above)"; exit 1; fi
say "$summary"
grep -a '^FAIL ' "$log" | tr -d '\r' | sed 's/^/vm: /' >&2 || true
case "$summary" in
  *" fail=0"*) exit 0 ;;
  *) exit 1 ;;
esac
