//! A container as the daemon keeps it on disk (`containers/<id>/container.json`), and the
//! human status strings Docker derives from it.
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_api::container::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The schema of `container.json`; bump on incompatible changes.
pub const SCHEMA: u32 = 1;

/// Lifecycle state, Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    /// A process exists (running or paused).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

/// The state part of a record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// Why the last start failed.
    pub error: String,
    /// Unix nanoseconds; 0 = never.
    pub started_at_ns: i64,
    pub finished_at_ns: i64,
    /// Health-check state, for containers with a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<berth_api::container::Health>,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub schema: u32,
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    pub created_ns: i64,
    /// The image as the user named it.
    pub image_name: String,
    /// The image ID (`sha256:…`).
    pub image_id: String,
    /// The merged config (image defaults + request).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The process: entrypoint + cmd.
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    pub restart_count: i64,
    /// Warnings given at create.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Stopped by `docker stop`/`kill`: restart policies leave it down (also across a daemon
    /// restart).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Mount points resolved at create (volumes made, paths checked).
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountPoint>,
    /// The networks it is connected to, by name, the primary first.
    #[serde(default)]
    pub networks: Vec<(String, crate::networks::sandbox::Attachment)>,
    /// Its network while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::networks::NetState>,
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// RFC 3339 with nanoseconds, or Go's zero time for 0.
pub fn rfc3339_ns(ns: i64) -> String {
    if ns <= 0 {
        return berth_api::ZERO_TIME.to_string();
    }
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let (days, sod) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// go-units `HumanDuration`, as `docker ps` shows it.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    }
    if m < 60 {
        return format!("{m} minutes");
    }
    let h = (s as f64 / 3600.0).round() as i64;
    if h == 1 {
        return "About an hour".into();
    }
    if h < 48 {
        return format!("{h} hours");
    }
    if h < 24 * 7 * 2 {
        return format!("{} days", h / 24);
    }
    if h < 24 * 30 * 2 {
        return format!("{} weeks", h / 24 / 7);
    }
    if h < 24 * 365 * 2 {
        return format!("{} months", h / 24 / 30);
    }
    format!("{} years", h / 24 / 365)
}

impl Record {
    /// `docker ps`'s STATUS column (moby `State.String`).
    pub fn human_status(&self, now_ns: i64) -> String {
        let st = &self.state;
        let ago = |t: i64| human_duration((now_ns - t) / 1_000_000_000);
        match st.status {
            Status::Running => {
                let h = match st.health.as_ref().map(|h| h.status.as_str()) {
                    Some("starting") => " (health: starting)",
                    Some("healthy") => " (healthy)",
                    Some("unhealthy") => " (unhealthy)",
                    _ => "",
                };
                format!("Up {}{h}", ago(st.started_at_ns))
            }
            Status::Paused => format!("Up {} (Paused)", ago(st.started_at_ns)),
            Status::Restarting => {
                format!(
                    "Restarting ({}) {} ago",
                    st.exit_code,
                    ago(st.finished_at_ns)
                )
            }
            Status::Removing => "Removal In Progress".into(),
            Status::Dead => "Dead".into(),
            Status::Created => "Created".into(),
            Status::Exited if st.finished_at_ns == 0 => "Created".into(),
            Status::Exited => format!("Exited ({}) {} ago", st.exit_code, ago(st.finished_at_ns)),
        }
    }

    /// The command as `docker ps` shows it.
    pub fn command_line(&self) -> String {
        let mut v = vec![self.path.clone()];
        v.extend(self.args.iter().cloned());
        v.join(" ")
    }

    pub fn load(path: &Path) -> Result<Record> {
        let data = std::fs::read(path)?;
        let r: Record = serde_json::from_slice(&data)
            .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
        if r.schema > SCHEMA {
            return Err(Error::internal(format!(
                "{}: written by a newer berthd (schema {})",
                path.display(),
                r.schema
            )));
        }
        Ok(r)
    }

    /// Write atomically (temp file, fsync, rename), readable by root only (the record holds
    /// the container's environment, secrets included, as Docker's config.v2.json does).
    pub fn save(&self, path: &Path) -> Result<()> {
        let data = serde_json::to_vec(self).map_err(|e| Error::internal(e.to_string()))?;
        crate::fsutil::write_atomic(path, &data, crate::fsutil::Atomic::PRIVATE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker_ps() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(39), "39 seconds");
        assert_eq!(human_duration(61), "About a minute");
        assert_eq!(human_duration(5 * 60), "5 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn times_are_rfc3339_nano() {
        assert_eq!(rfc3339_ns(0), "0001-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_ns(1_795_000_000_000_000_005),
            "2026-11-18T11:06:40.000000005Z"
        );
    }
}
