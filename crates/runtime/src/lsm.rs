//! Linux security modules: AppArmor profiles and SELinux labels, applied only where the LSM is
//! present (validation refuses them elsewhere with a clear error).

use std::io::Write;

use crate::error::{IoContext, Result, RuntimeError};

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Arrange for the next execve to switch to `profile`.
pub fn apply_apparmor(profile: &str) -> Result<()> {
    let path = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .ctx(|| format!("open {path}"))?;
    match f.write_all(format!("exec {profile}").as_bytes()) {
        // The kernel answers ENOENT for a profile it does not hold.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(RuntimeError::spec(
            "process.apparmorProfile",
            format!("apparmor profile {profile:?} is not loaded: load it with apparmor_parser"),
        )),
        r => r.ctx(|| format!("apparmor profile {profile:?}")),
    }
}

/// Arrange for the next execve to run with the SELinux `label`.
pub fn apply_selinux(label: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/attr/exec")
        .ctx(|| "open /proc/self/attr/exec".into())?;
    f.write_all(label.as_bytes())
        .ctx(|| format!("selinux label {label:?}"))
}
