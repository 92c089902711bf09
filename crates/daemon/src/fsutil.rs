//! State files: written whole to a temp file beside them and renamed over, so a crash leaves
//! the old or the new content, never a part. One helper for every service's files.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Result;

/// How a file is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Atomic {
    /// The file's mode (set exactly, umask aside); `None`: the default for new files.
    pub mode: Option<u32>,
    /// fsync before the rename (records whose loss would lose track of something on the host).
    pub sync: bool,
}

impl Atomic {
    /// Default mode, no fsync.
    pub const PLAIN: Atomic = Atomic {
        mode: None,
        sync: false,
    };
    /// Default mode, fsync'd.
    pub const DURABLE: Atomic = Atomic {
        mode: None,
        sync: true,
    };
    /// Root only (0600), fsync'd.
    pub const PRIVATE: Atomic = Atomic {
        mode: Some(0o600),
        sync: true,
    };
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `data` to `path` atomically (`<path>.tmp`, then rename).
pub(crate) fn write_atomic(path: &Path, data: &[u8], how: Atomic) -> Result<()> {
    let tmp = tmp_path(path);
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        if let Some(m) = how.mode {
            o.mode(m);
        }
        let mut f = o.open(&tmp)?;
        if let Some(m) = how.mode {
            // A temp file left by a crash keeps its mode on open, and umask applies: set it.
            f.set_permissions(std::fs::Permissions::from_mode(m))?;
        }
        f.write_all(data)?;
        if how.sync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// A JSON state file, or the default when it is missing or unreadable.
pub(crate) fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_root_only_and_replace_whole() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("container.json");
        std::fs::write(&p, "old").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_atomic(&p, b"{}", Atomic::PRIVATE).expect("atomic");
        assert_eq!(std::fs::read(&p).expect("read"), b"{}");
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!tmp_path(&p).exists());
        let m: std::collections::BTreeMap<String, String> =
            read_json_or_default(&d.path().join("missing.json"));
        assert!(m.is_empty());
    }
}
