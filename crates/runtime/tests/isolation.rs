//! What a process inside a berth-runc container sees, and the attacks it must not get away with.
//! Each test fails if the feature it names is ignored.
mod common;

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::process::{Command, Stdio};

use common::Bundle;
use serde_json::json;

/// Run `script` under `sh -c` in a fresh container: (exit code, stdout, stderr).
fn sh(b: &mut Bundle, id: &str, script: &str) -> (i32, String, String) {
    b.args(&["sh", "-c", script]);
    b.run(id)
}

/// Run berth-runc through a shell that first opens `fd` on `target` without close-on-exec,
/// like a careless caller would.
fn run_with_open_fd(
    b: &mut Bundle,
    id: &str,
    fd: u32,
    target: &str,
    extra: &[&str],
) -> (i32, String, String) {
    b.write(id);
    let dir = b.dir.display().to_string();
    let mut args = vec![
        "--root".to_string(),
        b.state.display().to_string(),
        "run".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-b".into(), dir, id.into()]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {fd}<{target}; exec \"$0\" \"$@\""))
        .arg(common::runc_bin())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn status_field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn namespaces_hostname_and_pid_one() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["hostname"] = json!("iso-host");
    b.spec["domainname"] = json!("example.test");
    let (code, out, err) = sh(
        &mut b,
        "n1",
        "hostname; cat /proc/sys/kernel/domainname; echo $$; for n in pid mnt ipc uts; do readlink /proc/self/ns/$n; done",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["iso-host", "example.test", "1"], "{out}");
    for (i, ns) in ["pid", "mnt", "ipc", "uts"].iter().enumerate() {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap_or_default();
        assert_ne!(
            lines[3 + i],
            host.to_string_lossy(),
            "{ns} namespace is the host's"
        );
    }
}

#[test]
fn no_inherited_fd_reaches_the_container() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["ls", "/proc/self/fd"]);
    let (code, out, err) = run_with_open_fd(&mut b, "f1", 7, "/etc/hostname", &[]);
    assert_eq!(code, 0, "{err}");
    let fds: Vec<&str> = out.split_whitespace().collect();
    // 0-2, and the directory ls itself is reading.
    assert!(!fds.contains(&"7"), "fd 7 leaked: {fds:?}");
    assert!(fds.len() <= 4, "unexpected fds: {fds:?}");
}

#[test]
fn preserve_fds_passes_exactly_the_ones_asked_for() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "ls /proc/self/fd; cat <&3"]);
    let (code, out, err) =
        run_with_open_fd(&mut b, "f2", 3, "/etc/hostname", &["--preserve-fds", "1"]);
    assert_eq!(code, 0, "{err}");
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    assert!(out.ends_with(&host), "fd 3 not passed: {out}");
}

#[test]
fn a_cwd_outside_the_root_is_refused() {
    need_root!();
    // CVE-2024-21626: a host directory fd reaches the container and cwd points through it.
    let mut b = Bundle::new();
    b.spec["process"]["cwd"] = json!("/proc/self/fd/3");
    b.args(&["sh", "-c", "pwd; ls"]);
    let (code, out, err) = run_with_open_fd(&mut b, "w1", 3, "/etc", &["--preserve-fds", "1"]);
    assert_ne!(code, 0, "ran in a host directory: {out}");
    assert!(err.contains("cwd") || err.contains("outside"), "{err}");
    assert!(!out.contains("passwd"), "listed the host's /etc: {out}");
    assert!(b.leftover_cgroups().is_empty());
}

#[test]
fn exec_cannot_chdir_outside_the_root_either() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b.write("w2");
    let dir = b.dir.display().to_string();
    assert!(b.runc(&["run", "-d", "-b", &dir, "w2"]).status.success());
    let out = Command::new("sh")
        .arg("-c")
        .arg("exec 3</etc; exec \"$0\" \"$@\"")
        .arg(common::runc_bin())
        .args([
            "--root",
            &b.state.display().to_string(),
            "exec",
            "--preserve-fds",
            "1",
            "--cwd",
            "/proc/self/fd/3",
            "w2",
            "ls",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("exec: {e}"));
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("passwd"));
}

#[test]
fn the_runtime_binary_cannot_be_reopened_for_writing() {
    need_root!();
    // CVE-2019-5736: a container process opens /proc/<runtime>/exe and, once the runtime has
    // exited, reopens it for writing to overwrite the host binary. While a container is created
    // (not started), its INIT is the runtime itself, inside the container's pid namespace.
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.write("x1");
    let dir = b.dir.display().to_string();
    assert!(b.runc(&["create", "-b", &dir, "x1"]).status.success());
    let pid = b.state_of("x1")["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0);
    let exe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(format!("/proc/{pid}/exe"))
        .unwrap_or_else(|e| panic!("open exe: {e}"));
    let before = std::fs::read(common::runc_bin()).unwrap_or_default();
    assert!(b.runc(&["delete", "-f", "x1"]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(50));
    let reopen = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", exe.as_raw_fd()));
    let err = reopen.expect_err("the runtime binary was reopened for writing");
    // EROFS from the read-only mount; ETXTBSY when another berth-runc (a parallel test) happens
    // to be running the same file: either way no write. The mount flag decides.
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)),
        "{err}"
    );
    let vfs = rustix::fs::fstatvfs(&exe).unwrap_or_else(|e| panic!("fstatvfs: {e}"));
    assert!(
        vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
        "/proc/<init>/exe is not on a read-only mount"
    );
    assert_eq!(
        std::fs::read(common::runc_bin()).unwrap_or_default(),
        before
    );
}

#[test]
fn capabilities_follow_the_spec_and_stay_out_of_inheritable_and_ambient() {
    need_root!();
    let mut b = Bundle::new();
    let (code, out, err) = sh(&mut b, "c1", "grep ^Cap /proc/self/status");
    assert_eq!(code, 0, "{err}");
    // The default spec: AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10).
    assert_eq!(status_field(&out, "CapEff"), "0000000020000420", "{out}");
    assert_eq!(status_field(&out, "CapBnd"), "0000000020000420", "{out}");
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000", "{out}");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000", "{out}");

    // A non-root user with an ambient capability asked for keeps it across exec.
    let mut b = Bundle::new();
    b.spec["process"]["user"] = json!({"uid": 65534, "gid": 65534});
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        b.spec["process"]["capabilities"][set] = json!(["CAP_NET_BIND_SERVICE"]);
    }
    let (code, out, err) = sh(&mut b, "c2", "grep ^Cap /proc/self/status");
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000400", "{out}");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000400", "{out}");
}

#[test]
fn no_new_privileges_and_seccomp_show_in_status_and_deny() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["process"]["noNewPrivileges"] = json!(true);
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let (code, out, err) = sh(
        &mut b,
        "s1",
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; mkdir /tmp/d 2>&1; touch /tmp/f && echo touched",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1", "{out}");
    assert_eq!(status_field(&out, "Seccomp"), "2", "{out}");
    assert!(
        out.contains("Operation not permitted"),
        "mkdir was allowed: {out}"
    );
    assert!(out.contains("touched"), "{out}");
}

#[test]
fn user_groups_umask_and_rlimits_apply() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [20, 30], "umask": 63});
    b.spec["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "hard": 1234, "soft": 1000},
        {"type": "RLIMIT_NPROC", "hard": 77, "soft": 77}
    ]);
    let (code, out, err) = sh(
        &mut b,
        "u1",
        "id -u; id -g; id -G; umask; ulimit -n; ulimit -Hn; ulimit -u",
    );
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l,
        ["1000", "1001", "1001 20 30", "0077", "1000", "1234", "77"],
        "{out}"
    );
}

#[test]
fn readonly_root_and_readonly_bind_mounts_refuse_writes() {
    need_root!();
    let mut b = Bundle::new();
    let host = b.dir.join("shared");
    std::fs::create_dir_all(&host).unwrap_or_default();
    std::fs::write(host.join("f"), "host data\n").unwrap_or_default();
    b.spec["root"]["readonly"] = json!(true);
    let mounts = b.spec["mounts"].as_array_mut().map(|m| {
        m.push(json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "ro", "nosuid", "nodev"]}));
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "noexec"]}));
    });
    assert!(mounts.is_some());
    let (code, out, err) = sh(
        &mut b,
        "r1",
        "touch /x 2>&1; cat /data/f; { echo y > /data/f; } 2>&1; echo z > /scratch/z && cat /scratch/z; grep -E ' /(data|scratch) ' /proc/self/mountinfo",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    assert!(out.contains("host data"), "{out}");
    assert!(out.contains("\nz\n"), "{out}");
    let data = out.lines().find(|l| l.contains(" /data ")).unwrap_or("");
    assert!(
        data.contains(" ro,") && data.contains("nosuid") && data.contains("nodev"),
        "{data}"
    );
    let scratch = out.lines().find(|l| l.contains(" /scratch ")).unwrap_or("");
    assert!(scratch.contains("noexec"), "{scratch}");
    assert_eq!(
        std::fs::read_to_string(host.join("f")).unwrap_or_default(),
        "host data\n"
    );
}

#[test]
fn dev_has_the_default_devices_and_no_host_ones() {
    need_root!();
    let mut b = Bundle::new();
    let (code, out, err) = sh(&mut b, "d1", "ls /dev; stat -c '%n %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; for l in fd stdin ptmx; do readlink /dev/$l; done");
    assert_eq!(code, 0, "{err}");
    for want in [
        "/dev/null 1:3",
        "/dev/zero 1:5",
        "/dev/full 1:7",
        "/dev/random 1:8",
        "/dev/urandom 1:9",
        "/dev/tty 5:0",
        "/proc/self/fd",
        "/proc/self/fd/0",
        "pts/ptmx",
    ] {
        assert!(out.contains(want), "missing {want}: {out}");
    }
    for host_only in ["sda", "vda", "kmsg", "mem\n", "nvme0"] {
        assert!(
            !out.contains(host_only),
            "host device {host_only} visible: {out}"
        );
    }
}

#[test]
fn masked_and_readonly_proc_paths() {
    need_root!();
    let mut b = Bundle::new();
    let (code, out, err) = sh(
        &mut b,
        "m1",
        "head -c 100 /proc/timer_list | wc -c; ls /sys/firmware | wc -l; { echo 1 > /proc/sys/vm/drop_caches; } 2>&1; { echo 1 > /proc/sys/kernel/ns_last_pid; } 2>&1; true",
    );
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l.first().map(|s| s.trim()),
        Some("0"),
        "/proc/kcore not masked: {out}"
    );
    assert_eq!(
        l.get(1).map(|s| s.trim()),
        Some("0"),
        "/proc/acpi not masked: {out}"
    );
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
}

#[test]
fn a_rootfs_whose_proc_is_a_symlink_is_refused() {
    need_root!();
    let mut b = Bundle::new();
    let proc_ = b.rootfs().join("proc");
    let _ = std::fs::remove_dir(&proc_);
    let decoy = b.dir.join("decoy");
    std::fs::create_dir_all(&decoy).unwrap_or_default();
    std::os::unix::fs::symlink(&decoy, &proc_).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = sh(&mut b, "p1", "true");
    assert_ne!(code, 0);
    assert!(err.contains("/proc") && err.contains("symlink"), "{err}");
    assert!(
        std::fs::read_dir(&decoy).map(|d| d.count()).unwrap_or(1) == 0,
        "something was mounted or written into the decoy"
    );
    assert!(!mounted_below(&b.dir), "a mount leaked");
    assert!(b.leftover_cgroups().is_empty());
}

fn mounted_below(dir: &std::path::Path) -> bool {
    let d = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&d)))
}

#[test]
fn mount_destinations_resolve_inside_the_rootfs() {
    need_root!();
    // CVE-2021-30465 class: a symlink in the rootfs pointing at a host path, and a `..` walk.
    let mut b = Bundle::new();
    let host = b.dir.join("host-target");
    std::fs::create_dir_all(&host).unwrap_or_default();
    std::os::unix::fs::symlink(&host, b.rootfs().join("escape")).unwrap_or_else(|e| panic!("{e}"));
    let mounts = b.spec["mounts"].as_array_mut().map(|m| {
        m.push(json!({"destination": "/escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        m.push(json!({"destination": "/../../../../../../tmp/dotdot", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    });
    assert!(mounts.is_some());
    b.spec["process"]["args"] = json!([
        "sh",
        "-c",
        "touch /escape/inside /tmp/dotdot/inside && echo ok"
    ]);
    let (code, out, err) = b.run("e1");
    // Either refused, or mounted inside the rootfs: never on the host.
    if code == 0 {
        assert!(out.contains("ok"), "{out}");
    } else {
        assert!(!err.is_empty());
    }
    assert_eq!(
        std::fs::read_dir(&host).map(|d| d.count()).unwrap_or(0),
        0,
        "wrote through the symlink to the host"
    );
    assert!(
        !std::path::Path::new("/tmp/dotdot").exists(),
        "mounted at the host's /tmp/dotdot"
    );
    assert!(!mounted_below(&b.dir));
}

#[test]
fn a_dev_null_symlink_cannot_redirect_masking() {
    need_root!();
    // CVE-2025-31133 class: /dev comes from the rootfs (no tmpfs) and its null is a symlink
    // to a sensitive proc file, so that "masking" would bind that file over the masked paths.
    let mut b = Bundle::new();
    let dev = b.rootfs().join("dev");
    std::fs::create_dir_all(&dev).unwrap_or_default();
    let _ = std::fs::remove_file(dev.join("null"));
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", dev.join("null"))
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(m) = b.spec["mounts"].as_array_mut() {
        m.retain(|x| x["destination"] != "/dev");
    }
    b.args(&[
        "sh",
        "-c",
        "stat -c '%F %t:%T' /dev/null; head -c 64 /proc/kcore | wc -c",
    ]);
    let (code, out, err) = b.run("n1");
    if code == 0 {
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(
            l.first().copied(),
            Some("character special file 1:3"),
            "{out}"
        );
        assert_eq!(l.get(1).map(|s| s.trim()), Some("0"), "{out}");
    } else {
        assert!(err.contains("/dev/null"), "{err}");
    }
    assert!(!mounted_below(&b.dir));
}

#[test]
fn cgroup_limits_are_visible_and_the_devices_cgroup_denies() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["linux"]["resources"] = json!({
        "memory": {"limit": 33554432},
        "pids": {"limit": 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    });
    for set in ["bounding", "effective", "permitted"] {
        if let Some(a) = b.spec["process"]["capabilities"][set].as_array_mut() {
            a.push(json!("CAP_MKNOD"));
        }
    }
    let (code, out, err) = sh(
        &mut b,
        "g1",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us; { mknod /tmp/blk b 7 200 && head -c 1 /tmp/blk; } 2>&1; true",
    );
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(&l[..4], ["33554432", "20", "512", "50000"], "{out}");
    assert!(
        out.contains("Operation not permitted"),
        "block device opened: {out}"
    );
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["linux"]["resources"] = json!({"pids": {"limit": 10}});
    b.args(&[
        "sh",
        "-c",
        // A shell aborts when fork fails, so the bomb runs in a child shell; afterwards only
        // builtins and exec (no fork).
        "sh -c 'for i in $(seq 1 30); do sleep 30 & done' 2>/dev/null; : > /tmp/done; exec sleep 30",
    ]);
    b.write("g2");
    let dir = b.dir.display().to_string();
    assert!(b.runc(&["run", "-d", "-b", &dir, "g2"]).status.success());
    let done = b.rootfs().join("tmp/done");
    for _ in 0..300 {
        if done.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let ps = b.runc(&["ps", "--format", "json", "g2"]);
    let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).unwrap_or_default();
    assert!(
        (5..=10).contains(&pids.len()),
        "{} processes under a limit of 10",
        pids.len()
    );
}

#[test]
fn a_memory_hog_is_oom_killed() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["linux"]["resources"] = json!({"memory": {"limit": 16777216, "swap": 16777216}});
    // tail keeps the current (endless) line of /dev/zero in memory.
    b.args(&["tail", "/dev/zero"]);
    let (code, _, err) = b.run("o1");
    assert_eq!(code, 137, "{err}");
    assert!(b.leftover_cgroups().is_empty());
}

#[test]
fn a_user_namespace_maps_root_to_an_unprivileged_host_uid() {
    need_root!();
    let mut b = Bundle::new();
    if let Some(ns) = b.spec["linux"]["namespaces"].as_array_mut() {
        ns.push(json!({"type": "user"}));
    }
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    let (code, out, err) = sh(&mut b, "un1", "id -u; cat /proc/self/uid_map");
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.first().copied(), Some("0"), "{out}");
    let map: Vec<&str> = l
        .get(1)
        .map(|m| m.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(map, ["0", "200000", "65536"], "{out}");
}
