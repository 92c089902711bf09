//! The state directory of a container (`<root>/<id>/`) and the OCI state document.
//!
//! `state.json` is written atomically (temp file, fsync, rename). A container's status is never
//! stored: it is derived from the init process (alive, same start time, not a zombie), the exec
//! FIFO (present until `start`) and the freezer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, RuntimeError};

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// What Berth remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub pid: i32,
    /// Start time of the init process in clock ticks since boot (guards against pid reuse).
    pub pid_start: u64,
    pub created: String,
    #[serde(default)]
    pub owner: String,
    /// The cgroup of the container, as the cgroups crate persists it.
    #[serde(default)]
    pub cgroup: Option<serde_json::Value>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Whether the container has a private pid namespace (else `delete` kills its cgroup).
    #[serde(default)]
    pub private_pid_ns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The state document `berth-runc state` prints (runtime-spec's fields plus runc's extras).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty", default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Container ids: what runc accepts.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

/// A container's state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub dir: PathBuf,
    pub id: String,
}

impl StateDir {
    pub fn new(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        Ok(StateDir {
            dir: root.join(id),
            id: id.to_string(),
        })
    }

    /// Create the directory; fails with `Exists` if the id is taken.
    pub fn create(&self) -> Result<()> {
        if let Some(parent) = self.dir.parent() {
            std::fs::create_dir_all(parent).ctx(|| format!("create {}", parent.display()))?;
            let _ = std::fs::set_permissions(
                parent,
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            );
        }
        match std::fs::create_dir(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RuntimeError::Exists(self.id.clone()))
            }
            Err(e) => Err(e).ctx(|| format!("create {}", self.dir.display())),
        }
    }

    pub fn exists(&self) -> bool {
        self.dir.join(STATE_FILE).exists()
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    pub fn load(&self) -> Result<Saved> {
        let data = match std::fs::read(self.dir.join(STATE_FILE)) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(self.id.clone()))
            }
            Err(e) => return Err(e).ctx(|| format!("read state of {}", self.id)),
        };
        serde_json::from_slice(&data)
            .map_err(|e| RuntimeError::Other(format!("state of {} is corrupt: {e}", self.id)))
    }

    pub fn save(&self, s: &Saved) -> Result<()> {
        let data = serde_json::to_vec(s).map_err(|e| RuntimeError::Other(e.to_string()))?;
        write_atomic(&self.dir.join(STATE_FILE), &data)
    }

    pub fn load_config(&self) -> Result<oci_spec::runtime::Spec> {
        let data = std::fs::read(self.dir.join(CONFIG_FILE))
            .ctx(|| format!("read config of {}", self.id))?;
        crate::spec::parse(&data)
    }

    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx(|| format!("remove {}", self.dir.display())),
        }
    }
}

/// Write a file atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
    f.write_all(data)
        .ctx(|| format!("write {}", tmp.display()))?;
    f.sync_all().ctx(|| format!("sync {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("rename {}", path.display()))
}

/// Process state from /proc/<pid>/stat: (state char, start time in ticks).
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let state = f.first()?.chars().next()?;
    let start = f.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Is the recorded init process still the one we started, and alive?
pub fn init_alive(s: &Saved) -> bool {
    match proc_stat(s.pid) {
        Some((st, start)) => start == s.pid_start && st != 'Z' && st != 'X',
        None => false,
    }
}

/// RFC 3339 with nanoseconds in UTC, as runc prints `created`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_follow_runc() {
        assert!(validate_id("web-1_a.b+c").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "x\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 5);
        assert_eq!(rfc3339(t), "2026-11-18T11:06:40.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let (st, start) = proc_stat(me).unwrap_or(('?', 0));
        assert_ne!(st, '?');
        let s = Saved {
            id: "x".into(),
            bundle: "/".into(),
            rootfs: "/".into(),
            pid: me,
            pid_start: start,
            created: String::new(),
            owner: String::new(),
            cgroup: None,
            annotations: Default::default(),
            private_pid_ns: true,
        };
        assert!(init_alive(&s));
        let stale = Saved {
            pid_start: start + 1,
            ..s
        };
        assert!(!init_alive(&stale));
    }
}
