//! The `local` driver's options: `type`, `device` and `o`, as `mount -t type -o o device _data`
//! (`type=tmpfs device=tmpfs o=size=64m`, `type=none o=bind device=/srv/x`, a block device with
//! its file-system type). The mount is made when a container first needs the volume and stays
//! until the volume is removed.
use std::collections::BTreeMap;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

/// The options Docker's local driver accepts.
const KEYS: [&str; 4] = ["type", "device", "o", "size"];

/// Refuse options the driver does not know, and combinations it cannot mount.
pub fn validate(o: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("invalid option: \"{k}\""));
    }
    if o.contains_key("size") {
        return Err("quota size requested but no quota support".into());
    }
    if o.is_empty() {
        return Ok(());
    }
    let typ = o.get("type").map(String::as_str).unwrap_or("");
    let dev = o.get("device").map(String::as_str).unwrap_or("");
    if typ.is_empty() && !is_bind(o) {
        return Err("missing required option: \"type\"".into());
    }
    if dev.is_empty() {
        return Err("missing required option: \"device\"".into());
    }
    if is_bind(o) && !dev.starts_with('/') {
        return Err(format!("bind device must be an absolute path: {dev}"));
    }
    Ok(())
}

fn is_bind(o: &BTreeMap<String, String>) -> bool {
    o.get("o")
        .is_some_and(|x| x.split(',').any(|f| f == "bind" || f == "rbind"))
}

/// `o` split into mount flags and the file-system data string.
fn flags_and_data(o: &str) -> (MountFlags, String) {
    let mut flags = MountFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|x| !x.is_empty()) {
        match opt {
            "ro" => flags |= MountFlags::RDONLY,
            "rw" | "defaults" | "bind" | "rbind" => {}
            "nosuid" => flags |= MountFlags::NOSUID,
            "nodev" => flags |= MountFlags::NODEV,
            "noexec" => flags |= MountFlags::NOEXEC,
            "sync" => flags |= MountFlags::SYNCHRONOUS,
            "noatime" => flags |= MountFlags::NOATIME,
            "nodiratime" => flags |= MountFlags::NODIRATIME,
            "relatime" => flags |= MountFlags::RELATIME,
            "strictatime" => flags |= MountFlags::STRICTATIME,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Whether `target` is a mount point (its own line in mountinfo).
pub fn is_mounted(target: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = target.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == want)
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Mount the options onto `target` unless already mounted there.
pub fn mount(o: &BTreeMap<String, String>, target: &Path) -> std::io::Result<()> {
    if is_mounted(target) {
        return Ok(());
    }
    let dev = o.get("device").map(String::as_str).unwrap_or("");
    let opts = o.get("o").map(String::as_str).unwrap_or("");
    let (flags, data) = flags_and_data(opts);
    if is_bind(o) {
        let rec = opts.split(',').any(|f| f == "rbind");
        if rec {
            rustix::mount::mount_bind_recursive(dev, target)?;
        } else {
            rustix::mount::mount_bind(dev, target)?;
        }
        if flags.contains(MountFlags::RDONLY) {
            rustix::mount::mount_remount(target, MountFlags::BIND | flags, c"")?;
        }
        return Ok(());
    }
    let typ = o.get("type").map(String::as_str).unwrap_or("");
    let data = std::ffi::CString::new(data)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in options"))?;
    rustix::mount::mount(dev, target, typ, flags, data.as_c_str())?;
    Ok(())
}

/// Unmount `target` if it is mounted.
pub fn unmount(target: &Path) -> std::io::Result<()> {
    if !is_mounted(target) {
        return Ok(());
    }
    rustix::mount::unmount(target, UnmountFlags::DETACH)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_checked_like_dockers_local_driver() {
        assert!(validate(&opts(&[])).is_ok());
        assert!(validate(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m")
        ]))
        .is_ok());
        assert!(validate(&opts(&[("o", "bind"), ("device", "/srv")])).is_ok());
        assert_eq!(
            validate(&opts(&[("colour", "red")])).err().as_deref(),
            Some("invalid option: \"colour\"")
        );
        assert!(validate(&opts(&[("type", "tmpfs")])).is_err());
        assert!(validate(&opts(&[("o", "bind"), ("device", "rel")])).is_err());
    }

    #[test]
    fn flags_split_from_data() {
        let (f, d) = flags_and_data("ro,nosuid,size=1m,uid=5");
        assert!(f.contains(MountFlags::RDONLY | MountFlags::NOSUID));
        assert_eq!(d, "size=1m,uid=5");
    }
}
