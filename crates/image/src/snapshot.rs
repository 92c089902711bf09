//! The snapshotter: unpacked layers shared by chain ID, container (active) snapshots, and the
//! mounts that assemble them. It computes mounts and returns them; the runtime performs them.
//!
//! Layout below its root (`<data-root>/snapshots`):
//! - `<chain-id hex>/fs`: a committed layer, unpacked once and shared by every image whose layer
//!   stack has that chain ID (an overlay lowerdir, holding overlay-style whiteouts);
//! - `<key>/fs`, `<key>/work`: an active snapshot (a container's upperdir and workdir) or a view;
//! - `<id>/meta.json`: kind, parent, diff ID and sizes;
//! - `l/<short>`: short symlinks to `<id>/fs`, used in mount options when absolute lowerdir paths
//!   would not fit in one page (as Docker's overlay2 does).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::content::{ContentError, ContentStore};
use crate::fsutil::{fsync_dir, remove_tree, unique_name, write_atomic};
use crate::images::Layer;
use crate::manifest::chain_ids;
use crate::reference::Digest;
use crate::unpack::{LayerUnpacker, UnpackError, UnpackStats};

const SCHEMA_VERSION: u32 = 1;

/// Errors of the snapshotter.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No snapshot by that ID or key.
    #[error("snapshot {0} not found")]
    NotFound(String),
    /// The key is taken.
    #[error("snapshot {0} already exists")]
    Exists(String),
    /// A key with characters outside `[A-Za-z0-9._-]`, or one that looks like a chain ID.
    #[error("invalid snapshot key: {0:?}")]
    InvalidKey(String),
    /// The snapshot is a parent of others, or of the wrong kind for the operation.
    #[error("snapshot {id}: {reason}")]
    Conflict {
        /// The snapshot.
        id: String,
        /// Why.
        reason: String,
    },
    /// Unpacking a layer failed.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// Reading a layer blob failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// An I/O error.
    #[error("snapshot {id}: {what}: {source}")]
    Io {
        /// The snapshot.
        id: String,
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn io_err(id: &str, what: &str) -> impl FnOnce(io::Error) -> SnapshotError {
    let (id, what) = (id.to_owned(), what.to_owned());
    move |source| SnapshotError::Io { id, what, source }
}

/// The kind of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An unpacked layer, immutable, named by its chain ID.
    Committed,
    /// A writable snapshot (a container's upper dir).
    Active,
    /// A read-only view over a committed stack.
    View,
}

/// What the snapshotter records about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Always 1 for now.
    pub schema_version: u32,
    /// The snapshot's ID (chain ID hex for committed layers, the caller's key otherwise).
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// The parent (a committed snapshot ID), if any.
    pub parent: Option<String>,
    /// For committed layers: the layer's diff ID.
    pub diff_id: Option<Digest>,
    /// For committed layers: bytes of file content unpacked.
    pub unpacked_size: u64,
    /// For committed layers: size of the uncompressed tar.
    pub tar_size: u64,
    /// The short link name under `l/`.
    pub link: String,
}

/// A mount for the runtime to perform (as in an OCI runtime spec `mounts` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type: `overlay` or `bind`.
    pub kind: String,
    /// Source (`overlay`, or a directory for binds).
    pub source: PathBuf,
    /// Mount options (`lowerdir=…`, `upperdir=…`, `workdir=…`, `index=off`, `ro`, `rbind`).
    pub options: Vec<String>,
}

/// The snapshotter. Safe to share between threads.
#[derive(Debug)]
pub struct Snapshotter {
    root: PathBuf,
    unpacker: LayerUnpacker,
    /// Serialises metadata changes within this process (create, remove, commit).
    lock: Mutex<()>,
}

/// Where a layer's data comes from when unpacking a stack.
#[derive(Debug, Clone)]
pub struct LayerSource {
    /// The layer's diff ID (checked while unpacking).
    pub diff_id: Digest,
    /// The blob in the content store (any compression).
    pub blob: Digest,
}

impl From<&Layer> for LayerSource {
    fn from(l: &Layer) -> LayerSource {
        LayerSource {
            diff_id: l.diff_id.clone(),
            blob: l.blob.clone(),
        }
    }
}

pub(crate) fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 128
        && !k.starts_with('.')
        && k != "l"
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn short_link(id: &str) -> String {
    // 26 base32-ish characters from a hash of the id, like overlay2's `l/` names.
    let d = Digest::of(id.as_bytes());
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    d.hex().as_bytes()[..26]
        .iter()
        .enumerate()
        .map(|(i, b)| A[((*b as usize) + i * 7) % 32] as char)
        .collect()
}

impl Snapshotter {
    /// Opens (creating) the snapshotter at `root`.
    pub fn open(
        root: impl AsRef<Path>,
        unpacker: LayerUnpacker,
    ) -> Result<Snapshotter, SnapshotError> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(root.join("l")).map_err(io_err("-", "create snapshot root"))?;
        Ok(Snapshotter {
            root,
            unpacker,
            lock: Mutex::new(()),
        })
    }

    /// The snapshotter's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The unpacker used for layers.
    pub fn unpacker(&self) -> &LayerUnpacker {
        &self.unpacker
    }

    /// The directory holding a snapshot's files (a lowerdir, or an upperdir).
    pub fn fs_path(&self, id: &str) -> PathBuf {
        self.root.join(id).join("fs")
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a snapshot exists.
    pub fn exists(&self, id: &str) -> bool {
        valid_key(id) && self.root.join(id).join("meta.json").is_file()
    }

    /// A snapshot's recorded info.
    pub fn info(&self, id: &str) -> Result<SnapshotInfo, SnapshotError> {
        if !valid_key(id) {
            return Err(SnapshotError::InvalidKey(id.into()));
        }
        let p = self.root.join(id).join("meta.json");
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SnapshotError::NotFound(id.into()))
            }
            Err(e) => return Err(io_err(id, "read meta")(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| io_err(id, "parse meta")(io::Error::other(e)))
    }

    /// Every snapshot, by ID.
    pub fn list(&self) -> Result<BTreeMap<String, SnapshotInfo>, SnapshotError> {
        let mut out = BTreeMap::new();
        for e in fs::read_dir(&self.root).map_err(io_err("-", "list snapshots"))? {
            let e = e.map_err(io_err("-", "list snapshots"))?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !valid_key(&name) {
                continue;
            }
            if let Ok(i) = self.info(&name) {
                out.insert(name, i);
            }
        }
        Ok(out)
    }

    fn write_meta(&self, dir: &Path, info: &SnapshotInfo) -> Result<(), SnapshotError> {
        let bytes = serde_json::to_vec_pretty(info)
            .map_err(|e| io_err(&info.id, "encode meta")(io::Error::other(e)))?;
        write_atomic(&dir.join("meta.json"), &bytes).map_err(io_err(&info.id, "write meta"))
    }

    fn make_link(&self, id: &str, link: &str) -> Result<(), SnapshotError> {
        let lp = self.root.join("l").join(link);
        match std::os::unix::fs::symlink(format!("../{id}/fs"), &lp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_err(id, "create short link")(e)),
        }
    }

    /// Unpacks one layer from `r` as the committed snapshot `chain_id` (child of `parent`).
    /// If it exists already (another image or thread got there first) the stream is not read
    /// and the existing info is returned.
    pub fn unpack_layer<R: Read>(
        &self,
        chain_id: &Digest,
        parent: Option<&Digest>,
        diff_id: &Digest,
        r: R,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let id = chain_id.hex().to_owned();
        if let Ok(i) = self.info(&id) {
            return Ok(i);
        }
        let staging = self.root.join(unique_name(".staging-"));
        let res = (|| {
            fs::create_dir(&staging).map_err(io_err(&id, "create staging"))?;
            let stats: UnpackStats = self.unpacker.unpack(
                &diff_id.to_string(),
                r,
                Some(diff_id),
                &staging.join("fs"),
            )?;
            let info = SnapshotInfo {
                schema_version: SCHEMA_VERSION,
                id: id.clone(),
                kind: Kind::Committed,
                parent: parent.map(|p| p.hex().to_owned()),
                diff_id: Some(stats.diff_id),
                unpacked_size: stats.unpacked_size,
                tar_size: stats.tar_size,
                link: short_link(&id),
            };
            self.write_meta(&staging, &info)?;
            let _g = self.guard();
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &staging,
                rustix::fs::CWD,
                self.root.join(&id),
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                    remove_tree(&staging).map_err(io_err(&id, "remove staging"))?;
                    return self.info(&id);
                }
                Err(e) => return Err(io_err(&id, "rename into place")(e.into())),
            }
            fsync_dir(&self.root).map_err(io_err(&id, "fsync snapshots"))?;
            self.make_link(&id, &info.link)?;
            Ok(info)
        })();
        if res.is_err() {
            let _ = remove_tree(&staging);
        }
        res
    }

    /// Makes sure every layer of a stack (bottom first) is unpacked, unpacking the missing ones
    /// in parallel (std threads, one per core). Returns the snapshots, bottom first; their IDs
    /// are the stack's chain IDs.
    pub fn ensure_layers(
        &self,
        content: &ContentStore,
        layers: &[LayerSource],
    ) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        let diffs: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diffs);
        let todo: Vec<usize> = (0..layers.len())
            .filter(|&i| !self.exists(chains[i].hex()))
            .collect();
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<SnapshotInfo, SnapshotError>>>> =
            Mutex::new((0..layers.len()).map(|_| None).collect());
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(todo.len())
            .max(1);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    let parent = if i == 0 { None } else { Some(&chains[i - 1]) };
                    let r = content
                        .reader(&layers[i].blob)
                        .map_err(SnapshotError::from)
                        .and_then(|f| self.unpack_layer(&chains[i], parent, &layers[i].diff_id, f));
                    let failed = r.is_err();
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                    if failed {
                        next.store(usize::MAX / 2, Ordering::Relaxed);
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(layers.len());
        for (i, c) in chains.iter().enumerate() {
            match results[i].take() {
                Some(r) => out.push(r?),
                None => out.push(self.info(c.hex())?),
            }
        }
        Ok(out)
    }

    /// Removes a snapshot. Refused while another snapshot names it as parent.
    pub fn remove(&self, id: &str) -> Result<(), SnapshotError> {
        let info = self.info(id)?;
        let _g = self.guard();
        if let Some(child) = self
            .list()?
            .values()
            .find(|s| s.parent.as_deref() == Some(id))
        {
            return Err(SnapshotError::Conflict {
                id: id.into(),
                reason: format!("is the parent of {}", child.id),
            });
        }
        let _ = fs::remove_file(self.root.join("l").join(&info.link));
        // Rename away first so a crash never leaves a half-removed snapshot under its name.
        let trash = self.root.join(unique_name(".removing-"));
        fs::rename(self.root.join(id), &trash).map_err(io_err(id, "remove"))?;
        remove_tree(&trash).map_err(io_err(id, "remove"))?;
        Ok(())
    }

    /// Removes leftovers of interrupted work (staging and removal directories).
    pub fn cleanup(&self) -> Result<usize, SnapshotError> {
        let mut n = 0;
        for e in fs::read_dir(&self.root).map_err(io_err("-", "list snapshots"))? {
            let e = e.map_err(io_err("-", "list snapshots"))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".staging-")
                || name.starts_with(".removing-")
                || name.starts_with(".unpack-")
            {
                remove_tree(&e.path()).map_err(io_err(&name, "remove leftover"))?;
                n += 1;
            }
        }
        Ok(n)
    }
}
