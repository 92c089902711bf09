//! The cgroup v2 device program, enforced by the kernel: this machine's unified hierarchy (hybrid
//! or pure v2) takes device programs even without controllers, so the test attaches one to a
//! cgroup of its own and checks what a process inside can open.
mod common;

use std::path::PathBuf;
use std::process::Command;

use berth_cgroups::{DeviceKind, DeviceRule};

/// Our own cgroup directory in the unified hierarchy, if there is one.
fn own_unified() -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mi
        .lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })?
        .split(' ')
        .nth(4)?
        .to_string();
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(PathBuf::from(mount).join(rel.trim_start_matches('/')))
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn only_the_allowed_devices_open() {
    need_root!();
    let Some(base) = own_unified() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted");
        return;
    };
    let dir = Dir(base.join(format!("berth-test-{}-bpf", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.0.display()));
    let rules = vec![
        DeviceRule::deny_all(),
        DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(3),
            access: "rw".into(),
        },
        DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(5),
            access: "r".into(),
        },
    ];
    berth_runtime::cgroup::attach_device_program(&rules, &dir.0)
        .unwrap_or_else(|e| panic!("attach: {e}"));
    // The shell moves itself into the cgroup, then tries each device.
    let script = format!(
        "echo $$ > {}/cgroup.procs || exit 99
         echo x > /dev/null && echo null-w-ok
         head -c1 /dev/zero >/dev/null && echo zero-r-ok
         (echo x > /dev/zero) 2>/dev/null || echo zero-w-denied
         head -c1 /dev/full >/dev/null 2>&1 || echo full-r-denied
         head -c1 /dev/urandom >/dev/null 2>&1 || echo urandom-r-denied",
        dir.0.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("sh: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "null-w-ok",
            "zero-r-ok",
            "zero-w-denied",
            "full-r-denied",
            "urandom-r-denied"
        ],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
