//! What clients read: `ps`, `inspect`, `logs`.
use std::io::{BufRead, BufReader};

use berth_api::container::{
    ContainerInspect, ContainerState, ContainerSummary, GraphDriverData, SummaryHostConfig,
};
use berth_api::Filters;

use super::record::{now_ns, rfc3339_ns, Record, Status};
use super::{poisoned, ContainerService};
use crate::error::{Error, Result};

/// One log record: stream (1 stdout, 2 stderr), RFC 3339 time, the text.
pub type LogRecord = (u8, String, String);

/// `GET /containers/{id}/logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    /// Lines from the end; `None` = all.
    pub tail: Option<usize>,
    /// Unix seconds (fractional), 0 = unset.
    pub since: f64,
    pub until: f64,
}

fn matches(r: &Record, f: &Filters) -> bool {
    let st = r.state.status.as_str();
    {
        let v = f.get("status");
        if !v.is_empty() && !v.contains(&st) {
            return false;
        }
    }
    {
        let v = f.get("name");
        if !v.is_empty() && !v.iter().any(|n| r.name.contains(n.trim_start_matches('/'))) {
            return false;
        }
    }
    {
        let v = f.get("id");
        if !v.is_empty() && !v.iter().any(|p| r.id.starts_with(p)) {
            return false;
        }
    }
    {
        let v = f.get("label");
        for want in v {
            let ok = match want.split_once('=') {
                Some((k, val)) => r
                    .config
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(k))
                    .is_some_and(|x| x == val),
                None => r
                    .config
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(want)),
            };
            if !ok {
                return false;
            }
        }
    }
    {
        let v = f.get("exited");
        let exited_with = |c: &&str| c.parse::<i64>().ok() == Some(r.state.exit_code);
        if !v.is_empty() && (r.state.status != Status::Exited || !v.iter().any(exited_with)) {
            return false;
        }
    }
    {
        let v = f.get("ancestor");
        if !v.is_empty()
            && !v
                .iter()
                .any(|a| *a == r.image_name || r.image_id.contains(a))
        {
            return false;
        }
    }
    {
        let v = f.get("health");
        if !v.is_empty() {
            let h = r
                .state
                .health
                .as_ref()
                .map(|h| h.status.as_str())
                .unwrap_or("none");
            if !v.contains(&h) {
                return false;
            }
        }
    }
    {
        // `volume=`: a volume name or a mount destination.
        let v = f.get("volume");
        if !v.is_empty()
            && !v.iter().any(|w| {
                r.mounts
                    .iter()
                    .any(|m| (m.kind == "volume" && m.name == *w) || m.destination == *w)
            })
        {
            return false;
        }
    }
    true
}

impl ContainerService {
    /// `GET /containers/json`: newest first.
    pub fn list(
        &self,
        all: bool,
        limit: Option<usize>,
        filters: &Filters,
    ) -> Result<Vec<ContainerSummary>> {
        filters
            .validate(berth_api::filters::CONTAINER_LIST_FILTERS)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut recs: Vec<Record> = self
            .all
            .lock()
            .map_err(poisoned)?
            .values()
            .filter_map(|c| c.rec.lock().ok().map(|r| r.clone()))
            .collect();
        recs.sort_by_key(|r| std::cmp::Reverse(r.created_ns));
        let now = now_ns();
        let mut out = Vec::new();
        for r in recs {
            let explicit_status = !filters.get("status").is_empty();
            if !all && limit.is_none() && !explicit_status && !r.state.status.is_live() {
                continue;
            }
            if !matches(&r, filters) {
                continue;
            }
            out.push(ContainerSummary {
                id: r.id.clone(),
                names: vec![format!("/{}", r.name)],
                image: r.image_name.clone(),
                image_id: r.image_id.clone(),
                command: r.command_line(),
                created: r.created_ns / 1_000_000_000,
                state: r.state.status.as_str().to_string(),
                status: r.human_status(now),
                labels: r.config.labels.clone().unwrap_or_default(),
                host_config: SummaryHostConfig {
                    network_mode: if r.host_config.network_mode.is_empty() {
                        "default".into()
                    } else {
                        r.host_config.network_mode.clone()
                    },
                },
                mounts: r.mounts.iter().map(|m| m.to_api()).collect(),
                ports: super::network::summary_ports(&r),
                network_settings: berth_api::container::SummaryNetworkSettings {
                    networks: super::network::settings(&r).networks,
                },
                ..Default::default()
            });
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    /// Image IDs that containers (any state) are made from: never deleted under them.
    pub fn images_in_use(&self) -> std::collections::BTreeSet<berth_image::Digest> {
        self.all
            .lock()
            .map(|all| {
                all.values()
                    .filter_map(|c| c.rec.lock().ok().map(|r| r.image_id.clone()))
                    .filter_map(|id| id.parse::<berth_image::Digest>().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, name: &str) -> Result<ContainerInspect> {
        let r = self.record(name)?;
        let st = &r.state;
        let dir = self.dir(&r.id);
        Ok(ContainerInspect {
            id: r.id.clone(),
            created: rfc3339_ns(r.created_ns),
            path: r.path.clone(),
            args: r.args.clone(),
            state: ContainerState {
                status: st.status.as_str().into(),
                running: st.status.is_live(),
                paused: st.status == Status::Paused,
                restarting: st.status == Status::Restarting,
                oom_killed: st.oom_killed,
                dead: st.status == Status::Dead,
                pid: st.pid,
                exit_code: st.exit_code,
                error: st.error.clone(),
                started_at: rfc3339_ns(st.started_at_ns),
                finished_at: rfc3339_ns(st.finished_at_ns),
                health: st.health.clone(),
            },
            image: r.image_id.clone(),
            log_path: dir.join(format!("{}-json.log", r.id)).display().to_string(),
            name: format!("/{}", r.name),
            restart_count: r.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            host_config: r.host_config.clone(),
            graph_driver: GraphDriverData {
                name: "overlay2".into(),
                ..Default::default()
            },
            config: r.config.clone(),
            mounts: r.mounts.iter().map(|m| m.to_api()).collect(),
            network_settings: super::network::settings(&r),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            app_armor_profile: crate::apparmor::profile_for(
                r.host_config.security_opt.as_deref().unwrap_or_default(),
                r.host_config.privileged,
                crate::apparmor::host_enabled(),
            )
            .ok()
            .flatten()
            .unwrap_or_default(),
            ..Default::default()
        })
    }

    /// The container's log records (json-file), filtered; each is (stream, time, line).
    pub fn read_logs(&self, name: &str, o: &LogOptions) -> Result<(bool, Vec<LogRecord>)> {
        let r = self.record(name)?;
        if r.host_config.log_config.r#type == "none" {
            return Err(Error::invalid(
                "configured logging driver does not support reading",
            ));
        }
        let path = self.dir(&r.id).join(format!("{}-json.log", r.id));
        let mut out = Vec::new();
        let mut files = Vec::new();
        // Rotated files first, oldest first.
        for n in (1..10).rev() {
            let p = path.with_extension(format!("log.{n}"));
            if p.exists() {
                files.push(p);
            }
        }
        files.push(path);
        for p in files {
            let Ok(f) = std::fs::File::open(&p) else {
                continue;
            };
            for line in BufReader::new(f).lines().map_while(|l| l.ok()) {
                let v: serde_json::Value = match serde_json::from_str(&line) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                let stream = if v["stream"] == "stderr" { 2u8 } else { 1u8 };
                if (stream == 1 && !o.stdout) || (stream == 2 && !o.stderr) {
                    continue;
                }
                let time = v["time"].as_str().unwrap_or_default().to_string();
                if o.since > 0.0 || o.until > 0.0 {
                    let t = unix_of(&time);
                    if o.since > 0.0 && t < o.since {
                        continue;
                    }
                    if o.until > 0.0 && t > o.until {
                        continue;
                    }
                }
                out.push((
                    stream,
                    time,
                    v["log"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(t) = o.tail {
            let skip = out.len().saturating_sub(t);
            out.drain(..skip);
        }
        Ok((r.config.tty, out))
    }
}

/// Unix seconds of an RFC 3339 time (for since/until filtering).
fn unix_of(t: &str) -> f64 {
    let secs = crate::images::unix_secs_pub(Some(t)) as f64;
    let frac = t
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('Z'))
        .and_then(|f| format!("0.{f}").parse::<f64>().ok())
        .unwrap_or(0.0);
    secs + frac
}
