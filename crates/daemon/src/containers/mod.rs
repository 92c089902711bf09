//! Containers: names, records on disk, and the lifecycle, each container run by its own shim.
//!
//! - [`record`]: the persisted [`Record`], status strings.
//! - [`spec`]: the OCI spec from a record.
//! - [`mounts`]: mount points from `-v`, `--mount`, `--tmpfs`, `--volumes-from`, image volumes.
//! - `lifecycle.rs`: create, start, stop, kill, wait, remove, restore.
//! - `views.rs`: list, inspect, logs.
//! - `archive.rs`: `docker cp`: stat, archive out, extract in, running or stopped.
//! - `exec.rs`: exec create / start / inspect / resize through the shim.
//! - `health.rs`: health-check probes and status.
pub mod mounts;
pub mod record;
pub mod spec;

mod archive;
mod exec;
mod health;
mod lifecycle;
mod network;
mod ops;
mod views;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

pub use archive::{ContainerPathStat, ExtractRequest};
pub use exec::{ExecRecord, StartedExec};
pub(crate) use lifecycle::{random_hex, snapshot_key};
pub use lifecycle::{AttachRequest, WaitCondition};
pub use ops::{host_memory, until_ns, CommitRequest};
pub use record::{Record, State, Status};
pub use views::LogOptions;

use crate::config::DaemonConfig;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::images::ImageService;
use crate::networks::NetworkService;
use crate::volumes::VolumeService;

/// What waiters watch: bumps on every exit and on removal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gen {
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
}

/// A pending attach, connected when the container starts.
#[derive(Debug)]
pub(crate) struct Pending {
    pub hello: berth_shim::AttachHello,
    pub tx: oneshot::Sender<Result<std::os::unix::net::UnixStream>>,
}

/// One container in memory.
#[derive(Debug)]
pub(crate) struct Ctr {
    pub rec: Mutex<Record>,
    pub gen: watch::Sender<Gen>,
    pub pending: Mutex<Vec<Pending>>,
    /// Serialises start / stop / remove of this container.
    pub op: tokio::sync::Mutex<()>,
    /// The next restart delay (Docker's back-off: 100 ms doubling to 1 min, reset after 10 s up).
    pub backoff_ms: std::sync::atomic::AtomicU64,
}

/// The containers service.
#[derive(Debug)]
pub struct ContainerService {
    pub(crate) cfg: Arc<DaemonConfig>,
    pub(crate) images: Arc<ImageService>,
    pub(crate) volumes: Arc<VolumeService>,
    pub(crate) networks: Arc<NetworkService>,
    pub(crate) events: Events,
    pub(crate) all: Mutex<HashMap<String, Arc<Ctr>>>,
    pub(crate) execs: exec::Execs,
}

impl ContainerService {
    /// Load every container record; re-adopt live shims and settle the rest (live restore).
    pub fn open(
        cfg: Arc<DaemonConfig>,
        images: Arc<ImageService>,
        volumes: Arc<VolumeService>,
        networks: Arc<NetworkService>,
        events: Events,
    ) -> Result<Arc<ContainerService>> {
        for d in [cfg.containers_dir(), cfg.shims_dir(), cfg.runtime_root()] {
            std::fs::create_dir_all(&d)?;
        }
        let svc = Arc::new(ContainerService {
            cfg,
            images,
            volumes,
            networks,
            events,
            all: Mutex::new(HashMap::new()),
            execs: exec::Execs::default(),
        });
        let mut restored = Vec::new();
        for e in std::fs::read_dir(svc.cfg.containers_dir())?.flatten() {
            let path = e.path().join("container.json");
            match Record::load(&path) {
                Ok(r) => {
                    let id = r.id.clone();
                    for m in r.mounts.iter().filter(|m| m.kind == "volume") {
                        if let Err(e) = svc.volumes.acquire(&m.name, &id) {
                            tracing::warn!(container = %id, volume = %m.name, "volume of a restored container: {e}");
                        }
                    }
                    let ctr = Arc::new(Ctr {
                        rec: Mutex::new(r),
                        gen: watch::channel(Gen::default()).0,
                        pending: Mutex::new(Vec::new()),
                        op: tokio::sync::Mutex::new(()),
                        backoff_ms: std::sync::atomic::AtomicU64::new(100),
                    });
                    svc.all.lock().map_err(poisoned)?.insert(id.clone(), ctr);
                    restored.push(id);
                }
                Err(err) if !path.exists() => {
                    // A create interrupted before its record was written: nothing refers to
                    // it; remove its directory and writable snapshot.
                    let dir = e.path();
                    if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
                        tracing::warn!("removing {} (interrupted create: {err})", dir.display());
                        let _ = svc
                            .images
                            .root()
                            .snapshots
                            .remove(&lifecycle::snapshot_key(id));
                    }
                    let _ = std::fs::remove_dir_all(&dir);
                }
                Err(err) => tracing::warn!("skipping {}: {err}", path.display()),
            }
        }
        for id in restored {
            svc.restore(&id);
        }
        svc.networks.sweep();
        Ok(svc)
    }

    pub(crate) fn dir(&self, id: &str) -> PathBuf {
        self.cfg.containers_dir().join(id)
    }

    pub(crate) fn shim_dir(&self, id: &str) -> PathBuf {
        self.cfg.shims_dir().join(id)
    }

    /// Find by full ID, name (with or without `/`) or unique ID prefix.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Ctr>> {
        let all = self.all.lock().map_err(poisoned)?;
        if let Some(c) = all.get(name) {
            return Ok(c.clone());
        }
        let bare = name.trim_start_matches('/');
        for c in all.values() {
            if c.rec.lock().map(|r| r.name == bare).unwrap_or(false) {
                return Ok(c.clone());
            }
        }
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_hexdigit()) {
            let hits: Vec<_> = all.iter().filter(|(id, _)| id.starts_with(name)).collect();
            match hits.len() {
                1 => return Ok(hits[0].1.clone()),
                0 => {}
                _ => {
                    return Err(Error::invalid(format!(
                        "Multiple IDs found with provided prefix: {name}"
                    )))
                }
            }
        }
        Err(Error::not_found(format!("No such container: {name}")))
    }

    /// The record of `name`, as it is now.
    pub fn record(&self, name: &str) -> Result<Record> {
        let c = self.get(name)?;
        let r = c.rec.lock().map_err(poisoned)?.clone();
        Ok(r)
    }

    pub(crate) fn save(&self, c: &Ctr) -> Result<()> {
        let r = c.rec.lock().map_err(poisoned)?.clone();
        r.save(&self.dir(&r.id).join("container.json"))
    }
}

/// Detach whatever is mounted on `path` (a crashed shim's rootfs, an export's view); nothing
/// mounted is fine.
pub(crate) fn unmount_detached(path: &std::path::Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(path)
        .stderr(std::process::Stdio::null())
        .status();
}

pub(crate) fn poisoned<T>(_: T) -> Error {
    Error::internal("internal state poisoned")
}
