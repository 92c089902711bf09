//! Black-box: `docker run --privileged` against a real berthd, as Docker does it — every
//! capability the host has (not every name the kernel headers know: this VM lacks
//! CAP_SYS_RESOURCE, and asking for it made capset fail), every host device, no seccomp, no
//! masked or read-only paths, a writable /sys and cgroupfs.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::FileTypeExt;

use common::Berthd;

/// A field of /proc/self/status as a mask.
fn status_mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

fn host_bounding() -> u64 {
    status_mask(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd:",
    )
}

/// Device nodes directly in the host's /dev (what a privileged container must see too).
fn host_top_devices() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .filter(|e| {
            let ft = std::fs::symlink_metadata(e.path()).unwrap().file_type();
            ft.is_char_device() || ft.is_block_device()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "console")
        .collect();
    v.sort();
    v
}

#[test]
fn privileged_gets_the_hosts_capabilities_devices_and_mounts() {
    need_root!();
    let b = Berthd::start();
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep -E '^(Cap|Seccomp:)' /proc/self/status; echo DEV; ls /dev; echo END; \
         mkdir -p /mnt && mount -t tmpfs x /mnt && echo mounted; \
         grep -E ' /sys | /sys/fs/cgroup ' /proc/self/mounts; \
         echo masked=$(grep -c ' /proc/[a-z]' /proc/self/mountinfo); \
         mkdir /sys/fs/cgroup/berth-probe && echo cgroupfs-writable",
    ]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    let bnd = host_bounding();
    assert_eq!(status_mask(&out, "CapEff:"), bnd, "{out}");
    assert_eq!(status_mask(&out, "CapPrm:"), bnd, "{out}");
    assert_eq!(status_mask(&out, "CapBnd:"), bnd, "{out}");
    assert!(out.contains("Seccomp:\t0"), "seccomp still on: {out}");
    let devs: Vec<&str> = out
        .split("DEV\n")
        .nth(1)
        .and_then(|s| s.split("END").next())
        .unwrap()
        .lines()
        .collect();
    for d in host_top_devices() {
        assert!(
            devs.contains(&d.as_str()),
            "host device /dev/{d} missing in the container: {devs:?}"
        );
    }
    assert!(out.contains("mounted"), "{out}\n{err}");
    assert!(out.contains("masked=0"), "masked or read-only paths: {out}");
    let sys = out.lines().find(|l| l.contains(" /sys sysfs ")).unwrap();
    assert!(sys.contains(" rw,"), "{sys}");
    let cg = out
        .lines()
        .find(|l| l.contains(" /sys/fs/cgroup "))
        .unwrap();
    assert!(cg.contains(" rw,"), "{cg}");
    assert!(out.contains("cgroupfs-writable"), "{out}\n{err}");

    // The device cgroup lets it use a host device a default container does not even have.
    if std::path::Path::new("/dev/kmsg").exists() {
        let (code, _, err) = b.d(&[
            "run",
            "--rm",
            "--privileged",
            "busybox",
            "sh",
            "-c",
            ": < /dev/kmsg",
        ]);
        assert_eq!(code, 0, "open /dev/kmsg: {err}");
        let (code, _, _) = b.d(&["run", "--rm", "busybox", "test", "-e", "/dev/kmsg"]);
        assert_ne!(code, 0, "/dev/kmsg in a default container");
    }

    // Without --privileged: Docker's 14 capabilities, a filter, no mount.
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev | wc -l; \
         mkdir -p /mnt && mount -t tmpfs x /mnt && echo mounted",
    ]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(status_mask(&out, "CapEff:"), 0xa80425fb, "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(!out.contains("mounted"), "{out}");
    assert!(err.contains("denied"), "{err}");
}

#[test]
fn exec_privileged_in_a_default_container_gets_the_hosts_capabilities() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&["run", "-d", "--name", "plain", "busybox", "sleep", "60"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = b.d(&[
        "exec",
        "--privileged",
        "plain",
        "grep",
        "^CapEff:",
        "/proc/self/status",
    ]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    assert_eq!(status_mask(&out, "CapEff:"), host_bounding(), "{out}");
    let (code, out, _) = b.d(&["exec", "plain", "grep", "^CapEff:", "/proc/self/status"]);
    assert_eq!(code, 0);
    assert_eq!(status_mask(&out, "CapEff:"), 0xa80425fb, "{out}");
}

#[test]
fn privileged_on_runc_matches() {
    need_root!();
    if !std::path::Path::new("/usr/sbin/runc").exists() {
        eprintln!("skipped: /usr/sbin/runc missing (apt-get install runc)");
        return;
    }
    // berthd registers Debian's runc itself; the same spec must work there.
    let b = Berthd::start();
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--privileged",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev; \
         mkdir -p /mnt && mount -t tmpfs x /mnt && echo mounted",
    ]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    assert_eq!(status_mask(&out, "CapEff:"), host_bounding(), "{out}");
    assert!(out.contains("Seccomp:\t0"), "{out}");
    assert!(out.contains("mounted"), "{out}");
    let listed: Vec<&str> = out.lines().collect();
    for d in host_top_devices() {
        assert!(listed.contains(&d.as_str()), "/dev/{d} missing under runc");
    }
}
