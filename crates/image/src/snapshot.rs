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

use crate::content::{BlobInfo, ContentError, ContentStore};
use crate::fsutil::{fsync_dir, remove_tree, unique_name, write_atomic};
use crate::images::Layer;
use crate::manifest::{chain_ids, Compression};
use crate::pack::{tar_dir_clamped, Whiteouts};
use crate::reference::Digest;
use crate::unpack::{LayerUnpacker, UnpackError, UnpackStats, Unpacked};

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
    /// For the writable snapshot of a user-namespaced container: how its ids map to the host
    /// (its upper dir holds host ids; commit writes the container's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idmap: Option<IdMap>,
}

/// A user namespace's mapping as the snapshotter needs it: `[container, host, size]` ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IdMap {
    /// uid ranges.
    pub uids: Vec<[u32; 3]>,
    /// gid ranges.
    pub gids: Vec<[u32; 3]>,
}

impl IdMap {
    fn back(ranges: &[[u32; 3]], host: u64) -> u64 {
        ranges
            .iter()
            .find_map(|[c, h, n]| {
                host.checked_sub(u64::from(*h))
                    .filter(|off| *off < u64::from(*n))
                    .map(|off| u64::from(*c) + off)
            })
            // Ids outside the mapping are the overflow id inside, as the kernel shows them.
            .unwrap_or(65534)
    }
    /// The container's uid for host uid `host`.
    pub fn container_uid(&self, host: u64) -> u64 {
        Self::back(&self.uids, host)
    }
    /// The container's gid for host gid `host`.
    pub fn container_gid(&self, host: u64) -> u64 {
        Self::back(&self.gids, host)
    }
    /// The uid a commit records for host uid `host`. An id outside the mapping cannot have been
    /// set by the container's processes (the kernel refuses unmapped ids); it was written by
    /// the daemon on the container's behalf (a build step's COPY) and is already the
    /// container's, so it is kept.
    pub fn commit_uid(&self, host: u64) -> u64 {
        let c = Self::back(&self.uids, host);
        if c == 65534 && !Self::mapped(&self.uids, host) {
            host
        } else {
            c
        }
    }
    /// The gid a commit records for host gid `host` (see [`IdMap::commit_uid`]).
    pub fn commit_gid(&self, host: u64) -> u64 {
        let c = Self::back(&self.gids, host);
        if c == 65534 && !Self::mapped(&self.gids, host) {
            host
        } else {
            c
        }
    }
    fn mapped(ranges: &[[u32; 3]], host: u64) -> bool {
        ranges
            .iter()
            .any(|[_, h, n]| host >= u64::from(*h) && host - u64::from(*h) < u64::from(*n))
    }
}

/// Rewrites the layer tar `src` into `w` with every entry's owner taken back through `map`
/// (raw entries, so PAX and GNU long-name records pass through untouched).
fn unmap_tar<R: Read, W: io::Write>(src: R, map: &IdMap, w: W) -> io::Result<(Digest, u64)> {
    let mut hw = crate::pack::HashWriter::new(w);
    {
        let mut out = tar::Builder::new(&mut hw);
        let mut ar = tar::Archive::new(src);
        for e in ar.entries()?.raw(true) {
            let mut e = e?;
            let mut h = e.header().clone();
            let meta = matches!(
                h.entry_type(),
                tar::EntryType::XHeader
                    | tar::EntryType::XGlobalHeader
                    | tar::EntryType::GNULongName
                    | tar::EntryType::GNULongLink
            );
            if !meta {
                h.set_uid(map.commit_uid(h.uid()?));
                h.set_gid(map.commit_gid(h.gid()?));
                h.set_cksum();
            }
            out.append(&h, &mut e)?;
        }
        out.finish()?;
    }
    let (d, n, _) = hw.finish();
    Ok((d, n))
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
    /// When set, relative paths in `options` are relative to this directory: the runtime must
    /// mount from there (chdir first, as Docker's overlay2 does for very deep stacks). Only used
    /// when even absolute short links would not fit the kernel's one-page option limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
}

impl Mount {
    /// The options joined as mount(2) data.
    pub fn data(&self) -> String {
        self.options.join(",")
    }
}

/// The kernel's limit on mount(2) data: one page, NUL included.
pub const MOUNT_DATA_MAX: usize = 4095;

/// Plans an overlay mount (a pure function): `lowers` top first, as (full path, short path
/// relative to the snapshotter root). Tries absolute full paths, then absolute short links, then
/// relative short links with `cwd` set to `root`.
pub fn plan_overlay(
    root: &Path,
    lowers: &[(PathBuf, String)],
    upper: Option<(&Path, &Path)>,
) -> Result<Mount, String> {
    let tail: Vec<String> = match upper {
        Some((u, w)) => vec![
            format!("upperdir={}", u.display()),
            format!("workdir={}", w.display()),
            "index=off".into(),
        ],
        None => vec!["index=off".into()],
    };
    let build = |paths: Vec<String>, cwd: Option<PathBuf>| {
        let mut options = vec![format!("lowerdir={}", paths.join(":"))];
        options.extend(tail.iter().cloned());
        Mount {
            kind: "overlay".into(),
            source: PathBuf::from("overlay"),
            options,
            cwd,
        }
    };
    let full = build(
        lowers
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect(),
        None,
    );
    if full.data().len() <= MOUNT_DATA_MAX {
        return Ok(full);
    }
    let short = build(
        lowers
            .iter()
            .map(|(_, s)| root.join(s).display().to_string())
            .collect(),
        None,
    );
    if short.data().len() <= MOUNT_DATA_MAX {
        return Ok(short);
    }
    let rel = build(
        lowers.iter().map(|(_, s)| s.clone()).collect(),
        Some(root.to_path_buf()),
    );
    if rel.data().len() <= MOUNT_DATA_MAX {
        return Ok(rel);
    }
    Err(format!(
        "{} layers do not fit in one overlay mount",
        lowers.len()
    ))
}

/// Adds `options` (a user namespace's id mapping for the mounter, see the runtime's `idmap`
/// module) to the overlay mounts among `mounts`: their lower layers are then mounted id-mapped
/// rather than copied per mapping. Binds (an upper dir without layers) need no mapping.
pub fn add_idmap_options(mounts: &mut [Mount], options: &[String]) {
    for m in mounts.iter_mut().filter(|m| m.kind == "overlay") {
        m.options.extend(options.iter().cloned());
    }
}

/// A change of a container's filesystem, as `docker diff` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    /// `C`: the path exists in the image and was changed.
    Modified,
    /// `A`: the path is new.
    Added,
    /// `D`: the path was deleted.
    Deleted,
}

/// One changed path (absolute, inside the container).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Change {
    /// The path, starting with `/`.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// Disk usage of one snapshot's own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes of content (regular files, hardlinks counted once, plus symlink targets).
    pub size: u64,
    /// Number of inodes.
    pub inodes: u64,
}

/// The layer a commit produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// sha256 of the tar written.
    pub diff_id: Digest,
    /// Its size.
    pub size: u64,
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

/// A layer unpacked in a staging directory, not named yet (see [`Snapshotter::stage_layer`]).
/// Dropping it removes the directory.
#[derive(Debug)]
pub(crate) struct StagedLayer {
    dir: Option<PathBuf>,
    unpacked: Option<Unpacked>,
}

impl StagedLayer {
    fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    /// Sets the diff ID of a layer unpacked without hashing: `blob` is the verified digest and
    /// size of the bytes the unpacker read. Refused unless the stream was uncompressed and the
    /// unpacker read exactly `blob.size` bytes.
    pub(crate) fn set_plain_diff_id(&mut self, blob: &BlobInfo) -> bool {
        match &mut self.unpacked {
            Some(u)
                if u.diff_id.is_none()
                    && u.compression == Compression::None
                    && u.tar_size == blob.size =>
            {
                u.diff_id = Some(blob.digest.clone());
                true
            }
            Some(u) => u.diff_id.is_some(),
            None => false,
        }
    }
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = remove_tree(&d);
        }
    }
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

    /// Where chown-copies of layers go for user-namespaced containers when the kernel cannot
    /// id-map mounts: `<root>/.idmap/<uid>.<gid>/<id>` (removed with the layer).
    pub fn idmap_cache_dir(&self) -> PathBuf {
        self.root.join(".idmap")
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
        if let Ok(i) = self.info(chain_id.hex()) {
            return Ok(i);
        }
        self.unpack_staged(parent, Some(diff_id), &diff_id.to_string(), r)
    }

    /// Unpacks a layer whose diff ID is not known in advance (`docker import`): the chain ID
    /// is computed from the diff ID found while unpacking.
    pub fn unpack_new_layer<R: Read>(
        &self,
        parent: Option<&Digest>,
        name: &str,
        r: R,
    ) -> Result<SnapshotInfo, SnapshotError> {
        self.unpack_staged(parent, None, name, r)
    }

    fn unpack_staged<R: Read>(
        &self,
        parent: Option<&Digest>,
        diff_id: Option<&Digest>,
        name: &str,
        r: R,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let staging = self.root.join(unique_name(".staging-"));
        let res = (|| {
            fs::create_dir(&staging).map_err(io_err(name, "create staging"))?;
            let stats: UnpackStats = self
                .unpacker
                .unpack(name, r, diff_id, &staging.join("fs"))?;
            self.name_staging(
                &staging,
                parent,
                stats.diff_id,
                stats.tar_size,
                stats.unpacked_size,
            )
        })();
        if res.is_err() {
            let _ = remove_tree(&staging);
        }
        res
    }

    /// Gives a staging directory holding `fs` its chain ID name (or, if that snapshot appeared
    /// meanwhile, removes the staging directory and returns the existing one). On error the
    /// caller removes the staging directory.
    fn name_staging(
        &self,
        staging: &Path,
        parent: Option<&Digest>,
        diff_id: Digest,
        tar_size: u64,
        unpacked_size: u64,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let chain = match parent {
            None => diff_id.clone(),
            Some(p) => chain_ids(&[p.clone(), diff_id.clone()])
                .pop()
                .unwrap_or_else(|| p.clone()),
        };
        let id = chain.hex().to_owned();
        let info = SnapshotInfo {
            schema_version: SCHEMA_VERSION,
            id: id.clone(),
            kind: Kind::Committed,
            parent: parent.map(|p| p.hex().to_owned()),
            diff_id: Some(diff_id),
            unpacked_size,
            tar_size,
            link: short_link(&id),
            idmap: None,
        };
        self.write_meta(staging, &info)?;
        let _g = self.guard();
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            staging,
            rustix::fs::CWD,
            self.root.join(&id),
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                remove_tree(staging).map_err(io_err(&id, "remove staging"))?;
                return self.info(&id);
            }
            Err(e) => return Err(io_err(&id, "rename into place")(e.into())),
        }
        fsync_dir(&self.root).map_err(io_err(&id, "fsync snapshots"))?;
        self.make_link(&id, &info.link)?;
        Ok(info)
    }

    /// Unpacks a layer into a staging directory before its place in a stack is known (while an
    /// archive is still being read). With `hash_plain` false an uncompressed stream is not
    /// hashed: the caller sets the diff ID from the digest it computed over the same bytes
    /// ([`StagedLayer::set_plain_diff_id`]). Nothing is named until
    /// [`Snapshotter::commit_staged`]; a staged layer dropped uncommitted is removed.
    pub(crate) fn stage_layer<R: Read>(
        &self,
        name: &str,
        r: R,
        hash_plain: bool,
    ) -> Result<StagedLayer, SnapshotError> {
        let dir = self.root.join(unique_name(".staging-"));
        fs::create_dir(&dir).map_err(io_err(name, "create staging"))?;
        let mut staged = StagedLayer {
            dir: Some(dir),
            unpacked: None,
        };
        let fs_dir = staged.path().join("fs");
        staged.unpacked = Some(
            self.unpacker
                .unpack_with(name, r, None, &fs_dir, hash_plain)?,
        );
        Ok(staged)
    }

    /// Names a staged layer as the committed snapshot of `diff_id` on top of `parent`, after
    /// checking that the data unpacked has that diff ID. Returns the existing snapshot (and
    /// removes the staged one) if that chain ID is unpacked already.
    pub(crate) fn commit_staged(
        &self,
        mut staged: StagedLayer,
        parent: Option<&Digest>,
        diff_id: &Digest,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let u = staged
            .unpacked
            .clone()
            .ok_or_else(|| SnapshotError::NotFound("staged layer".into()))?;
        let name = diff_id.to_string();
        let actual = u.diff_id.ok_or_else(|| UnpackError::Invalid {
            layer: name.clone(),
            reason: "staged without a diff id".into(),
        })?;
        if actual != *diff_id {
            return Err(UnpackError::DiffIdMismatch {
                layer: name,
                expected: diff_id.clone(),
                actual,
            }
            .into());
        }
        let dir = staged.path().to_path_buf();
        let r = self.name_staging(&dir, parent, actual, u.tar_size, u.unpacked_size);
        if r.is_ok() {
            staged.dir = None; // renamed (or removed, when the snapshot existed)
        }
        r
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
        // Chown-copies of the layer made for user namespaces.
        if let Ok(maps) = fs::read_dir(self.idmap_cache_dir()) {
            for m in maps.flatten() {
                let copy = m.path().join(id);
                if copy.exists() {
                    let trash = self.root.join(unique_name(".removing-"));
                    if fs::rename(&copy, &trash).is_ok() {
                        remove_tree(&trash).map_err(io_err(id, "remove id-mapped copy"))?;
                    }
                }
            }
        }
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

    /// The IDs of a committed snapshot and its ancestors, top first.
    fn stack(&self, top: &str) -> Result<Vec<String>, SnapshotError> {
        let mut out = Vec::new();
        let mut cur = Some(top.to_owned());
        while let Some(id) = cur {
            let i = self.info(&id)?;
            if i.kind != Kind::Committed {
                return Err(SnapshotError::Conflict {
                    id,
                    reason: "is not a committed layer".into(),
                });
            }
            if out.len() > 500 {
                return Err(SnapshotError::Conflict {
                    id,
                    reason: "parent chain too long".into(),
                });
            }
            out.push(id);
            cur = i.parent;
        }
        Ok(out)
    }

    fn create(
        &self,
        key: &str,
        kind: Kind,
        parent: Option<&str>,
    ) -> Result<SnapshotInfo, SnapshotError> {
        if !valid_key(key) || Digest::from_hex(key).is_ok() {
            return Err(SnapshotError::InvalidKey(key.into()));
        }
        if let Some(p) = parent {
            self.stack(p)?;
        }
        let _g = self.guard();
        if self.root.join(key).exists() {
            return Err(SnapshotError::Exists(key.into()));
        }
        let staging = self.root.join(unique_name(".staging-"));
        let info = SnapshotInfo {
            schema_version: SCHEMA_VERSION,
            id: key.into(),
            kind,
            parent: parent.map(str::to_owned),
            diff_id: None,
            unpacked_size: 0,
            tar_size: 0,
            link: short_link(key),
            idmap: None,
        };
        let res = (|| {
            fs::create_dir(&staging).map_err(io_err(key, "create"))?;
            if kind == Kind::Active {
                fs::create_dir(staging.join("fs")).map_err(io_err(key, "create upper"))?;
                fs::create_dir(staging.join("work")).map_err(io_err(key, "create work"))?;
            }
            self.write_meta(&staging, &info)?;
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &staging,
                rustix::fs::CWD,
                self.root.join(key),
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => Ok(()),
                Err(rustix::io::Errno::EXIST) | Err(rustix::io::Errno::NOTEMPTY) => {
                    Err(SnapshotError::Exists(key.into()))
                }
                Err(e) => Err(io_err(key, "rename into place")(e.into())),
            }
        })();
        if res.is_err() {
            let _ = remove_tree(&staging);
        }
        res?;
        if kind == Kind::Active {
            self.make_link(key, &info.link)?;
        }
        Ok(info)
    }

    /// Creates the writable snapshot `key` over the committed stack `parent` (top chain ID hex,
    /// or none for an empty rootfs) and returns the mounts that assemble it.
    pub fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, Kind::Active, parent)?;
        self.mounts(key)
    }

    /// Creates the read-only view `key` of the committed stack `parent` and returns its mounts.
    pub fn view(&self, key: &str, parent: &str) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, Kind::View, Some(parent))?;
        self.mounts(key)
    }

    /// The mounts of a snapshot (computed, not performed).
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let info = self.info(key)?;
        let lowers = match &info.parent {
            Some(p) => self.stack(p)?,
            None => Vec::new(),
        };
        let conflict = |reason: String| SnapshotError::Conflict {
            id: key.into(),
            reason,
        };
        let lower_paths: Vec<(PathBuf, String)> = lowers
            .iter()
            .map(|id| Ok((self.fs_path(id), format!("l/{}", self.info(id)?.link))))
            .collect::<Result<_, SnapshotError>>()?;
        let bind = |src: PathBuf, ro: bool| {
            let mut options = vec!["rbind".to_owned()];
            options.push(if ro { "ro" } else { "rw" }.to_owned());
            vec![Mount {
                kind: "bind".into(),
                source: src,
                options,
                cwd: None,
            }]
        };
        match info.kind {
            Kind::Committed => Ok(bind(self.fs_path(key), true)),
            Kind::View => {
                if lower_paths.len() == 1 {
                    return Ok(bind(lower_paths[0].0.clone(), true));
                }
                Ok(vec![
                    plan_overlay(&self.root, &lower_paths, None).map_err(conflict)?
                ])
            }
            Kind::Active => {
                if lower_paths.is_empty() {
                    return Ok(bind(self.fs_path(key), false));
                }
                let upper = self.fs_path(key);
                let work = self.root.join(key).join("work");
                Ok(vec![plan_overlay(
                    &self.root,
                    &lower_paths,
                    Some((&upper, &work)),
                )
                .map_err(conflict)?])
            }
        }
    }

    /// Writes the changes of the active snapshot `key` (its upper dir) as an OCI layer tar to
    /// `w`: overlay whiteouts become `.wh.` entries, opaque directories `.wh..wh..opq`.
    pub fn commit<W: io::Write>(&self, key: &str, w: W) -> Result<CommitInfo, SnapshotError> {
        self.commit_clamped(key, None, w)
    }

    /// [`Snapshotter::commit`] with file times later than `clamp` (Unix seconds) written as
    /// `clamp` (`SOURCE_DATE_EPOCH`).
    pub fn commit_clamped<W: io::Write>(
        &self,
        key: &str,
        clamp: Option<u64>,
        w: W,
    ) -> Result<CommitInfo, SnapshotError> {
        let info = self.info(key)?;
        if info.kind != Kind::Active {
            return Err(SnapshotError::Conflict {
                id: key.into(),
                reason: "is not an active snapshot".into(),
            });
        }
        let root = fs::File::open(self.fs_path(key)).map_err(io_err(key, "open upper"))?;
        let (diff_id, size) = match &info.idmap {
            None => tar_dir_clamped(std::os::fd::AsFd::as_fd(&root), Whiteouts::ToOci, clamp, w)
                .map_err(io_err(key, "commit"))?,
            Some(map) => {
                // The upper dir holds host ids: pack it aside, then write it with the
                // container's own ids (what the container saw is what the image gets).
                let tmp = self.root.join(key).join(unique_name(".commit-"));
                let res = (|| {
                    let f = fs::File::create(&tmp)?;
                    tar_dir_clamped(
                        std::os::fd::AsFd::as_fd(&root),
                        Whiteouts::ToOci,
                        clamp,
                        io::BufWriter::new(&f),
                    )?;
                    unmap_tar(io::BufReader::new(fs::File::open(&tmp)?), map, w)
                })();
                let _ = fs::remove_file(&tmp);
                res.map_err(io_err(key, "commit"))?
            }
        };
        Ok(CommitInfo { diff_id, size })
    }

    /// Records that the writable snapshot `key` belongs to a container in a user namespace
    /// with `map` (its upper dir then holds host ids; see [`Snapshotter::commit`]).
    pub fn set_idmap(&self, key: &str, map: IdMap) -> Result<(), SnapshotError> {
        let mut info = self.info(key)?;
        if info.kind != Kind::Active {
            return Err(SnapshotError::Conflict {
                id: key.into(),
                reason: "is not an active snapshot".into(),
            });
        }
        info.idmap = Some(map);
        self.write_meta(&self.root.join(key), &info)
    }

    /// The changes of the active snapshot `key` against its parent stack, sorted by path.
    pub fn diff(&self, key: &str) -> Result<Vec<Change>, SnapshotError> {
        let info = self.info(key)?;
        if info.kind != Kind::Active {
            return Err(SnapshotError::Conflict {
                id: key.into(),
                reason: "is not an active snapshot".into(),
            });
        }
        let lowers: Vec<fs::File> = match &info.parent {
            Some(p) => self
                .stack(p)?
                .iter()
                .map(|id| fs::File::open(self.fs_path(id)).map_err(io_err(id, "open layer")))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let upper = fs::File::open(self.fs_path(key)).map_err(io_err(key, "open upper"))?;
        let mut out = Vec::new();
        diff_walk(std::os::fd::AsFd::as_fd(&upper), b"", &lowers, &mut out)
            .map_err(io_err(key, "diff"))?;
        out.sort();
        Ok(out)
    }

    /// Disk usage of the snapshot's own directory (for `docker system df`, `ps --size`).
    pub fn usage(&self, id: &str) -> Result<Usage, SnapshotError> {
        self.info(id)?;
        let root = fs::File::open(self.fs_path(id)).map_err(io_err(id, "open"))?;
        let mut u = Usage::default();
        let mut seen = std::collections::HashSet::new();
        usage_walk(std::os::fd::AsFd::as_fd(&root), &mut u, &mut seen)
            .map_err(io_err(id, "usage"))?;
        Ok(u)
    }
}

fn read_names(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(fd)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    Ok(names)
}

fn open_sub(fd: std::os::fd::BorrowedFd<'_>, name: &[u8]) -> io::Result<std::os::fd::OwnedFd> {
    Ok(rustix::fs::openat(
        fd,
        name,
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::DIRECTORY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}

/// Whether `rel` exists in the merged view of `lowers` (top first): the first layer that has
/// it decides (a whiteout there means deleted); an opaque parent hides the layers below.
fn in_lowers(lowers: &[fs::File], rel: &[u8]) -> bool {
    use rustix::fs::{AtFlags, FileType};
    let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&b""[..], rel),
    };
    for l in lowers {
        let p = if parent.is_empty() {
            rustix::fs::openat2(
                l,
                ".",
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
                crate::fsutil::IN_ROOT_NO_SYMLINKS,
            )
        } else {
            rustix::fs::openat2(
                l,
                parent,
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
                crate::fsutil::IN_ROOT_NO_SYMLINKS,
            )
        };
        let Ok(p) = p else { continue };
        match rustix::fs::statat(&p, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => {
                return !(FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
                    && st.st_rdev == 0);
            }
            Err(_) => {
                let mut v = [0u8; 2];
                if matches!(rustix::fs::fgetxattr(&p, crate::unpack::OVERLAY_OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y')
                {
                    return false;
                }
            }
        }
    }
    false
}

fn diff_walk(
    fd: std::os::fd::BorrowedFd<'_>,
    prefix: &[u8],
    lowers: &[fs::File],
    out: &mut Vec<Change>,
) -> io::Result<()> {
    use rustix::fs::{AtFlags, FileType};
    for name in read_names(fd)? {
        let mut rel = prefix.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(&name);
        let Ok(st) = rustix::fs::statat(fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let path = format!("/{}", String::from_utf8_lossy(&rel));
        if ft == FileType::CharacterDevice && st.st_rdev == 0 {
            if in_lowers(lowers, &rel) {
                out.push(Change {
                    path,
                    kind: ChangeKind::Deleted,
                });
            }
            continue;
        }
        let kind = if in_lowers(lowers, &rel) {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        out.push(Change { path, kind });
        if ft == FileType::Directory {
            let sub = open_sub(fd, &name)?;
            if kind == ChangeKind::Added {
                // Everything below a new directory is new.
                diff_walk(std::os::fd::AsFd::as_fd(&sub), &rel, &[], out)?;
            } else {
                let mut v = [0u8; 2];
                let opaque = matches!(rustix::fs::fgetxattr(&sub, crate::unpack::OVERLAY_OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y');
                diff_walk(
                    std::os::fd::AsFd::as_fd(&sub),
                    &rel,
                    if opaque { &[] } else { lowers },
                    out,
                )?;
            }
        }
    }
    Ok(())
}

fn usage_walk(
    fd: std::os::fd::BorrowedFd<'_>,
    u: &mut Usage,
    seen: &mut std::collections::HashSet<(u64, u64)>,
) -> io::Result<()> {
    use rustix::fs::{AtFlags, FileType};
    for name in read_names(fd)? {
        let Ok(st) = rustix::fs::statat(fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if !seen.insert((st.st_dev, st.st_ino)) {
            continue;
        }
        u.inodes += 1;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let sub = open_sub(fd, &name)?;
                usage_walk(std::os::fd::AsFd::as_fd(&sub), u, seen)?;
            }
            FileType::RegularFile | FileType::Symlink => u.size += st.st_size as u64,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn unmapped_commit_gives_entries_the_containers_ids() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o4755);
        h.set_uid(101000);
        h.set_gid(100005);
        h.set_entry_type(tar::EntryType::Regular);
        let long = format!("{}/file", "d".repeat(150));
        b.append_data(&mut h, &long, &b"hi"[..]).expect("append");
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_uid(7);
        h.set_gid(7);
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, "outside/", &b""[..]).expect("append");
        let src = b.into_inner().expect("tar");
        let map = IdMap {
            uids: vec![[0, 100000, 65536]],
            gids: vec![[0, 100000, 65536]],
        };
        let mut out = Vec::new();
        let (d, n) = unmap_tar(&src[..], &map, &mut out).expect("rewrite");
        assert_eq!(n, out.len() as u64);
        assert_eq!(
            d,
            Digest::from_sha256(<sha2::Sha256 as sha2::Digest>::digest(&out).into())
        );
        let mut ar = tar::Archive::new(&out[..]);
        let got: Vec<(String, u64, u64, u32)> = ar
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let h = e.header();
                (
                    e.path().expect("path").display().to_string(),
                    h.uid().expect("uid"),
                    h.gid().expect("gid"),
                    h.mode().expect("mode"),
                )
            })
            .collect();
        assert_eq!(got[0], (long, 1000, 5, 0o4755));
        assert_eq!(
            got[1].1, 7,
            "a host id outside the mapping (written by the daemon) is kept"
        );
    }

    use super::*;

    #[test]
    fn overlay_plan_tiers() {
        let root = Path::new("/var/lib/berth/snapshots");
        let lowers = |n: usize| -> Vec<(PathBuf, String)> {
            (0..n)
                .map(|i| {
                    (
                        root.join(format!("{i:064}")).join("fs"),
                        format!("l/{}", short_link(&i.to_string())),
                    )
                })
                .collect()
        };
        let up = (Path::new("/u"), Path::new("/w"));
        let m = plan_overlay(root, &lowers(2), Some(up)).unwrap();
        assert_eq!(
            m.options[0],
            format!(
                "lowerdir={}/{:064}/fs:{}/{:064}/fs",
                root.display(),
                0,
                root.display(),
                1
            )
        );
        assert_eq!(&m.options[1..], ["upperdir=/u", "workdir=/w", "index=off"]);
        assert_eq!(m.cwd, None);
        let m = plan_overlay(root, &lowers(50), Some(up)).unwrap();
        assert!(
            m.options[0].starts_with("lowerdir=/var/lib/berth/snapshots/l/"),
            "{}",
            m.options[0]
        );
        assert_eq!(m.cwd, None);
        let m = plan_overlay(root, &lowers(100), Some(up)).unwrap();
        assert!(m.options[0].starts_with("lowerdir=l/"));
        assert_eq!(m.cwd.as_deref(), Some(root));
        assert!(plan_overlay(root, &lowers(200), Some(up)).is_err());
        assert_eq!(short_link("a").len(), 26);
        assert!(!valid_key("l") && !valid_key(".x") && !valid_key("a/b") && valid_key("abc-1_2.3"));
    }
}
