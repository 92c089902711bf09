//! pause / unpause, top, stats, rename, update: one shim call each, plus the record.
use std::collections::{BTreeMap, BTreeSet};

use berth_api::container::stats::{CpuStats, CpuUsage, MemoryStats, PidsStats, ThrottlingData};
use berth_api::container::{ContainerTopResponse, ContainerUpdateRequest, Stats};
use berth_shim::{Request, Response, ShimClient};

use super::record::{now_ns, rfc3339_ns, Status};
use super::{poisoned, ContainerService};
use crate::error::{Error, Result};

impl ContainerService {
    /// The live container's id and a client for its shim (409 if it is not running).
    pub(super) fn live(&self, name: &str) -> Result<(String, ShimClient, Status)> {
        let c = self.get(name)?;
        let r = c.rec.lock().map_err(poisoned)?;
        if !r.state.status.is_live() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        Ok((
            r.id.clone(),
            ShimClient::new(self.shim_dir(&r.id)),
            r.state.status,
        ))
    }

    pub(super) async fn call(client: ShimClient, req: Request) -> Result<Response> {
        tokio::task::spawn_blocking(move || client.call(&req))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(Error::from)
    }

    /// `POST /containers/{id}/pause` and `/unpause`.
    pub async fn set_paused(&self, name: &str, pause: bool) -> Result<()> {
        let (id, client, status) = self.live(name)?;
        match (pause, status) {
            (true, Status::Paused) => {
                return Err(Error::conflict(format!("Container {id} is already paused")))
            }
            (false, Status::Running) => {
                return Err(Error::conflict(format!("Container {id} is not paused")))
            }
            _ => {}
        }
        Self::call(
            client,
            if pause {
                Request::Pause
            } else {
                Request::Resume
            },
        )
        .await?;
        let c = self.get(&id)?;
        c.rec.lock().map_err(poisoned)?.state.status = if pause {
            Status::Paused
        } else {
            Status::Running
        };
        self.save(&c)?;
        self.event(&c, if pause { "pause" } else { "unpause" }, BTreeMap::new());
        Ok(())
    }

    /// `GET /containers/{id}/top?ps_args=`: the host's `ps`, rows limited to the container's pids.
    pub async fn top(&self, name: &str, ps_args: &str) -> Result<ContainerTopResponse> {
        let (_, client, _) = self.live(name)?;
        let pids: BTreeSet<String> = Self::call(client, Request::Pids)
            .await?
            .pids
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_string())
            .collect();
        let args: Vec<String> = if ps_args.trim().is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.split_whitespace().map(String::from).collect()
        };
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| Error::internal(format!("ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
        let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
            return Err(Error::internal(format!(
                "Couldn't find PID field in ps output: {header}"
            )));
        };
        let mut processes = Vec::new();
        for l in lines {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.get(pid_col).is_some_and(|p| pids.contains(*p)) {
                // The last column (the command) keeps its spaces.
                let n = titles.len();
                let mut row: Vec<String> = fields
                    .iter()
                    .take(n.saturating_sub(1))
                    .map(|s| s.to_string())
                    .collect();
                row.push(
                    fields
                        .iter()
                        .skip(n.saturating_sub(1))
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                processes.push(row);
            }
        }
        Ok(ContainerTopResponse { processes, titles })
    }

    /// One stats sample in Docker's shape (cgroup numbers from the shim, host CPU time here).
    pub async fn stats(&self, name: &str, pre: Option<&Stats>) -> Result<Stats> {
        let (id, client, _) = self.live(name)?;
        let rec = self.record(&id)?;
        let v = Self::call(client, Request::Stats)
            .await?
            .value
            .unwrap_or_default();
        let u = |p: &str| v.pointer(p).and_then(|x| x.as_u64()).unwrap_or(0);
        let percpu: Vec<u64> = v
            .pointer("/cpu/usage_per_cpu_ns")
            .and_then(|a| a.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
            .unwrap_or_default();
        let mut mstats = BTreeMap::new();
        for (k, p) in [
            ("cache", "/memory/cache"),
            ("rss", "/memory/rss"),
            ("total_inactive_file", "/memory/inactive_file"),
            ("inactive_file", "/memory/inactive_file"),
        ] {
            mstats.insert(k.to_string(), u(p));
        }
        let online = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let s = Stats {
            read: rfc3339_ns(now_ns()),
            preread: pre
                .map(|p| p.read.clone())
                .unwrap_or_else(|| berth_api::ZERO_TIME.into()),
            pids_stats: PidsStats {
                current: u("/pids/current"),
                limit: v
                    .pointer("/pids/limit")
                    .and_then(|x| x.as_u64())
                    .unwrap_or(u64::MAX),
            },
            num_procs: 0,
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: u("/cpu/usage_total_ns"),
                    percpu_usage: percpu,
                    usage_in_kernelmode: u("/cpu/usage_system_ns"),
                    usage_in_usermode: u("/cpu/usage_user_ns"),
                },
                system_usage: system_cpu_ns(),
                online_cpus: online,
                throttling_data: ThrottlingData::default(),
            },
            precpu_stats: pre.map(|p| p.cpu_stats.clone()).unwrap_or_default(),
            memory_stats: MemoryStats {
                usage: u("/memory/usage"),
                max_usage: u("/memory/max_usage"),
                stats: mstats,
                failcnt: 0,
                // No limit reads as a huge number in v1 and "max" in v2: Docker shows the host's.
                limit: v
                    .pointer("/memory/limit")
                    .and_then(|x| x.as_u64())
                    .unwrap_or(u64::MAX)
                    .min(host_memory()),
            },
            name: format!("/{}", rec.name),
            id: rec.id.clone(),
            networks: if rec.net.as_ref().is_some_and(|n| n.netns.is_some()) {
                net_dev(rec.state.pid)
            } else {
                BTreeMap::new()
            },
            ..Default::default()
        };
        Ok(s)
    }

    /// `POST /containers/{id}/rename?name=`.
    pub fn rename(&self, name: &str, new: &str) -> Result<()> {
        let new = new.trim_start_matches('/');
        if new.is_empty() {
            return Err(Error::invalid("Neither old nor new names may be empty"));
        }
        let c = self.get(name)?;
        let all = self.all.lock().map_err(poisoned)?;
        if let Some((other, _)) = all
            .iter()
            .find(|(_, o)| o.rec.lock().map(|r| r.name == new).unwrap_or(false))
        {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let old = {
            let mut r = c.rec.lock().map_err(poisoned)?;
            std::mem::replace(&mut r.name, new.to_string())
        };
        drop(all);
        self.save(&c)?;
        self.event(
            &c,
            "rename",
            BTreeMap::from([("oldName".to_string(), format!("/{old}"))]),
        );
        Ok(())
    }

    /// `POST /containers/{id}/update`: new limits for the running cgroup and the record.
    pub async fn update(&self, name: &str, u: ContainerUpdateRequest) -> Result<Vec<String>> {
        let c = self.get(name)?;
        let (id, live) = {
            let r = c.rec.lock().map_err(poisoned)?;
            (r.id.clone(), r.state.status.is_live())
        };
        {
            let mut r = c.rec.lock().map_err(poisoned)?;
            let res = &mut r.host_config.resources;
            let n = &u.resources;
            if n.memory != 0 {
                res.memory = n.memory;
            }
            if n.memory_swap != 0 {
                res.memory_swap = n.memory_swap;
            }
            if n.memory_reservation != 0 {
                res.memory_reservation = n.memory_reservation;
            }
            if n.cpu_shares != 0 {
                res.cpu_shares = n.cpu_shares;
            }
            if n.nano_cpus != 0 {
                res.nano_cpus = n.nano_cpus;
            }
            if n.cpu_quota != 0 {
                res.cpu_quota = n.cpu_quota;
            }
            if n.cpu_period != 0 {
                res.cpu_period = n.cpu_period;
            }
            if !n.cpuset_cpus.is_empty() {
                res.cpuset_cpus = n.cpuset_cpus.clone();
            }
            if !n.cpuset_mems.is_empty() {
                res.cpuset_mems = n.cpuset_mems.clone();
            }
            if n.pids_limit.is_some() {
                res.pids_limit = n.pids_limit;
            }
            if n.blkio_weight != 0 {
                res.blkio_weight = n.blkio_weight;
            }
            if !u.restart_policy.name.is_empty() {
                r.host_config.restart_policy = u.restart_policy.clone();
            }
        }
        let mut warnings = Vec::new();
        if live {
            let r = self.record(&id)?;
            let spec = super::spec::build(&r, "unused", &self.cfg)?;
            let resources = spec["linux"]["resources"].clone();
            let resp = Self::call(
                ShimClient::new(self.shim_dir(&id)),
                Request::Update { resources },
            )
            .await?;
            warnings = resp.warnings;
        }
        self.save(&c)?;
        self.event(&c, "update", BTreeMap::new());
        Ok(warnings)
    }
}

/// Host CPU time in nanoseconds (`/proc/stat`'s first line), for CPU percentages.
fn system_cpu_ns() -> u64 {
    let ticks_per_sec = 100u64;
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .take(7)
                    .filter_map(|x| x.parse::<u64>().ok())
                    .sum::<u64>()
            })
        })
        .map(|t| t * (1_000_000_000 / ticks_per_sec))
        .unwrap_or(0)
}

/// The host's memory in bytes (`MemTotal` of /proc/meminfo), 0 when unknown.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// `until` of a prune: Unix seconds (with a fraction) or a Go duration back from now
/// (`24h`, `90m`, `10s`, `1h30m`). Nanoseconds.
pub fn until_ns(v: &str, now_ns: i64) -> Result<i64> {
    if let Ok(secs) = v.parse::<f64>() {
        return Ok((secs * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let mut unit = ch.to_string();
        if ch == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num
            .parse()
            .map_err(|_| Error::invalid(format!("invalid until value: {v}")))?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(Error::invalid(format!("invalid until value: {v}"))),
        };
    }
    if !num.is_empty() {
        return Err(Error::invalid(format!("invalid until value: {v}")));
    }
    Ok(now_ns - (total * 1e9) as i64)
}

impl ContainerService {
    /// `POST /containers/prune`: every container that is not running (nor paused or
    /// restarting), filtered by `until` and `label`/`label!`. The IDs removed.
    pub async fn prune(&self, f: &berth_api::Filters) -> Result<Vec<String>> {
        f.validate(berth_api::filters::CONTAINER_PRUNE_FILTERS)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let now = now_ns();
        let until = match f.get("until").first() {
            Some(u) => Some(until_ns(u, now)?),
            None => None,
        };
        let label_ok = |labels: &BTreeMap<String, String>, want: &str| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(want),
        };
        let victims: Vec<String> = self
            .all
            .lock()
            .map_err(poisoned)?
            .values()
            .filter_map(|c| c.rec.lock().ok().map(|r| r.clone()))
            .filter(|r| {
                matches!(
                    r.state.status,
                    Status::Exited | Status::Created | Status::Dead
                )
            })
            .filter(|r| until.is_none_or(|u| r.created_ns < u))
            .filter(|r| {
                let labels = r.config.labels.clone().unwrap_or_default();
                f.get("label").iter().all(|w| label_ok(&labels, w))
                    && f.get("label!").iter().all(|w| !label_ok(&labels, w))
            })
            .map(|r| r.id)
            .collect();
        let mut removed = Vec::new();
        for id in victims {
            if self.remove(&id, false, false).await.is_ok() {
                removed.push(id);
            }
        }
        Ok(removed)
    }
}

impl ContainerService {
    /// `GET /containers/{id}/changes`: what the container changed over its image (`docker diff`).
    pub fn changes(&self, name: &str) -> Result<Vec<berth_api::container::ContainerChange>> {
        let r = self.record(name)?;
        let key = super::lifecycle::snapshot_key(&r.id);
        let changes = self.images.root().snapshots.diff(&key)?;
        Ok(changes
            .into_iter()
            .map(|c| berth_api::container::ContainerChange {
                path: c.path,
                kind: match c.kind {
                    berth_image::ChangeKind::Modified => 0,
                    berth_image::ChangeKind::Added => 1,
                    berth_image::ChangeKind::Deleted => 2,
                },
            })
            .collect())
    }

    /// Bytes in the container's writable layer (`SizeRw`).
    pub fn size_rw(&self, id: &str) -> Option<i64> {
        self.images
            .root()
            .snapshots
            .usage(&super::lifecycle::snapshot_key(id))
            .ok()
            .map(|u| u.size as i64)
    }
}

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]`, or empty for an untagged image.
    pub reference: String,
    pub comment: String,
    pub author: String,
    pub changes: Vec<String>,
    /// Freeze a running container while its layer is read (Docker's default).
    pub pause: bool,
    /// A config from the request body, used instead of the container's.
    pub config: Option<berth_api::container::ContainerConfig>,
}

impl ContainerService {
    /// `POST /commit?container=`: a new image from the container's changes.
    pub async fn commit(&self, name: &str, req: CommitRequest) -> Result<String> {
        let r = self.record(name)?;
        let parent: berth_image::Digest = r
            .image_id
            .parse()
            .map_err(|_| Error::internal(format!("bad image id {}", r.image_id)))?;
        let paused_here = req.pause && r.state.status == Status::Running;
        if paused_here {
            Self::call(ShimClient::new(self.shim_dir(&r.id)), Request::Pause).await?;
        }
        let images = self.images.clone();
        let key = super::lifecycle::snapshot_key(&r.id);
        let mut config = req.config.clone().unwrap_or_else(|| r.config.clone());
        if config.image.is_empty() {
            config.image = r.image_name.clone();
        }
        let created_by = r.command_line();
        let res = tokio::task::spawn_blocking(move || {
            images.commit(
                &key,
                &parent,
                &config,
                &req.changes,
                &req.comment,
                &req.author,
                &created_by,
                Some(req.reference.as_str()),
            )
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        if paused_here {
            let _ = Self::call(ShimClient::new(self.shim_dir(&r.id)), Request::Resume).await;
        }
        let id = res?;
        if let Ok(c) = self.get(&r.id) {
            self.event(&c, "commit", BTreeMap::new());
        }
        Ok(id)
    }
}

impl ContainerService {
    /// `GET /containers/{id}/export`: the container's filesystem as a tar, written to `w`
    /// (blocking). A running container's mounted rootfs is read as it is; a stopped one's layers
    /// are mounted read-only for the walk (its writable layer as the top lower directory).
    pub fn export(&self, name: &str, w: impl std::io::Write) -> Result<()> {
        let r = self.record(name)?;
        match self.idmap_of(&r) {
            // A remapped container's files hold host ids: the archive gets the container's.
            Some(map) => {
                use berth_image::idtar::{Direction, ShiftWriter};
                let mut sw = ShiftWriter::new(w, map, Direction::ToContainer);
                self.export_record(&r, &mut sw)?;
                sw.finish()?;
                Ok(())
            }
            None => self.export_record(&r, w),
        }
    }

    fn export_record(&self, r: &super::record::Record, w: impl std::io::Write) -> Result<()> {
        let dir = self.dir(&r.id);
        let rootfs = dir.join("bundle/rootfs");
        if r.state.status.is_live() {
            berth_image::archive::export(&rootfs, w)?;
            return Ok(());
        }
        self.with_layers_ro(&r.id, |view| {
            berth_image::archive::export(view, w).map_err(Error::from)
        })
    }

    /// Run `f` on a read-only view of a stopped container's filesystem (its layers mounted
    /// read-only at `containers/<id>/view`, the writable layer as the top lower directory, so
    /// deletions stay deleted); the view is unmounted afterwards.
    pub(crate) fn with_layers_ro<T>(
        &self,
        id: &str,
        f: impl FnOnce(&std::path::Path) -> Result<T>,
    ) -> Result<T> {
        let dir = self.dir(id);
        let key = super::lifecycle::snapshot_key(id);
        let mounts = self.images.root().snapshots.mounts(&key)?;
        let m = mounts
            .first()
            .ok_or_else(|| Error::internal("the container has no filesystem"))?;
        let opt = |k: &str| {
            m.options
                .iter()
                .find_map(|o| o.strip_prefix(&format!("{k}=")).map(String::from))
        };
        let target = dir.join("view");
        std::fs::create_dir_all(&target)?;
        let status = match (m.kind.as_str(), opt("upperdir"), opt("lowerdir")) {
            ("overlay", Some(upper), Some(lower)) => {
                let mut c = std::process::Command::new("mount");
                c.args(["-t", "overlay", "overlay", "-o"])
                    .arg(format!("ro,lowerdir={upper}:{lower}"))
                    .arg(&target);
                if let Some(cwd) = &m.cwd {
                    c.current_dir(cwd);
                }
                c.status()?
            }
            ("overlay", Some(upper), None) | ("bind", Some(upper), None) => {
                std::process::Command::new("mount")
                    .args(["--bind", "-o", "ro", &upper])
                    .arg(&target)
                    .status()?
            }
            _ => std::process::Command::new("mount")
                .arg("--bind")
                .arg(&m.source)
                .arg(&target)
                .status()?,
        };
        if !status.success() {
            let _ = std::fs::remove_dir(&target);
            return Err(Error::internal(
                "mount the container's layers read-only failed",
            ));
        }
        let res = f(&target);
        super::unmount_detached(&target);
        let _ = std::fs::remove_dir(&target);
        res
    }
}

/// The interfaces of a container's network namespace, from its init's `/proc/<pid>/net/dev`
/// (loopback left out, as Docker does).
fn net_dev(pid: i64) -> BTreeMap<String, berth_api::container::stats::NetworkStats> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) else {
        return BTreeMap::new();
    };
    parse_net_dev(&text)
}

fn parse_net_dev(text: &str) -> BTreeMap<String, berth_api::container::stats::NetworkStats> {
    let mut out = BTreeMap::new();
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            berth_api::container::stats::NetworkStats {
                rx_bytes: f[0],
                rx_packets: f[1],
                rx_errors: f[2],
                rx_dropped: f[3],
                tx_bytes: f[8],
                tx_packets: f[9],
                tx_errors: f[10],
                tx_dropped: f[11],
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_is_parsed_without_loopback() {
        let t = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  eth0:    5000      40    1    2    0     0          0         0     3000      30    0    3    0     0       0          0\n";
        let m = parse_net_dev(t);
        assert_eq!(m.len(), 1);
        let e = &m["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (5000, 40, 1, 2)
        );
        assert_eq!((e.tx_bytes, e.tx_packets, e.tx_dropped), (3000, 30, 3));
    }

    #[test]
    fn until_takes_timestamps_and_durations() {
        let now = 1_000_000 * 1_000_000_000;
        assert_eq!(until_ns("10", now).ok(), Some(10_000_000_000));
        assert_eq!(
            until_ns("1h30m", now).ok(),
            Some(now - 5400 * 1_000_000_000)
        );
        assert_eq!(until_ns("45s", now).ok(), Some(now - 45 * 1_000_000_000));
        assert!(until_ns("3 days", now).is_err());
    }
}
