//! Garbage collection and integrity: untag and remove images (`docker rmi`), prune, reference
//! counted layer snapshots, and `verify` (orphans, missing blobs, wrong digests; optional
//! repair).
//!
//! Callers pass the set of image IDs in use by containers: this crate does not know containers.
//! Snapshot reference counts are computed, not stored: a committed layer is referenced by every
//! image whose chain IDs include it and by every snapshot whose parent it is. Computing them from
//! the records means a crash can never leave a count wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use sha2::{Digest as _, Sha256};

use crate::content::ContentError;
use crate::images::{ImageError, ImageStore};
use crate::reference::{Digest, Reference};
use crate::snapshot::{Kind, LayerSource, SnapshotError, Snapshotter};
use crate::ImageRoot;

/// Errors of GC operations.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The image cannot be removed; the text follows Docker's (`remove repository reference
    /// "busybox" (must force) - container … is using its referenced image …`).
    #[error("conflict: unable to {0}")]
    Conflict(String),
    /// Image store.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Content store.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Snapshotter.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// What a removal or prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveReport {
    /// Names removed (`Untagged: …`).
    pub untagged: Vec<Reference>,
    /// Images deleted (`Deleted: sha256:…`).
    pub deleted: Vec<Digest>,
    /// Layer snapshots removed.
    pub snapshots_removed: Vec<String>,
    /// Blobs removed.
    pub blobs_removed: Vec<Digest>,
    /// Bytes freed (blobs plus unpacked layer content).
    pub reclaimed: u64,
}

impl RemoveReport {
    /// Adds another report's findings to this one.
    pub fn merge_report(&mut self, o: RemoveReport) {
        self.merge(o);
    }

    fn merge(&mut self, o: RemoveReport) {
        self.untagged.extend(o.untagged);
        self.deleted.extend(o.deleted);
        self.snapshots_removed.extend(o.snapshots_removed);
        self.blobs_removed.extend(o.blobs_removed);
        self.reclaimed += o.reclaimed;
    }
}

/// How many references each snapshot has (images using it in their layer stack, snapshots
/// naming it as parent).
pub fn snapshot_refcounts(
    images: &ImageStore,
    snapshots: &Snapshotter,
) -> Result<BTreeMap<String, usize>, GcError> {
    let mut counts: BTreeMap<String, usize> =
        snapshots.list()?.keys().map(|k| (k.clone(), 0)).collect();
    for img in images.list() {
        for c in img.chain_ids() {
            *counts.entry(c.hex().to_owned()).or_default() += 1;
        }
    }
    for s in snapshots.list()?.values() {
        if let Some(p) = &s.parent {
            *counts.entry(p.clone()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Removes committed layer snapshots nothing references, repeatedly (a freed top layer frees
/// its parent), and blobs no image references.
pub fn collect(root: &ImageRoot) -> Result<RemoveReport, GcError> {
    let _g = root.images.gc_write();
    collect_locked(root)
}

fn collect_locked(root: &ImageRoot) -> Result<RemoveReport, GcError> {
    let mut rep = RemoveReport::default();
    loop {
        let counts = snapshot_refcounts(&root.images, &root.snapshots)?;
        let infos = root.snapshots.list()?;
        let free: Vec<String> = counts
            .iter()
            .filter(|(id, n)| **n == 0 && infos.get(*id).is_some_and(|i| i.kind == Kind::Committed))
            .map(|(id, _)| id.clone())
            .collect();
        if free.is_empty() {
            break;
        }
        for id in free {
            rep.reclaimed += infos.get(&id).map(|i| i.unpacked_size).unwrap_or(0);
            root.snapshots.remove(&id)?;
            rep.snapshots_removed.push(id);
        }
    }
    let used = referenced_blobs(&root.images);
    for b in root.content.walk()? {
        if !used.contains(&b.digest) {
            root.content.delete(&b.digest)?;
            rep.reclaimed += b.size;
            rep.blobs_removed.push(b.digest);
        }
    }
    Ok(rep)
}

fn referenced_blobs(images: &ImageStore) -> BTreeSet<Digest> {
    let mut used = BTreeSet::new();
    for img in images.list() {
        used.insert(img.id.clone());
        if let Some(m) = &img.manifest {
            used.insert(m.clone());
        }
        for l in &img.layers {
            used.insert(l.blob.clone());
        }
    }
    used
}

/// Removes a name (`docker rmi name:tag`). When it was the image's last name and the image is
/// not in use, the image is deleted and its unreferenced layers and blobs are collected.
pub fn untag(
    root: &ImageRoot,
    name: &Reference,
    in_use: &BTreeSet<Digest>,
) -> Result<RemoveReport, GcError> {
    let _g = root.images.gc_write();
    let id = root
        .images
        .lookup(name)
        .ok_or_else(|| ImageError::NotFound(name.familiar()))?;
    let img = root
        .images
        .get(&id)
        .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
    let names = img.repo_tags.len() + img.repo_digests.len();
    if names <= 1 && in_use.contains(&id) {
        return Err(GcError::Conflict(format!(
            "remove repository reference {:?} (must force) - a container is using its referenced image {}",
            name.familiar(),
            id.short()
        )));
    }
    root.images.untag_name(name)?;
    let mut rep = RemoveReport {
        untagged: vec![name.clone()],
        ..Default::default()
    };
    // The repository's digest references go with its last tag, as in Docker (`Untagged:
    // name@sha256:…` follows `Untagged: name:tag`).
    if name.digest().is_none() {
        if let Some(now) = root.images.get(&id) {
            let repo = name.name();
            if !now.repo_tags.iter().any(|t| t.name() == repo) {
                for d in now.repo_digests.iter().filter(|d| d.name() == repo) {
                    root.images.untag_name(d)?;
                    rep.untagged.push(d.clone());
                }
            }
        }
    }
    let left = root
        .images
        .get(&id)
        .map(|i| i.repo_tags.len() + i.repo_digests.len())
        .unwrap_or(0);
    if left == 0 && !in_use.contains(&id) {
        // Repo digests of the same repository go with the last tag, as in Docker.
        root.images.remove(&id)?;
        rep.deleted.push(id);
        rep.merge(collect_locked(root)?);
    }
    Ok(rep)
}

/// Removes an image by ID or name as `docker rmi` does. By ID: refused when the image has tags
/// in several repositories (unless `force`) or is in use; all its names go with it. By name:
/// see [`untag`] (with `force`, an in-use image loses the name but stays).
pub fn remove_image(
    root: &ImageRoot,
    name_or_id: &str,
    in_use: &BTreeSet<Digest>,
    force: bool,
) -> Result<RemoveReport, GcError> {
    let img = root.images.resolve(name_or_id)?;
    let by_name = Reference::parse(name_or_id)
        .ok()
        .filter(|r| root.images.lookup(r).as_ref() == Some(&img.id));
    if let Some(r) = by_name {
        if force && in_use.contains(&img.id) {
            let _g = root.images.gc_write();
            root.images.untag_name(&r)?;
            return Ok(RemoveReport {
                untagged: vec![r],
                ..Default::default()
            });
        }
        return untag(root, &r, in_use);
    }
    let _g = root.images.gc_write();
    if in_use.contains(&img.id) {
        return Err(GcError::Conflict(format!(
            "delete {} (cannot be forced) - image is being used by a container",
            img.id.short()
        )));
    }
    let repos: BTreeSet<String> = img.repo_tags.iter().map(Reference::name).collect();
    if repos.len() > 1 && !force {
        return Err(GcError::Conflict(format!(
            "delete {} (must be forced) - image is referenced in multiple repositories",
            img.id.short()
        )));
    }
    let removed = root.images.remove(&img.id)?;
    let mut rep = RemoveReport {
        untagged: removed
            .repo_tags
            .iter()
            .chain(&removed.repo_digests)
            .cloned()
            .collect(),
        deleted: vec![img.id.clone()],
        ..Default::default()
    };
    rep.merge(collect_locked(root)?);
    Ok(rep)
}

/// `docker image prune`: removes dangling images (no names), or with `all` every image not in
/// use, then collects layers and blobs.
pub fn prune(
    root: &ImageRoot,
    all: bool,
    in_use: &BTreeSet<Digest>,
) -> Result<RemoveReport, GcError> {
    let _g = root.images.gc_write();
    let victims: Vec<Digest> = if all {
        root.images
            .list()
            .into_iter()
            .map(|i| i.id)
            .filter(|id| !in_use.contains(id))
            .collect()
    } else {
        root.images
            .dangling()
            .into_iter()
            .filter(|id| !in_use.contains(id))
            .collect()
    };
    let mut rep = RemoveReport::default();
    for id in victims {
        let removed = root.images.remove(&id)?;
        rep.untagged.extend(
            removed
                .repo_tags
                .iter()
                .chain(&removed.repo_digests)
                .cloned(),
        );
        rep.deleted.push(id);
    }
    rep.merge(collect_locked(root)?);
    Ok(rep)
}

/// Removes those of `ids` that have no name and are not in `in_use` (build-cache images), then
/// collects layers and blobs.
pub fn remove_unnamed(
    root: &ImageRoot,
    ids: &[Digest],
    in_use: &BTreeSet<Digest>,
) -> Result<RemoveReport, GcError> {
    let _g = root.images.gc_write();
    let dangling: BTreeSet<Digest> = root.images.dangling().into_iter().collect();
    let mut rep = RemoveReport::default();
    for id in ids {
        if !dangling.contains(id) || in_use.contains(id) {
            continue;
        }
        root.images.remove(id)?;
        rep.deleted.push(id.clone());
    }
    rep.merge(collect_locked(root)?);
    Ok(rep)
}

/// What [`verify`] found (and, with repair, fixed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs whose content does not hash to their name (removed on repair).
    pub corrupt_blobs: Vec<Digest>,
    /// Files in the blob directory that are not blobs (removed on repair).
    pub stray_files: Vec<String>,
    /// Blobs no image references (removed on repair).
    pub orphan_blobs: Vec<Digest>,
    /// (image, blob) pairs where a referenced blob is missing. On repair, images missing their
    /// config are removed; missing layer blobs are reported only (the layer may still be
    /// unpacked, but the image can no longer be saved).
    pub missing_blobs: Vec<(Digest, Digest)>,
    /// Layer snapshots an image needs that are missing (re-unpacked from blobs on repair).
    pub missing_snapshots: Vec<(Digest, String)>,
    /// Committed snapshots nothing references (removed on repair).
    pub orphan_snapshots: Vec<String>,
    /// Abandoned ingests and staging directories (removed on repair).
    pub leftovers: Vec<String>,
    /// Images removed by repair.
    pub removed_images: Vec<Digest>,
}

impl VerifyReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.corrupt_blobs.is_empty()
            && self.stray_files.is_empty()
            && self.orphan_blobs.is_empty()
            && self.missing_blobs.is_empty()
            && self.missing_snapshots.is_empty()
            && self.orphan_snapshots.is_empty()
            && self.leftovers.is_empty()
    }
}

/// Walks the stores and reports orphans, missing blobs and wrong digests; with `repair`, fixes
/// what can be fixed (see [`VerifyReport`]). Hashes every blob: proportional to the store size.
pub fn verify(root: &ImageRoot, repair: bool) -> Result<VerifyReport, GcError> {
    let _g = root.images.gc_write();
    let mut rep = VerifyReport::default();
    let blob_dir = root.content.root().join("blobs/sha256");
    if let Ok(rd) = std::fs::read_dir(&blob_dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if Digest::from_hex(&name).is_err()
                || !e.file_type().map(|t| t.is_file()).unwrap_or(false)
            {
                if repair {
                    let _ = crate::fsutil::remove_tree(&e.path());
                    let _ = std::fs::remove_file(e.path());
                }
                rep.stray_files.push(name);
            }
        }
    }
    for b in root.content.walk()? {
        let mut f = root.content.reader(&b.digest)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| ContentError::Io {
                what: format!("read blob {}", b.digest),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        if Digest::from_sha256(h.finalize().into()) != b.digest {
            if repair {
                root.content.delete(&b.digest)?;
            }
            rep.corrupt_blobs.push(b.digest);
        }
    }
    for img in root.images.list() {
        let mut needed = vec![img.id.clone()];
        needed.extend(img.manifest.clone());
        needed.extend(img.layers.iter().map(|l| l.blob.clone()));
        let mut config_missing = false;
        for d in needed {
            if !root.content.exists(&d) {
                config_missing |= d == img.id;
                rep.missing_blobs.push((img.id.clone(), d));
            }
        }
        if config_missing && repair {
            root.images.remove(&img.id)?;
            rep.removed_images.push(img.id.clone());
            continue;
        }
        let missing: Vec<String> = img
            .chain_ids()
            .iter()
            .map(|c| c.hex().to_owned())
            .filter(|c| !root.snapshots.exists(c))
            .collect();
        for m in &missing {
            rep.missing_snapshots.push((img.id.clone(), m.clone()));
        }
        if repair && !missing.is_empty() && img.layers.iter().all(|l| root.content.exists(&l.blob))
        {
            let src: Vec<LayerSource> = img.layers.iter().map(LayerSource::from).collect();
            root.snapshots.ensure_layers(&root.content, &src)?;
        }
    }
    let used = referenced_blobs(&root.images);
    for b in root.content.walk()? {
        if !used.contains(&b.digest) {
            if repair {
                root.content.delete(&b.digest)?;
            }
            rep.orphan_blobs.push(b.digest);
        }
    }
    let counts = snapshot_refcounts(&root.images, &root.snapshots)?;
    let infos = root.snapshots.list()?;
    for (id, n) in &counts {
        if *n == 0 && infos.get(id).is_some_and(|i| i.kind == Kind::Committed) {
            rep.orphan_snapshots.push(id.clone());
        }
    }
    for ing in root.content.ingests()? {
        rep.leftovers.push(format!("content/ingest/{ing}"));
        if repair {
            root.content.abort(&ing)?;
        }
    }
    if let Ok(rd) = std::fs::read_dir(root.snapshots.root()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".staging-")
                || name.starts_with(".removing-")
                || name.starts_with(".unpack-")
            {
                rep.leftovers.push(format!("snapshots/{name}"));
            }
        }
    }
    if repair {
        root.snapshots.cleanup()?;
        collect_locked(root)?;
    }
    Ok(rep)
}
