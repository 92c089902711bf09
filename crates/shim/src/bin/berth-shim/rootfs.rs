//! The container's rootfs: the snapshotter's mounts, performed here, undone on exit.
use std::path::{Path, PathBuf};

use berth_runtime::sys;
use berth_shim::MountSpec;

/// Mount `mounts` in order onto `target` (a directory of the bundle).
pub fn mount_all(target: &Path, mounts: &[MountSpec]) -> Result<(), String> {
    for m in mounts {
        if m.kind == "overlay" {
            // A user-namespaced container's overlay: id-mapped layers (berth_runtime::idmap).
            let (map, cache, rest) =
                berth_runtime::idmap::split_options(&m.options).map_err(|e| e.to_string())?;
            if let Some(map) = map {
                berth_runtime::idmap::mount_overlay(
                    target,
                    &rest,
                    m.cwd.as_deref(),
                    &map,
                    cache.as_deref(),
                )
                .map_err(|e| format!("mount overlay on {}: {e}", target.display()))?;
                continue;
            }
        }
        let data = m
            .options
            .iter()
            .filter(|o| !is_flag(o))
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        let mut flags: libc::c_ulong = 0;
        for o in &m.options {
            match o.as_str() {
                "ro" => flags |= libc::MS_RDONLY,
                "bind" => flags |= libc::MS_BIND,
                "rbind" => flags |= libc::MS_BIND | libc::MS_REC,
                "nosuid" => flags |= libc::MS_NOSUID,
                "nodev" => flags |= libc::MS_NODEV,
                _ => {}
            }
        }
        let (src, fstype) = match m.kind.as_str() {
            "bind" => {
                flags |= libc::MS_BIND;
                (m.source.clone(), None)
            }
            k => (m.source.clone(), Some(k.to_string())),
        };
        let prev = std::env::current_dir().ok();
        if let Some(cwd) = &m.cwd {
            std::env::set_current_dir(cwd).map_err(|e| format!("chdir {}: {e}", cwd.display()))?;
        }
        let csrc = sys::cpath(&src).map_err(|e| e.to_string())?;
        let ctgt = sys::cpath(target).map_err(|e| e.to_string())?;
        let ctype = fstype
            .as_deref()
            .map(|t| std::ffi::CString::new(t).unwrap_or_default());
        let cdata = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
        let r = sys::mount(
            Some(&csrc),
            &ctgt,
            ctype.as_deref(),
            flags & !libc::MS_RDONLY,
            if m.kind == "bind" { None } else { Some(&cdata) },
        );
        if let Some(p) = prev {
            let _ = std::env::set_current_dir(p);
        }
        r.map_err(|e| format!("mount {} on {}: {e}", m.kind, target.display()))?;
        if m.kind == "bind" && flags & libc::MS_RDONLY != 0 {
            sys::mount(
                None,
                &ctgt,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                None,
            )
            .map_err(|e| format!("remount {} read-only: {e}", target.display()))?;
        }
    }
    Ok(())
}

fn is_flag(o: &str) -> bool {
    matches!(o, "ro" | "rw" | "bind" | "rbind" | "nosuid" | "nodev")
}

/// Undo [`mount_all`]: detach every mount stacked on `target`.
pub fn unmount_all(target: &Path) {
    let Ok(c) = sys::cpath(target) else { return };
    for _ in 0..8 {
        if sys::umount2(&c, libc::MNT_DETACH).is_err() {
            break;
        }
    }
}

/// The bundle's root path (config.json `root.path`, relative to the bundle).
pub fn root_path(bundle: &Path) -> Result<PathBuf, String> {
    let data = std::fs::read(bundle.join("config.json"))
        .map_err(|e| format!("read {}/config.json: {e}", bundle.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| format!("config.json: {e}"))?;
    let p = PathBuf::from(v["root"]["path"].as_str().unwrap_or("rootfs"));
    Ok(if p.is_absolute() { p } else { bundle.join(p) })
}
