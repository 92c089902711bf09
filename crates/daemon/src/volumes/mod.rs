//! Volumes: the `local` driver's named and anonymous volumes under `<data root>/volumes/<name>/`
//! (`volume.json` + `_data`), who uses them, and their mounts for driver options.
//!
//! - this file: [`VolumeService`] (create, get, list, remove, prune, usage) and the record.
//! - `local.rs`: driver options (`type`, `device`, `o`) → a mount of `_data`, made on first use.
//! - `copy.rs`: copy-up of an image directory into an empty volume, by fd.
//!
//! A volume's users are the containers whose records mount it, running or not (Docker's rule:
//! `volume rm` of a volume any container references is refused). The container service
//! registers and releases them; nothing here deletes data a user still references.
mod copy;
mod local;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::events::Events;

pub use copy::{copy_up, copy_up_mapped};

/// The schema of `volume.json`; bump on incompatible changes.
const SCHEMA: u32 = 1;
/// The label Docker puts on volumes it made without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub schema: u32,
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    /// Driver options as given (`None` when none were, so inspect shows `null`).
    pub options: Option<BTreeMap<String, String>>,
    /// Unix nanoseconds.
    pub created_ns: i64,
    /// Made for one container (`-v /path`, an image VOLUME): removed with it by `rm -v`.
    pub anonymous: bool,
}

/// What `create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Empty: an anonymous volume with a random 64-hex name.
    pub name: String,
    /// Empty means `local`.
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// `volume ls` / prune filters, already parsed.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub dangling: Option<bool>,
    pub names: Vec<String>,
    pub drivers: Vec<String>,
    /// `key` or `key=value`.
    pub labels: Vec<String>,
    pub labels_not: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    volumes: BTreeMap<String, Volume>,
    /// Volume name → ids of the containers that reference it.
    users: HashMap<String, BTreeSet<String>>,
}

/// The volumes service.
#[derive(Debug)]
pub struct VolumeService {
    root: PathBuf,
    events: Events,
    state: Mutex<State>,
    /// Owner of new volumes' `_data`: the remapped root under `--userns-remap` (as dockerd),
    /// else root.
    owner: std::sync::OnceLock<(u32, u32)>,
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (so never a path).
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("volume state lock poisoned")
}

impl VolumeService {
    /// Load every `volumes/<name>/volume.json` below `data_root`.
    pub fn open(data_root: &Path, events: Events) -> Result<VolumeService> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root)?;
        let mut st = State::default();
        for e in std::fs::read_dir(&root)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) {
                continue;
            }
            match std::fs::read(e.path().join("volume.json")) {
                Ok(b) => match serde_json::from_slice::<Volume>(&b) {
                    Ok(v) if v.name == name => {
                        st.volumes.insert(name, v);
                    }
                    _ => tracing::warn!(volume = %name, "unreadable volume.json; volume ignored"),
                },
                // A create interrupted before its record was written: nothing to keep.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    if dir_is_empty(&e.path().join("_data")) {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(VolumeService {
            root,
            events,
            state: Mutex::new(st),
            owner: std::sync::OnceLock::new(),
        })
    }

    /// New volumes' `_data` belongs to `uid:gid` (the remapped root under `--userns-remap`).
    pub fn set_owner(&self, uid: u32, gid: u32) {
        let _ = self.owner.set((uid, gid));
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The host path containers mount: `<root>/volumes/<name>/_data`.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    /// Create a volume, or return the existing one of that name (Docker's idempotent create;
    /// a different driver is a conflict). The bool is true when it was made now.
    pub fn create(&self, o: CreateOptions) -> Result<(Volume, bool)> {
        let driver = if o.driver.is_empty() {
            "local".to_string()
        } else {
            o.driver.clone()
        };
        if driver != "local" {
            return Err(Error::not_found(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let anonymous = o.name.is_empty();
        let name = if anonymous {
            hex::encode(rand::random::<[u8; 32]>())
        } else {
            o.name.clone()
        };
        if !valid_name(&name) {
            return Err(Error::invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        local::validate(&o.options).map_err(|e| Error::invalid(format!("create {name}: {e}")))?;
        let mut st = self.state.lock().map_err(poisoned)?;
        if let Some(v) = st.volumes.get(&name) {
            return Ok((v.clone(), false));
        }
        let mut labels = o.labels.clone();
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let v = Volume {
            schema: SCHEMA,
            name: name.clone(),
            driver,
            labels,
            options: (!o.options.is_empty()).then(|| o.options.clone()),
            created_ns: crate::containers::record::now_ns(),
            anonymous,
        };
        let dir = self.dir(&name);
        let made = (|| -> Result<()> {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().mode(0o701).create(&dir)?;
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(dir.join("_data"))?;
            if let Some((uid, gid)) = self.owner.get() {
                std::os::unix::fs::chown(dir.join("_data"), Some(*uid), Some(*gid))?;
            }
            crate::fsutil::write_atomic(
                &dir.join("volume.json"),
                &serde_json::to_vec_pretty(&v)?,
                crate::fsutil::Atomic::PLAIN,
            )
        })();
        if let Err(e) = made {
            // Only what this call made: the directory did not exist before.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        st.volumes.insert(name.clone(), v.clone());
        drop(st);
        self.events
            .publish("volume", "create", &name, driver_attr(&v.driver));
        Ok((v, true))
    }

    /// One volume, or Docker's 404 text.
    pub fn get(&self, name: &str) -> Result<Volume> {
        let st = self.state.lock().map_err(poisoned)?;
        st.volumes
            .get(name)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))
    }

    /// The containers referencing `name`.
    pub fn users(&self, name: &str) -> Vec<String> {
        self.state
            .lock()
            .map(|st| {
                st.users
                    .get(name)
                    .map(|u| u.iter().cloned().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Record that container `id` references `name` (at create and on daemon restart).
    pub fn acquire(&self, name: &str, id: &str) -> Result<()> {
        let mut st = self.state.lock().map_err(poisoned)?;
        if !st.volumes.contains_key(name) {
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        st.users
            .entry(name.to_string())
            .or_default()
            .insert(id.to_string());
        Ok(())
    }

    /// Container `id` no longer references `name`.
    pub fn release(&self, name: &str, id: &str) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(u) = st.users.get_mut(name) {
                u.remove(id);
                if u.is_empty() {
                    st.users.remove(name);
                }
            }
        }
    }

    /// Make the volume's data available before a container that uses it starts: for driver
    /// options, mount them on `_data` unless already mounted.
    pub fn activate(&self, name: &str) -> Result<PathBuf> {
        let v = self.get(name)?;
        let data = self.mountpoint(name);
        if let Some(o) = &v.options {
            local::mount(o, &data)
                .map_err(|e| Error::internal(format!("mount volume {name}: {e}")))?;
        }
        Ok(data)
    }

    /// The `mount` event of a container's start (Docker's attributes).
    pub fn mount_event(&self, name: &str, container: &str, destination: &str, rw: bool) {
        self.events.publish(
            "volume",
            "mount",
            name,
            BTreeMap::from([
                ("container".to_string(), container.to_string()),
                ("destination".to_string(), destination.to_string()),
                ("driver".to_string(), "local".to_string()),
                ("propagation".to_string(), String::new()),
                ("read/write".to_string(), rw.to_string()),
            ]),
        );
    }

    /// The `unmount` event when a container using the volume stops.
    pub fn unmount_event(&self, name: &str, container: &str) {
        self.events.publish(
            "volume",
            "unmount",
            name,
            BTreeMap::from([
                ("container".to_string(), container.to_string()),
                ("driver".to_string(), "local".to_string()),
            ]),
        );
    }

    /// All volumes that pass `f`, by name.
    pub fn list(&self, f: &ListFilter) -> Result<Vec<Volume>> {
        let st = self.state.lock().map_err(poisoned)?;
        Ok(st
            .volumes
            .values()
            .filter(|v| matches(v, st.users.contains_key(&v.name), f))
            .cloned()
            .collect())
    }

    /// `DELETE /volumes/{name}`: refused (409) while any container references it; `force`
    /// only makes a missing volume not an error, as in Docker.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let mut st = self.state.lock().map_err(poisoned)?;
        let Some(v) = st.volumes.get(name).cloned() else {
            if force {
                return Ok(());
            }
            return Err(Error::not_found(format!("get {name}: no such volume")));
        };
        if let Some(u) = st.users.get(name).filter(|u| !u.is_empty()) {
            let ids: Vec<&str> = u.iter().map(String::as_str).collect();
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                ids.join(", ")
            )));
        }
        self.destroy(&v)?;
        st.volumes.remove(name);
        drop(st);
        self.events
            .publish("volume", "destroy", name, driver_attr(&v.driver));
        Ok(())
    }

    /// Delete a volume's files (its record first, so a crash half-way leaves no half volume
    /// that looks whole). The caller holds the state lock.
    fn destroy(&self, v: &Volume) -> Result<()> {
        let dir = self.dir(&v.name);
        let data = dir.join("_data");
        if v.options.is_some() {
            local::unmount(&data)
                .map_err(|e| Error::internal(format!("remove {}: unmount: {e}", v.name)))?;
        }
        match std::fs::remove_file(dir.join("volume.json")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        std::fs::remove_dir_all(&dir).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(Error::internal(format!("remove {}: {e}", v.name)))
            }
        })
    }

    /// `POST /volumes/prune`: unused volumes passing `f`; anonymous ones only unless `all`.
    /// Returns the names removed and the bytes freed.
    pub fn prune(&self, f: &ListFilter, all: bool) -> Result<(Vec<String>, u64)> {
        let mut st = self.state.lock().map_err(poisoned)?;
        let victims: Vec<Volume> = st
            .volumes
            .values()
            .filter(|v| !st.users.contains_key(&v.name))
            .filter(|v| all || v.anonymous)
            .filter(|v| matches(v, false, f))
            .cloned()
            .collect();
        let mut names = Vec::new();
        let mut freed = 0;
        for v in victims {
            let size = if v.options.is_some() {
                0
            } else {
                dir_size(&self.mountpoint(&v.name))
            };
            match self.destroy(&v) {
                Ok(()) => {
                    st.volumes.remove(&v.name);
                    freed += size;
                    names.push(v.name.clone());
                    self.events
                        .publish("volume", "destroy", &v.name, driver_attr(&v.driver));
                }
                Err(e) => tracing::warn!(volume = %v.name, error = %e, "prune: volume kept"),
            }
        }
        Ok((names, freed))
    }

    /// Size in bytes (of `_data`, as `du` counts blocks) and reference count, for `system df`.
    pub fn usage(&self, name: &str) -> (i64, i64) {
        let refs = self.users(name).len() as i64;
        (dir_size(&self.mountpoint(name)) as i64, refs)
    }
}

fn driver_attr(driver: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("driver".to_string(), driver.to_string())])
}

fn label_matches(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

fn matches(v: &Volume, used: bool, f: &ListFilter) -> bool {
    f.dangling.is_none_or(|d| d != used)
        && (f.names.is_empty() || f.names.iter().any(|n| v.name.contains(n.as_str())))
        && (f.drivers.is_empty() || f.drivers.contains(&v.driver))
        && f.labels.iter().all(|l| label_matches(&v.labels, l))
        && !f.labels_not.iter().any(|l| label_matches(&v.labels, l))
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// Disk usage of a tree (512-byte blocks, like `du`), not following symlinks or mounts.
fn dir_size(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.nlink() > 1 && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() && m.dev() == dev {
                stack.push(e.path());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests;
