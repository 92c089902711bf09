#!/bin/sh
# The checks run inside the test VM (cgroup v2 only, AppArmor on). One line per check:
#   PASS <name>            or           FAIL <name>: <what was seen>
# and at the end: BERTH-VM-SUMMARY pass=N fail=M (vm/run.sh parses it).
# Part 1 drives berth-runc with bundles; part 2 runs berthd and drives it with the docker CLI.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CG=/sys/fs/cgroup
PASS=0
FAIL=0
pass() { PASS=$((PASS + 1)); echo "PASS $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $1: $2"; }
# check <name> <expected> <actual>
check() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }
t0=$(cut -d' ' -f1 /proc/uptime)

# --- sanity of the VM ---------------------------------------------------------------------------
check "vm: cgroup2 is the only hierarchy" "cgroup2" "$(awk '$2=="/sys/fs/cgroup"{print $3}' /proc/mounts)"
check "vm: no v1 controllers" "" "$(awk '$3=="cgroup"' /proc/mounts)"
check "vm: apparmor enabled" "Y" "$(cat /sys/module/apparmor/parameters/enabled 2>&1)"

ROOTFS=/fixture/rootfs
mkdir -p $ROOTFS && tar -xf /fixture/busybox-rootfs.tar -C $ROOTFS
RUNC="berth-runc --root /run/berth-runc"
DISK=$(cat /sys/block/vda/dev 2>/dev/null)
DMAJ=${DISK%:*}
DMIN=${DISK#*:}

# bundle <name> <args json> <resources json> [extra linux json members] [process extras]
bundle() {
  b=/bundles/$1
  mkdir -p $b
  cat >$b/config.json <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
    "args": $2,
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    "capabilities": {
      "bounding": ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"],
      "effective": ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"],
      "permitted": ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]
    }${5:-}
  },
  "root": {"path": "$ROOTFS", "readonly": true},
  "hostname": "bth-$1",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid","noexec","nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid","noexec","nodev","ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid","noexec","nodev","relatime","ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","mode=1777"]}
  ],
  "linux": {
    "cgroupsPath": "/berth-vm/$1",
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}],
    "resources": $3${4:-}
  }
}
EOF
}
DEVDENY='"devices": [{"allow": false, "access": "rwm"},
  {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
  {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
  {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
  {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
  {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
  {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
  {"allow": true, "type": "c", "major": 136, "access": "rwm"}]'
SLEEP='["sleep", "1000"]'
# start <name>: run the bundle detached
start() { $RUNC run -d --bundle /bundles/$1 $1 >/tmp/$1.out 2>&1 </dev/null; }
stop() { $RUNC delete -f $1 >/dev/null 2>&1; }
cg() { cat $CG/berth-vm/$1/$2 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
# CPU ticks (utime+stime) a process has used: stays put while it is frozen
ticks() { awk '{print $14 + $15}' /proc/$1/stat 2>/dev/null; }
field() { awk -v k="$2" '$1==k{print $2}' $CG/berth-vm/$1/$3 2>/dev/null; }

echo "== runtime (berth-runc) on cgroup v2"
# memory.max, swap.max and an OOM kill counted in memory.events
bundle mem "$SLEEP" '{"memory": {"limit": 33554432, "swap": 33554432, "reservation": 8388608}, "unified": {"memory.high": "29360128"}, '"$DEVDENY"'}'
if start mem; then
  check "runc: memory.max" "33554432" "$(cg mem memory.max)"
  check "runc: memory.swap.max (memory+swap = memory)" "0" "$(cg mem memory.swap.max)"
  check "runc: memory.low from reservation" "8388608" "$(cg mem memory.low)"
  check "runc: memory.high from unified" "29360128" "$(cg mem memory.high)"
  timeout 60 $RUNC exec mem tail /dev/zero >/dev/null 2>&1
  rc=$?
  check "runc: allocation over memory.max is killed" "137" "$rc"
  check "runc: oom_kill counted in memory.events" "1" "$(field mem oom_kill memory.events)"
  n=$(field mem high memory.events)
  if [ "${n:-0}" -gt 0 ]; then pass "runc: memory.high throttled (events high=$n)"; else fail "runc: memory.high events" "high=${n:-none}"; fi
  ev=$($RUNC events --stats mem 2>&1)
  case "$ev" in
    *'"usage"'*) pass "runc: events --stats reads v2 memory stats" ;;
    *) fail "runc: events --stats" "$ev" ;;
  esac
  stop mem
else
  fail "runc: memory container" "$(cat /tmp/mem.out)"
fi
check "runc: delete removes the cgroup" "no" "$([ -d $CG/berth-vm/mem ] && echo yes || echo no)"

# cpu.max, cpu.weight and a busy loop that gets throttled
bundle cpu '["sh", "-c", "while :; do :; done"]' '{"cpu": {"quota": 20000, "period": 100000, "shares": 512}}'
if start cpu; then
  check "runc: cpu.max" "20000 100000" "$(cg cpu cpu.max)"
  check "runc: cpu.weight from shares 512" "20" "$(cg cpu cpu.weight)"
  sleep 1
  thr=$(field cpu nr_throttled cpu.stat)
  if [ "${thr:-0}" -gt 0 ]; then pass "runc: busy loop throttled (nr_throttled=$thr)"; else fail "runc: cpu throttling" "nr_throttled=${thr:-none}"; fi
  use=$(field cpu usage_usec cpu.stat)
  # 1 s at 20% of one CPU is about 200 ms; allow slack but not a whole CPU
  if [ "${use:-0}" -gt 50000 ] && [ "${use:-0}" -lt 700000 ]; then pass "runc: cpu usage bounded by cpu.max (${use}us in ~1s)"; else fail "runc: cpu usage under cpu.max" "usage_usec=${use:-none}"; fi
  stop cpu
else
  fail "runc: cpu container" "$(cat /tmp/cpu.out)"
fi

# cpuset
bundle cpuset '["sh", "-c", "grep Cpus_allowed_list /proc/self/status | cut -f2"]' '{"cpu": {"cpus": "1", "mems": "0"}}'
out=$($RUNC run --bundle /bundles/cpuset cpuset 2>&1 </dev/null)
check "runc: cpuset.cpus confines the process" "1" "$out"

# pids.max: a fork loop stops at the limit
bundle pids '["sh", "-c", "n=0; for i in $(seq 40); do sleep 30 & n=$((n+1)); done 2>/dev/null; sleep 1; echo started"]' '{"pids": {"limit": 12}}'
if start pids; then
  sleep 2
  check "runc: pids.max" "12" "$(cg pids pids.max)"
  cur=$(cg pids pids.current)
  mx=$(field pids max pids.events)
  if [ "${cur:-99}" -le 12 ] && [ "${mx:-0}" -gt 0 ]; then pass "runc: fork loop stopped at pids.max (current=$cur, events max=$mx)"; else fail "runc: fork loop" "current=$cur max events=$mx"; fi
  stop pids
else
  fail "runc: pids container" "$(cat /tmp/pids.out)"
fi

# io.weight and io.max on the virtio disk
if [ -n "$DISK" ]; then
  bundle io '["sh", "-c", "dd if=/dev/zero of=/dev/vda bs=64k count=32 oflag=direct 2>&1; echo rc=$?"]' \
    '{"blockIO": {"weight": 500, "throttleWriteBpsDevice": [{"major": '"$DMAJ"', "minor": '"$DMIN"', "rate": 1048576}]}, "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "b", "major": '"$DMAJ"', "minor": '"$DMIN"', "access": "rw"}]}' \
    ', "devices": [{"path": "/dev/vda", "type": "b", "major": '"$DMAJ"', "minor": '"$DMIN"', "fileMode": 432}]'
  $RUNC create --bundle /bundles/io io >/tmp/io.out 2>&1 </dev/null
  check "runc: io.weight from blkio weight 500" "default 4950" "$(cg io io.weight)"
  check "runc: io.max" "$DISK rbps=max wbps=1048576 riops=max wiops=max" "$(cg io io.max)"
  s=$(cut -d' ' -f1 /proc/uptime)
  $RUNC start io >/dev/null 2>&1
  while [ "$($RUNC state io 2>/dev/null | grep -c '"stopped"')" = 0 ] && [ -d /run/berth-runc/io ]; do sleep 0.1; done
  e=$(cut -d' ' -f1 /proc/uptime)
  wb=$(awk -v d="$DISK" '$1==d{for(i=2;i<=NF;i++) if ($i ~ /^wbytes=/) {sub("wbytes=","",$i); print $i}}' $CG/berth-vm/io/io.stat)
  took=$(awk "BEGIN{print int(($e - $s) * 10)}")
  if [ "${wb:-0}" -ge 2097152 ] && [ "$took" -ge 10 ]; then pass "runc: 2 MiB direct write throttled by io.max (wbytes=$wb, $(awk "BEGIN{print $e - $s}")s)"; else fail "runc: io.max throttling" "wbytes=${wb:-none} took=${took}ds out=$(cat /tmp/io.out)"; fi
  stop io
else
  fail "runc: io" "no virtio disk /dev/vda"
fi

# The device allow-list as an eBPF program. As runc and Docker do, mknod of any node is allowed
# ("c *:* m", "b *:* m"); opening one outside the list is not.
bundle dev '["sh", "-c", "mknod /tmp/sda b 8 0 && echo mknod-ok; head -c1 /tmp/sda >/dev/null 2>/tmp/e1 && echo sda-opened || cat /tmp/e1; mknod /tmp/mem c 1 1 && (echo x > /tmp/mem) 2>/tmp/e2 && echo mem-written || cat /tmp/e2; mknod /tmp/n c 1 3 && echo x > /tmp/n && echo null-ok; echo x > /dev/null && echo devnull-ok"]' "{$DEVDENY}"
out=$($RUNC run --bundle /bundles/dev dev 2>&1 </dev/null | sed 's/^sh: //' | tr '\n' '|')
check "runc: eBPF device program (open of a denied node fails, /dev/null works)" \
  "mknod-ok|head: /tmp/sda: Operation not permitted|can't create /tmp/mem: Operation not permitted|null-ok|devnull-ok|" "$out"

# cgroup namespace
bundle cgns '["cat", "/proc/self/cgroup"]' '{}'
check "runc: cgroup namespace shows 0::/" "0::/" "$($RUNC run --bundle /bundles/cgns cgns 2>&1 </dev/null)"

# freeze and thaw
bundle frz '["sh", "-c", "while :; do :; done"]' '{}'
if start frz; then
  sleep 0.3
  pid=$($RUNC state frz | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
  $RUNC pause frz
  check "runc: pause sets cgroup.freeze" "1" "$(cg frz cgroup.freeze)"
  check "runc: cgroup.events frozen" "1" "$(field frz frozen cgroup.events)"
  case "$($RUNC state frz)" in *'"paused"'*) pass "runc: state paused" ;; *) fail "runc: state paused" "$($RUNC state frz)" ;; esac
  a=$(ticks $pid); sleep 0.5; b=$(ticks $pid)
  case "$a" in [0-9]*) check "runc: frozen process uses no CPU" "$a" "$b" ;; *) fail "runc: frozen process" "no /proc/$pid/stat" ;; esac
  $RUNC resume frz
  sleep 0.5
  c=$(ticks $pid)
  if [ "${c:-0}" -gt "${b:-0}" ]; then pass "runc: thawed process runs again"; else fail "runc: thaw" "ticks $b -> $c"; fi
  check "runc: resume clears cgroup.freeze" "0" "$(cg frz cgroup.freeze)"
  stop frz
else
  fail "runc: freeze container" "$(cat /tmp/frz.out)"
fi

# update of a running container
bundle upd "$SLEEP" '{"memory": {"limit": 33554432}, "pids": {"limit": 20}}'
if start upd; then
  $RUNC update --memory 64m --pids-limit 30 --cpu-quota 30000 --cpu-period 100000 --cpu-shares 1024 upd 2>/tmp/upd.err
  check "runc: update memory.max" "67108864" "$(cg upd memory.max)"
  check "runc: update pids.max" "30" "$(cg upd pids.max)"
  check "runc: update cpu.max" "30000 100000" "$(cg upd cpu.max)"
  check "runc: update cpu.weight" "39" "$(cg upd cpu.weight)"
  stop upd
else
  fail "runc: update container" "$(cat /tmp/upd.out)"
fi

# nested delegation: ancestors enable the controllers for their children, the leaf nothing
bundle nest "$SLEEP" '{"memory": {"limit": 33554432}, "pids": {"limit": 50}, "cpu": {"shares": 1024}}'
sed -i 's#"/berth-vm/nest"#"/berth-vm/deep/er/nest"#' /bundles/nest/config.json
if start nest; then
  for d in "" /berth-vm /berth-vm/deep /berth-vm/deep/er; do
    sc=" $(cat $CG$d/cgroup.subtree_control) "
    ok=yes
    for c in memory pids cpu; do case "$sc" in *" $c "*) ;; *) ok=no ;; esac; done
    check "runc: subtree_control of ${d:-/} has +memory +pids +cpu" "yes" "$ok"
  done
  check "runc: leaf memory.max under nested parents" "33554432" "$(cat $CG/berth-vm/deep/er/nest/memory.max)"
  check "runc: leaf enables no controllers" "" "$(cat $CG/berth-vm/deep/er/nest/cgroup.subtree_control)"
  check "runc: leaf holds the process" "1" "$(wc -l <$CG/berth-vm/deep/er/nest/cgroup.procs)"
  stop nest
  check "runc: delete removes only the leaf" "no yes" "$([ -d $CG/berth-vm/deep/er/nest ] && echo yes || echo no) $([ -d $CG/berth-vm/deep/er ] && echo yes || echo no)"
else
  fail "runc: nested container" "$(cat /tmp/nest.out)"
fi
# A relative cgroupsPath goes below the caller's cgroup, which holds processes (this shell is in
# /init.scope): it must not become a thread root, and a limit is a clear error.
bundle rel '["true"]' '{}'
sed -i '/"cgroupsPath"/d' /bundles/rel/config.json
$RUNC run --bundle /bundles/rel rel >/tmp/rel.out 2>&1 </dev/null
check "runc: relative cgroupsPath under a cgroup with processes runs (no limits)" "0" "$?"
check "runc: the caller's cgroup stays a domain and delegates nothing" "domain|" \
  "$(cat $CG/init.scope/cgroup.type)|$(cat $CG/init.scope/cgroup.subtree_control)"
bundle rel2 '["true"]' '{"memory": {"limit": 33554432}}'
sed -i '/"cgroupsPath"/d' /bundles/rel2/config.json
out=$($RUNC run --bundle /bundles/rel2 rel2 2>&1 </dev/null)
case "$out" in *"holds processes"*"cgroup controller memory is not available"*) pass "runc: a limit there is an error saying why" ;;
  *) fail "runc: limit below a cgroup with processes" "$out" ;; esac
leftover=$(ls /run/berth-runc 2>/dev/null)
check "runc: no containers left" "" "$leftover"
t1=$(cut -d' ' -f1 /proc/uptime)
echo "runtime part took $(awk "BEGIN{print $t1 - $t0}")s"

echo "== berthd with the docker CLI on cgroup v2"
mkdir -p /var/lib/berth /run/berth
berthd -H unix:///run/berth/berthd.sock --data-root /var/lib/berth --exec-root /run/berth --iptables=false >/tmp/berthd.log 2>&1 &
BPID=$!
export DOCKER_HOST=unix:///run/berth/berthd.sock
i=0
while ! docker version >/dev/null 2>&1; do
  i=$((i + 1)); sleep 0.2
  if [ $i -gt 150 ] || ! kill -0 $BPID 2>/dev/null; then break; fi
done
if docker version >/dev/null 2>&1; then
  pass "docker: berthd answers"
else
  fail "docker: berthd start" "$(tail -n 20 /tmp/berthd.log)"
fi
docker import /fixture/busybox-rootfs.tar busybox:latest >/dev/null 2>&1 || fail "docker: import busybox" "$(docker import /fixture/busybox-rootfs.tar busybox:latest 2>&1)"
D="docker run --network none"

check "docker: info CgroupVersion" "2" "$(docker info -f '{{.CgroupVersion}}' 2>&1)"
$D --name oom --memory 32m busybox tail /dev/zero >/dev/null 2>&1
check "docker: run --memory 32m allocation is OOM-killed (exit)" "137" "$(docker inspect -f '{{.State.ExitCode}}' oom 2>&1)"
check "docker: inspect OOMKilled" "true" "$(docker inspect -f '{{.State.OOMKilled}}' oom 2>&1)"
docker rm -f oom >/dev/null 2>&1
check "docker: --memory 32m memory.max" "33554432" "$($D --rm --memory 32m busybox cat /sys/fs/cgroup/memory.max 2>&1)"
check "docker: --cpus 0.5 cpu.max" "50000 100000" "$($D --rm --cpus 0.5 busybox cat /sys/fs/cgroup/cpu.max 2>&1)"
check "docker: --pids-limit pids.max" "16" "$($D --rm --pids-limit 16 busybox cat /sys/fs/cgroup/pids.max 2>&1)"
# the loop runs in a subshell: ash gives up when a fork fails, the sleeps it started stay
$D -d --name pl --pids-limit 16 busybox sh -c '(for i in $(seq 40); do sleep 30 & done) 2>/dev/null; exec sleep 1000' >/dev/null 2>&1
sleep 2
pid=$(docker inspect -f '{{.State.Pid}}' pl 2>/dev/null)
cgdir=$CG$(sed -n 's/^0:://p' /proc/$pid/cgroup 2>/dev/null)
cur=$(cat $cgdir/pids.current 2>&1)
out="$cur $(grep max $cgdir/pids.events 2>&1)"
case "$out" in 1[0-6]" max "[1-9]*) pass "docker: fork loop stops at --pids-limit (current, events: $out)" ;; *) fail "docker: fork loop under --pids-limit" "$out" ;; esac
docker rm -f pl >/dev/null 2>&1
check "docker: cgroup namespace" "0::/" "$($D --rm busybox cat /proc/self/cgroup 2>&1)"

$D -d --name pz busybox sh -c 'while :; do :; done' >/dev/null 2>&1
sleep 0.3
docker pause pz >/dev/null 2>&1
check "docker: pause -> Status paused" "paused" "$(docker inspect -f '{{.State.Status}}' pz 2>&1)"
pid=$(docker inspect -f '{{.State.Pid}}' pz 2>/dev/null)
cgdir=$CG$(sed -n 's/^0:://p' /proc/$pid/cgroup 2>/dev/null)
check "docker: paused container's cgroup.freeze" "1" "$(cat $cgdir/cgroup.freeze 2>&1)"
a=$(ticks $pid); sleep 0.5; b=$(ticks $pid)
case "$a" in [0-9]*) check "docker: paused container uses no CPU" "$a" "$b" ;; *) fail "docker: paused container" "no /proc/$pid/stat" ;; esac
out=$(docker stats --no-stream --format '{{.Name}} {{.PIDs}}' pz 2>&1)
check "docker: stats --no-stream of a paused container" "pz 1" "$out"
docker unpause pz >/dev/null 2>&1
check "docker: unpause -> Status running" "running" "$(docker inspect -f '{{.State.Status}}' pz 2>&1)"
sleep 0.5
c=$(ticks $pid)
if [ "${c:-0}" -gt "${b:-0}" ]; then pass "docker: unpaused container runs again"; else fail "docker: unpause" "ticks $b -> $c"; fi
docker rm -f pz >/dev/null 2>&1

$D -d --name st --memory 64m busybox sh -c 'head -c 20m /dev/zero > /dev/shm/x; touch /tmp/written; exec sleep 1000' >/dev/null 2>&1
pid=$(docker inspect -f '{{.State.Pid}}' st 2>/dev/null)
n=0
while [ ! -e /proc/$pid/root/tmp/written ] && [ $n -lt 100 ]; do n=$((n + 1)); sleep 0.1; done
out=$(docker stats --no-stream --format '{{.MemUsage}}|{{.PIDs}}' st 2>&1)
case "$out" in
  2[0-9].*"MiB / 64MiB|1" | 2[0-9]"MiB / 64MiB|1") pass "docker: stats --no-stream reads v2 memory and pids ($out)" ;;
  *) fail "docker: stats --no-stream" "$out" ;;
esac
docker update --memory 96m --pids-limit 40 st >/dev/null 2>&1
pid=$(docker inspect -f '{{.State.Pid}}' st 2>/dev/null)
cgdir=$CG$(sed -n 's/^0:://p' /proc/$pid/cgroup 2>/dev/null)
check "docker: update --memory on a running container" "100663296 40" "$(cat $cgdir/memory.max $cgdir/pids.max 2>&1 | tr '\n' ' ' | sed 's/ $//')"
docker rm -f st >/dev/null 2>&1

echo "== AppArmor"
check "apparmor: berth-default loaded by berthd" "yes" "$(grep -q '^berth-default (enforce)' /sys/kernel/security/apparmor/profiles && echo yes || echo no)"
check "apparmor: docker info lists it" "yes" "$(docker info --format '{{json .SecurityOptions}}' 2>&1 | grep -q 'name=apparmor' && echo yes || echo no)"
check "apparmor: default profile applied" "berth-default (enforce)" "$($D --rm busybox cat /proc/self/attr/current 2>&1)"
check "apparmor: inspect AppArmorProfile" "berth-default" "$(docker inspect -f '{{.AppArmorProfile}}' "$(docker create --network none busybox true)" 2>&1)"
docker container prune -f >/dev/null 2>&1
out=$($D --rm --cap-add SYS_ADMIN busybox sh -c 'exec 2>/dev/null; mkdir /m; mount -t tmpfs t /m && echo mounted || echo denied' 2>&1)
check "apparmor: mount denied under berth-default (with CAP_SYS_ADMIN)" "denied" "$out"
out=$($D --rm --cap-add SYS_ADMIN --security-opt apparmor=unconfined busybox sh -c 'exec 2>/dev/null; mkdir /m; mount -t tmpfs t /m && echo mounted || echo denied' 2>&1)
check "apparmor: the same mount succeeds unconfined (seccomp/caps allow it)" "mounted" "$out"
out=$($D --rm --privileged --security-opt apparmor=berth-default busybox sh -c 'exec 2>/dev/null; v=$(cat /proc/sys/vm/overcommit_memory); echo $v > /proc/sys/vm/overcommit_memory && echo written || echo denied' 2>&1)
check "apparmor: write to /proc/sys denied (privileged, berth-default)" "denied" "$out"
out=$($D --rm --privileged --security-opt apparmor=berth-default busybox sh -c 'exec 2>/dev/null; echo > /sys/kernel/uevent_helper && echo written || echo denied' 2>&1)
check "apparmor: write to /sys denied (privileged, berth-default)" "denied" "$out"
out=$($D --rm --privileged busybox sh -c 'exec 2>/dev/null; cat /proc/self/attr/current; v=$(cat /proc/sys/vm/overcommit_memory); echo $v > /proc/sys/vm/overcommit_memory && echo written' 2>&1 | tr '\n' ' ')
check "apparmor: --privileged runs unconfined and may write /proc/sys" "unconfined written " "$out"
# ptrace (here: reading another process's environ) only towards processes of the same profile:
# runtime containers that share a pid namespace, under berth-default or none
ptr() { # ptr <name> <target container> <profile or ""> -> read|denied
  pe=""
  [ -n "$3" ] && pe=", \"apparmorProfile\": \"$3\""
  bundle $1 '["sh", "-c", "cat /proc/1/environ >/dev/null 2>&1 && echo read || echo denied"]' '{}' "" "$pe"
  tp=$($RUNC state $2 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
  sed -i "s#{\"type\": \"pid\"}#{\"type\": \"pid\", \"path\": \"/proc/$tp/ns/pid\"}#" /bundles/$1/config.json
  $RUNC run --bundle /bundles/$1 $1 2>&1 </dev/null
}
bundle pta "$SLEEP" '{}'
bundle ptb "$SLEEP" '{}' "" ', "apparmorProfile": "berth-default"'
if start pta && start ptb; then
  check "apparmor: berth-default process may not read an unconfined one's (ptrace read)" "denied" "$(ptr pt1 pta berth-default)"
  check "apparmor: berth-default process may read one under berth-default" "read" "$(ptr pt2 ptb berth-default)"
  check "apparmor: an unconfined process may read an unconfined one" "read" "$(ptr pt3 pta "")"
else
  fail "apparmor: ptrace containers" "$(cat /tmp/pta.out /tmp/ptb.out)"
fi
stop pta; stop ptb
bundle pnl '["true"]' '{}' "" ', "apparmorProfile": "no-such-profile"'
out=$($RUNC run --bundle /bundles/pnl pnl 2>&1 </dev/null)
case "$out" in *no-such-profile*"is not loaded"*) pass "apparmor: runtime names a profile that is not loaded" ;; *) fail "apparmor: runtime with a missing profile" "$out" ;; esac
check "apparmor: --security-opt apparmor=unconfined" "unconfined" "$($D --rm --security-opt apparmor=unconfined busybox cat /proc/self/attr/current 2>&1)"
out=$($D --rm --security-opt apparmor=no-such-profile busybox true 2>&1)
case "$out" in *no-such-profile*) pass "apparmor: an unknown profile is an error naming it" ;; *) fail "apparmor: unknown profile" "$out" ;; esac
docker container prune -f >/dev/null 2>&1
left=$(docker ps -aq 2>&1)
check "docker: no containers left" "" "$left"
kill $BPID 2>/dev/null
wait $BPID 2>/dev/null
t2=$(cut -d' ' -f1 /proc/uptime)
echo "docker part took $(awk "BEGIN{print $t2 - $t1}")s"
if [ $FAIL -gt 0 ]; then echo "--- berthd log (tail)"; tail -n 30 /tmp/berthd.log; fi
echo "BERTH-VM-SUMMARY pass=$PASS fail=$FAIL"
