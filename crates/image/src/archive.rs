//! Image archives: [`load`] (docker-archive as `docker save` writes it, old and Docker 25+
//! layouts, and OCI image layout archives), [`save`] (docker-archive with an OCI index, as
//! Docker 25+ writes), [`import`] (a rootfs tarball plus Dockerfile-style changes) and
//! [`export`] (a directory as a tar stream).
//!
//! Archives are read in one pass as a stream: blobs go to the content store as they come
//! (verified against their names when named by digest), small metadata files stay in memory.
//! While a large blob is being stored, a worker thread unpacks it into a staging directory,
//! reading the ingest's data as it is written ([`crate::content::Follower`]): the layer is read
//! once from the archive and, when uncompressed, hashed once (its diff ID is its blob digest).
//! Which blob is which layer is known only from `manifest.json`, at the end: a staged layer gets
//! its chain ID name only then, after its blob was verified and its diff ID matched the
//! config's; staged data that no image uses, or that failed, is removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::thread::{Scope, ScopedJoinHandle};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::content::{ContentError, Follower};
use crate::images::{parse_config, Image, ImageError, ImageStore, Layer};
use crate::manifest::{
    chain_ids, Compression, Descriptor, Index, Manifest, ManifestError, ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME, MEDIA_DOCKER_LIST, MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX, MEDIA_OCI_LAYER,
    MEDIA_OCI_MANIFEST,
};
use crate::pack::{tar_dir, Whiteouts};
use crate::reference::{Digest, Reference};
use crate::snapshot::{LayerSource, SnapshotError, Snapshotter, StagedLayer};
use crate::unpack::decompress;

/// Metadata files larger than this are refused (manifest.json, index.json, configs).
const SMALL: u64 = 8 << 20;

/// Errors of archive operations.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is not a docker-archive or OCI layout, or is inconsistent.
    #[error("invalid archive: {0}")]
    Invalid(String),
    /// A file the manifest names is missing from the archive.
    #[error("invalid archive: {0} is missing")]
    Missing(String),
    /// A blob named by digest has other content.
    #[error("invalid archive: {path} does not match its digest")]
    DigestMismatch {
        /// The blob's path in the archive.
        path: String,
    },
    /// A `--change` instruction Berth does not understand.
    #[error("invalid change: {0}")]
    Change(String),
    /// Manifest error.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Image store error.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Content store error.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Snapshot (unpack) error.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// I/O on the stream.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let what = what.into();
    move |source| ArchiveError::Io { what, source }
}

/// Progress of an archive operation, for `Loading layer` style messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Bytes of one layer (or other blob) read or written so far.
    Layer {
        /// The short ID shown (12 hex of the blob digest, or of the path when unknown yet).
        id: String,
        /// Bytes so far.
        current: u64,
        /// Total bytes.
        total: u64,
    },
    /// An image was stored.
    Image {
        /// Its ID.
        id: Digest,
        /// The names it got.
        names: Vec<Reference>,
    },
}

/// What loading did to one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The image.
    pub image: Image,
    /// Names it got.
    pub names: Vec<Reference>,
    /// For each name that moved: the image it was taken from (Docker prints "renaming the old one").
    pub moved: Vec<(Reference, Digest)>,
}

/// The stores an archive operation works on.
#[derive(Debug, Clone, Copy)]
pub struct Stores<'a> {
    /// Image metadata (and, through it, the content store).
    pub images: &'a ImageStore,
    /// Layers.
    pub snapshots: &'a Snapshotter,
}

struct ProgressReader<'a, R> {
    inner: R,
    id: String,
    n: u64,
    total: u64,
    last: u64,
    cb: &'a mut dyn FnMut(Progress),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        if self.n - self.last >= (1 << 20)
            || (n == 0 && self.n != self.last)
            || self.n == self.total
        {
            self.last = self.n;
            (self.cb)(Progress::Layer {
                id: self.id.clone(),
                current: self.n,
                total: self.total,
            });
        }
        Ok(n)
    }
}

fn norm(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

fn blob_hex(path: &str) -> Option<Digest> {
    path.strip_prefix("blobs/sha256/")
        .and_then(|h| Digest::from_hex(h).ok())
}

/// Stores an image whose config and layer blobs are in the content store: unpacks the layers
/// (shared by chain ID, in parallel), writes an OCI manifest, records the image and tags it.
/// Used by load and import (and by the daemon for pull and commit).
pub fn store_image(
    st: Stores<'_>,
    config: &[u8],
    layer_blobs: &[(Digest, String)],
    names: &[Reference],
) -> Result<Loaded, ArchiveError> {
    let _g = st.images.gc_read();
    store_image_locked(st, config, layer_blobs, names, &mut HashMap::new())
}

/// Layers unpacked while their blobs were stored, by blob digest.
pub(crate) type Staged = HashMap<Digest, StagedLayer>;

fn store_image_locked(
    st: Stores<'_>,
    config: &[u8],
    layer_blobs: &[(Digest, String)],
    names: &[Reference],
    staged: &mut Staged,
) -> Result<Loaded, ArchiveError> {
    store_image_as(st, config, layer_blobs, names, staged, None)
}

/// [`store_image`] for a caller that holds the gc read lock and may have staged layers; with
/// `manifest`, the image keeps that manifest (a pulled one, already in the content store)
/// instead of one Berth writes.
pub(crate) fn store_image_as(
    st: Stores<'_>,
    config: &[u8],
    layer_blobs: &[(Digest, String)],
    names: &[Reference],
    staged: &mut Staged,
    manifest: Option<Digest>,
) -> Result<Loaded, ArchiveError> {
    let content = st.images.content();
    let cinfo = content.write_blob(config)?;
    let cfg = parse_config(&cinfo.digest, config)?;
    let diff_ids: Vec<Digest> = cfg
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| {
            d.parse::<Digest>()
                .map_err(|e| ArchiveError::Invalid(format!("config {}: {e}", cinfo.digest)))
        })
        .collect::<Result<_, _>>()?;
    if diff_ids.len() != layer_blobs.len() {
        return Err(ArchiveError::Invalid(format!(
            "image {}: config has {} layers, manifest {}",
            cinfo.digest,
            diff_ids.len(),
            layer_blobs.len()
        )));
    }
    let sources: Vec<LayerSource> = diff_ids
        .iter()
        .zip(layer_blobs)
        .map(|(d, (b, _))| LayerSource {
            diff_id: d.clone(),
            blob: b.clone(),
        })
        .collect();
    let chains = chain_ids(&diff_ids);
    for (i, src) in sources.iter().enumerate() {
        if st.snapshots.exists(chains[i].hex()) {
            continue;
        }
        if let Some(layer) = staged.remove(&src.blob) {
            let parent = i.checked_sub(1).map(|p| &chains[p]);
            st.snapshots.commit_staged(layer, parent, &src.diff_id)?;
        }
    }
    let snaps = st.snapshots.ensure_layers(content, &sources)?;
    let mut layers = Vec::new();
    let mut descs = Vec::new();
    for ((src, (blob, mt)), snap) in sources.iter().zip(layer_blobs).zip(&snaps) {
        let size = content.info(blob)?.size;
        let compression = Compression::from_media_type(mt).unwrap_or(Compression::None);
        let mt = compression.oci_media_type().to_owned();
        descs.push(Descriptor::new(&mt, blob.clone(), size));
        layers.push(Layer {
            diff_id: src.diff_id.clone(),
            blob: blob.clone(),
            media_type: mt,
            blob_size: size,
            tar_size: snap.tar_size,
            unpacked_size: snap.unpacked_size,
        });
    }
    let manifest = match manifest {
        Some(m) => m,
        None => {
            let m = Manifest::oci(
                Descriptor::new(MEDIA_OCI_CONFIG, cinfo.digest.clone(), cinfo.size),
                descs,
            );
            content.write_blob(&m.to_bytes())?.digest
        }
    };
    let image = Image::from_config(config, layers, Some(manifest))?;
    st.images.put(image.clone())?;
    let mut moved = Vec::new();
    for n in names {
        if let Some(old) = st.images.tag(&image.id, n)? {
            moved.push((n.clone(), old));
        }
    }
    let image = st.images.get(&image.id).unwrap_or(image);
    Ok(Loaded {
        image,
        names: names.to_vec(),
        moved,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Unpacks running beside the archive read, at most one per core.
struct Stager<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    snapshots: &'env Snapshotter,
    max: usize,
    running: Vec<ScopedJoinHandle<'scope, Option<(Digest, StagedLayer)>>>,
    done: Staged,
}

impl<'scope, 'env> Stager<'scope, 'env> {
    /// Starts unpacking what `f` follows. When all workers are busy, first waits for the
    /// oldest: its blob is complete, so it does not depend on the archive read going on.
    fn start(&mut self, name: String, mut f: Follower) {
        if self.running.len() >= self.max {
            let oldest = self.running.remove(0);
            self.collect(oldest);
        }
        let snapshots = self.snapshots;
        self.running.push(self.scope.spawn(move || {
            let mut layer = snapshots.stage_layer(&name, &mut f, false).ok()?;
            // The follower reached its end: the writer committed, the blob is verified.
            let blob = f.committed()?;
            if f.position() != blob.size || !layer.set_plain_diff_id(&blob) {
                return None;
            }
            Some((blob.digest, layer))
        }));
    }

    fn collect(&mut self, h: ScopedJoinHandle<'scope, Option<(Digest, StagedLayer)>>) {
        // A failed unpack (not a tar, hostile, or a failed ingest) is dropped here: if that blob
        // is a layer, unpacking it from the store reports the error.
        if let Ok(Some((d, layer))) = h.join() {
            self.done.insert(d, layer);
        }
    }

    fn finish(mut self) -> Staged {
        for h in std::mem::take(&mut self.running) {
            self.collect(h);
        }
        self.done
    }
}

/// Loads a docker-archive or OCI layout archive from a stream. Returns the images stored.
pub fn load<R: Read>(
    st: Stores<'_>,
    r: R,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Loaded>, ArchiveError> {
    // Blobs and staged layers are not referenced by an image until the end.
    let _g = st.images.gc_read();
    std::thread::scope(|scope| {
        let stager = Stager {
            scope,
            snapshots: st.snapshots,
            max: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            running: Vec::new(),
            done: HashMap::new(),
        };
        load_in(st, r, progress, stager)
    })
}

fn load_in<R: Read>(
    st: Stores<'_>,
    r: R,
    progress: &mut dyn FnMut(Progress),
    mut stager: Stager<'_, '_>,
) -> Result<Vec<Loaded>, ArchiveError> {
    let content = st.images.content();
    let mut ar = tar::Archive::new(BufReader::with_capacity(1 << 20, r));
    let mut mem: HashMap<String, Vec<u8>> = HashMap::new();
    let mut blobs: HashMap<String, Digest> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut n = 0u64;
    for e in ar.entries().map_err(io_err("read archive"))? {
        let mut e = e.map_err(io_err("read archive"))?;
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let Some(path) = norm(&raw) else { continue };
        let kind = e.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let Some(target) = e
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
            else {
                continue;
            };
            let resolved = if kind.is_symlink() {
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                norm(&format!("{dir}/{target}"))
            } else {
                norm(&target)
            };
            if let Some(t) = resolved {
                links.insert(path, t);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = e.size();
        let named = blob_hex(&path);
        if size <= SMALL && (named.is_some() || path.ends_with(".json") || !path.contains('/')) {
            let mut v = Vec::with_capacity(size as usize);
            e.read_to_end(&mut v)
                .map_err(io_err(format!("read {path}")))?;
            let d = Digest::of(&v);
            if let Some(want) = &named {
                if *want != d {
                    return Err(ArchiveError::DigestMismatch { path });
                }
                content.write_blob(&v)?;
                blobs.insert(path.clone(), d);
            }
            mem.insert(path, v);
            continue;
        }
        if named.is_none() && !path.ends_with(".tar") && size <= SMALL {
            continue; // VERSION, v1 json and other leftovers of old docker-archives
        }
        n += 1;
        let id = named
            .as_ref()
            .map(|d| d.short().to_owned())
            .unwrap_or_else(|| Digest::of(path.as_bytes()).short().to_owned());
        let reference = format!("load-{}-{n}", std::process::id());
        let pr = ProgressReader {
            inner: &mut e,
            id,
            n: 0,
            total: size,
            last: 0,
            cb: progress,
        };
        let mut follow = |f: Follower| stager.start(path.clone(), f);
        let info = match &named {
            Some(d) => content.ingest_following(
                &format!("blob-{}", d.hex()),
                pr,
                Some((d, Some(size))),
                Some(&mut follow),
            ),
            None => content.ingest_following(&reference, pr, None, Some(&mut follow)),
        }
        .map_err(|err| match err {
            ContentError::DigestMismatch { .. } => {
                ArchiveError::DigestMismatch { path: path.clone() }
            }
            other => other.into(),
        })?;
        blobs.insert(path, info.digest);
    }
    let mut staged = stager.finish();

    let resolve = |p: &str| -> Result<Digest, ArchiveError> {
        let mut p = norm(p).ok_or_else(|| ArchiveError::Missing(p.to_owned()))?;
        for _ in 0..16 {
            if let Some(d) = blobs.get(&p) {
                return Ok(d.clone());
            }
            if let Some(v) = mem.get(&p) {
                return Ok(content.write_blob(v)?.digest);
            }
            match links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(ArchiveError::Missing(p))
    };
    let read_small =
        |d: &Digest| -> Result<Vec<u8>, ArchiveError> { Ok(content.read_to_vec(d, SMALL)?) };
    let layer_type = |d: &Digest| -> Result<String, ArchiveError> {
        let mut head = [0u8; 8];
        let mut f = content.reader(d)?;
        let k = f
            .read(&mut head)
            .map_err(io_err(format!("read blob {d}")))?;
        Ok(Compression::detect(&head[..k]).oci_media_type().to_owned())
    };

    let mut out = Vec::new();
    if let Some(m) = mem.get("manifest.json") {
        let entries: Vec<DockerManifestEntry> = serde_json::from_slice(m)
            .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?;
        for ent in entries {
            let cd = resolve(&ent.config)?;
            let config = read_small(&cd)?;
            let mut layers = Vec::new();
            for l in &ent.layers {
                let d = resolve(l)?;
                let mt = layer_type(&d)?;
                layers.push((d, mt));
            }
            let mut names = Vec::new();
            for t in ent.repo_tags.unwrap_or_default() {
                names.push(
                    Reference::parse(&t)
                        .map_err(|e| ArchiveError::Invalid(format!("repo tag {t:?}: {e}")))?,
                );
            }
            let loaded = store_image_locked(st, &config, &layers, &names, &mut staged)?;
            progress(Progress::Image {
                id: loaded.image.id.clone(),
                names: names.clone(),
            });
            out.push(loaded);
        }
        return Ok(out);
    }
    if let Some(ix) = mem.get("index.json") {
        if let Some(layout) = mem.get("oci-layout") {
            let v: Value = serde_json::from_slice(layout)
                .map_err(|e| ArchiveError::Invalid(format!("oci-layout: {e}")))?;
            if v.get("imageLayoutVersion").and_then(Value::as_str) != Some("1.0.0") {
                return Err(ArchiveError::Invalid(
                    "oci-layout: unsupported imageLayoutVersion".into(),
                ));
            }
        }
        let index = Index::parse(ix)?;
        let mut todo: Vec<(Descriptor, Option<Reference>)> =
            index.manifests.into_iter().map(|d| (d, None)).collect();
        let mut depth = 0;
        while let Some((desc, inherited)) = todo.pop() {
            let name = desc
                .annotations
                .get(ANNOTATION_IMAGE_NAME)
                .and_then(|n| Reference::parse(n).ok())
                .or_else(|| {
                    desc.annotations
                        .get(ANNOTATION_REF_NAME)
                        .filter(|n| n.contains(':') || n.contains('/'))
                        .and_then(|n| Reference::parse(n).ok())
                })
                .or(inherited);
            let bytes = read_small(&desc.digest)?;
            if desc.digest != Digest::of(&bytes) {
                return Err(ArchiveError::DigestMismatch {
                    path: format!("blobs/sha256/{}", desc.digest.hex()),
                });
            }
            match desc.media_type.as_str() {
                MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST => {
                    depth += 1;
                    if depth > 8 {
                        return Err(ArchiveError::Invalid("index nesting too deep".into()));
                    }
                    let sub = Index::parse(&bytes)?;
                    // One platform: the host's, else the first.
                    let arch = host_arch();
                    let pick = sub
                        .manifests
                        .iter()
                        .find(|m| {
                            m.platform
                                .as_ref()
                                .is_some_and(|p| p.architecture == arch && p.os == "linux")
                        })
                        .or_else(|| sub.manifests.first())
                        .cloned();
                    if let Some(p) = pick {
                        todo.push((p, name));
                    }
                }
                _ => {
                    let m = Manifest::parse(&bytes)?;
                    let config = read_small(&m.config.digest)?;
                    let layers: Vec<(Digest, String)> = m
                        .layers
                        .iter()
                        .map(|l| (l.digest.clone(), l.media_type.clone()))
                        .collect();
                    for (d, _) in &layers {
                        if !content.exists(d) {
                            return Err(ArchiveError::Missing(format!("blobs/sha256/{}", d.hex())));
                        }
                    }
                    let names: Vec<Reference> = name.into_iter().collect();
                    let loaded = store_image_locked(st, &config, &layers, &names, &mut staged)?;
                    progress(Progress::Image {
                        id: loaded.image.id.clone(),
                        names: names.clone(),
                    });
                    out.push(loaded);
                }
            }
        }
        return Ok(out);
    }
    Err(ArchiveError::Invalid(
        "neither manifest.json nor index.json found".into(),
    ))
}

/// The GOARCH name of this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Reads exactly `n` bytes from `inner`, failing if it has fewer or more.
struct Exact<R> {
    inner: R,
    left: u64,
    what: String,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut b = [0u8; 1];
            if self.inner.read(&mut b)? != 0 {
                return Err(io::Error::other(format!(
                    "{}: longer than recorded",
                    self.what
                )));
            }
            return Ok(0);
        }
        let max = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "{}: shorter than recorded",
                self.what
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn tar_header(size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Saves images to a docker-archive stream as Docker 25+ does: `blobs/sha256/…` (configs,
/// uncompressed layers, OCI manifests), `manifest.json`, `repositories`, `index.json` and
/// `oci-layout`. Each entry of `images` is an image ID and the names to record for it. Layers
/// shared between images are written once.
pub fn save<W: Write>(
    st: Stores<'_>,
    images: &[(Digest, Vec<Reference>)],
    w: W,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ArchiveError> {
    let content = st.images.content();
    let mut b = tar::Builder::new(w);
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut index = Vec::new();
    for dir in ["blobs/", "blobs/sha256/"] {
        b.append_data(
            &mut tar_header(0, tar::EntryType::Directory),
            dir,
            io::empty(),
        )
        .map_err(io_err("write archive"))?;
    }
    let put = |b: &mut tar::Builder<W>, d: &Digest, data: &[u8], written: &mut BTreeSet<Digest>| {
        if written.insert(d.clone()) {
            b.append_data(
                &mut tar_header(data.len() as u64, tar::EntryType::Regular),
                format!("blobs/sha256/{}", d.hex()),
                data,
            )
            .map_err(io_err("write archive"))?;
        }
        Ok::<(), ArchiveError>(())
    };
    for (id, names) in images {
        let img = st
            .images
            .get(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let config = st.images.config_bytes(id)?;
        put(&mut b, id, &config, &mut written)?;
        let mut layer_paths = Vec::new();
        let mut descs = Vec::new();
        for l in &img.layers {
            let path = format!("blobs/sha256/{}", l.diff_id.hex());
            layer_paths.push(path.clone());
            descs.push(Descriptor::new(
                MEDIA_OCI_LAYER,
                l.diff_id.clone(),
                l.tar_size,
            ));
            if !written.insert(l.diff_id.clone()) {
                continue;
            }
            let f = content.reader(&l.blob)?;
            let (_, rd) = decompress(f).map_err(io_err(format!("read layer {}", l.blob)))?;
            let exact = Exact {
                inner: rd,
                left: l.tar_size,
                what: format!("layer {}", l.diff_id),
            };
            let pr = ProgressReader {
                inner: exact,
                id: l.diff_id.short().to_owned(),
                n: 0,
                total: l.tar_size,
                last: 0,
                cb: progress,
            };
            b.append_data(
                &mut tar_header(l.tar_size, tar::EntryType::Regular),
                &path,
                pr,
            )
            .map_err(io_err(format!("write layer {}", l.diff_id)))?;
        }
        let manifest = Manifest::oci(
            Descriptor::new(MEDIA_OCI_CONFIG, id.clone(), config.len() as u64),
            descs,
        );
        let mbytes = manifest.to_bytes();
        let md = Digest::of(&mbytes);
        put(&mut b, &md, &mbytes, &mut written)?;
        let tags: Vec<String> = names
            .iter()
            .filter(|n| n.tag().is_some())
            .map(Reference::familiar)
            .collect();
        manifest_json.push(json!({
            "Config": format!("blobs/sha256/{}", id.hex()),
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": layer_paths,
            "LayerSources": {},
        }));
        let top = img
            .layers
            .last()
            .map(|l| l.diff_id.hex().to_owned())
            .unwrap_or_default();
        let mut named = false;
        for n in names {
            let Some(tag) = n.tag() else { continue };
            named = true;
            repositories
                .entry(n.familiar_name())
                .or_default()
                .insert(tag.to_owned(), top.clone());
            index.push(json!({
                "mediaType": MEDIA_OCI_MANIFEST, "digest": md.to_string(), "size": mbytes.len(),
                "annotations": {
                    ANNOTATION_IMAGE_NAME: n.to_string(),
                    ANNOTATION_REF_NAME: tag,
                },
            }));
        }
        if !named {
            index.push(json!({"mediaType": MEDIA_OCI_MANIFEST, "digest": md.to_string(), "size": mbytes.len()}));
        }
    }
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "index.json",
            serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index}),
            )
            .unwrap_or_default(),
        ),
        (
            "manifest.json",
            serde_json::to_vec(&manifest_json).unwrap_or_default(),
        ),
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        (
            "repositories",
            serde_json::to_vec(&repositories).unwrap_or_default(),
        ),
    ];
    for (name, data) in files {
        b.append_data(
            &mut tar_header(data.len() as u64, tar::EntryType::Regular),
            name,
            &data[..],
        )
        .map_err(io_err("write archive"))?;
    }
    b.into_inner()
        .map_err(io_err("write archive"))?
        .flush()
        .map_err(io_err("write archive"))?;
    Ok(())
}

/// Options of [`import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`, `ENV A=b`, …).
    pub changes: Vec<String>,
    /// The history comment (`docker import -m`); default `Imported from -`.
    pub message: Option<String>,
    /// The name to tag the image with.
    pub reference: Option<Reference>,
    /// The platform's OS and architecture; default linux and the host's.
    pub platform: Option<(String, String)>,
}

/// Imports a rootfs tarball (tar, tar+gzip or tar+zstd) as a one-layer image. The stream is
/// stored as the layer blob as it comes and unpacked from the store.
pub fn import<R: Read>(st: Stores<'_>, r: R, opts: &ImportOptions) -> Result<Loaded, ArchiveError> {
    let _g = st.images.gc_read();
    let content = st.images.content();
    // Parse the changes first: a bad change must not leave a layer behind.
    let mut config = json!({});
    for c in &opts.changes {
        apply_change(&mut config, c)?;
    }
    let blob = content.ingest(
        &format!("import-{}-{}", std::process::id(), unique()),
        r,
        None,
    )?;
    let snap = {
        let f = content.reader(&blob.digest)?;
        st.snapshots
            .unpack_new_layer(None, &format!("import {}", blob.digest), f)?
    };
    let diff_id = snap
        .diff_id
        .clone()
        .ok_or_else(|| ArchiveError::Invalid("unpacked layer without diff id".into()))?;
    let mut head = [0u8; 8];
    let k = content
        .reader(&blob.digest)?
        .read(&mut head)
        .map_err(io_err("read layer"))?;
    let mt = Compression::detect(&head[..k]).oci_media_type().to_owned();
    let (os, arch) = opts
        .platform
        .clone()
        .unwrap_or_else(|| ("linux".into(), host_arch().into()));
    let created = now_rfc3339();
    let comment = opts
        .message
        .clone()
        .unwrap_or_else(|| "Imported from -".into());
    let cfg = json!({
        "architecture": arch,
        "os": os,
        "created": created,
        "comment": comment,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": created, "created_by": "", "comment": comment}],
    });
    let bytes = serde_json::to_vec(&cfg).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    let names: Vec<Reference> = opts.reference.iter().cloned().collect();
    store_image_locked(
        st,
        &bytes,
        &[(blob.digest, mt)],
        &names,
        &mut HashMap::new(),
    )
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Writes a directory (a container's merged rootfs) as a tar stream, walking by fd without
/// following symlinks.
pub fn export<W: Write>(dir: &Path, w: W) -> Result<(), ArchiveError> {
    let f = std::fs::File::open(dir).map_err(io_err(format!("open {}", dir.display())))?;
    tar_dir(std::os::fd::AsFd::as_fd(&f), Whiteouts::AsIs, w)
        .map_err(io_err(format!("export {}", dir.display())))?;
    Ok(())
}

/// The current time as RFC 3339 UTC with nanoseconds (`2024-05-01T12:00:00.123456789Z`).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, Some(d.subsec_nanos()))
}

/// RFC 3339 in UTC of a Unix time, with nanoseconds when given (`…T22:13:20Z` without).
pub fn rfc3339(secs: i64, nanos: Option<u32>) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let frac = nanos.map(|n| format!(".{n:09}")).unwrap_or_default();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Splits a Dockerfile instruction's arguments into words, honouring quotes and backslashes.
fn words(s: &str) -> Result<Vec<String>, ArchiveError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                have = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    have = true;
                }
            }
            (_, c) => {
                cur.push(c);
                have = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ArchiveError::Change(format!("unterminated quote in {s:?}")));
    }
    if have {
        out.push(cur);
    }
    Ok(out)
}

fn exec_or_shell(args: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Vec<String>>(args.trim()) {
        return json!(v);
    }
    json!(["/bin/sh", "-c", args.trim()])
}

fn key_values(
    instr: &str,
    args: &str,
    legacy: bool,
) -> Result<Vec<(String, String)>, ArchiveError> {
    let ws = words(args)?;
    if ws.is_empty() {
        return Err(ArchiveError::Change(format!(
            "{instr} requires at least one argument"
        )));
    }
    if legacy && !ws[0].contains('=') {
        // `ENV key value with spaces`
        let (k, v) = args
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((args.trim(), ""));
        return Ok(vec![(k.to_owned(), words(v)?.join(" "))]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(ArchiveError::Change(format!(
                "{instr}: {w:?} is not key=value"
            ))),
        })
        .collect()
}

/// Applies one Dockerfile instruction to a config's `config` object (the subset `docker import
/// --change` and `docker commit --change` accept).
pub fn apply_change(config: &mut Value, change: &str) -> Result<(), ArchiveError> {
    let change = change.trim();
    let (instr, args) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let args = args.trim();
    let obj = config
        .as_object_mut()
        .ok_or_else(|| ArchiveError::Change("config is not an object".into()))?;
    let instr_up = instr.to_ascii_uppercase();
    let need = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(ArchiveError::Change(format!(
                "{instr_up} requires an argument"
            )))
        }
    };
    match instr_up.as_str() {
        "CMD" => {
            need(!args.is_empty())?;
            obj.insert("Cmd".into(), exec_or_shell(args));
        }
        "ENTRYPOINT" => {
            need(!args.is_empty())?;
            obj.insert("Entrypoint".into(), exec_or_shell(args));
        }
        "ENV" => {
            let kvs = key_values("ENV", args, true)?;
            let env = obj.entry("Env").or_insert_with(|| json!([]));
            let list = env
                .as_array_mut()
                .ok_or_else(|| ArchiveError::Change("Env is not a list".into()))?;
            for (k, v) in kvs {
                list.retain(|e| {
                    e.as_str()
                        .and_then(|s| s.split_once('='))
                        .map(|(ek, _)| ek != k)
                        .unwrap_or(true)
                });
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let kvs = key_values("LABEL", args, false)?;
            let labels = obj.entry("Labels").or_insert_with(|| json!({}));
            let map = labels
                .as_object_mut()
                .ok_or_else(|| ArchiveError::Change("Labels is not a map".into()))?;
            for (k, v) in kvs {
                map.insert(k, json!(v));
            }
        }
        "WORKDIR" => {
            let ws = words(args)?;
            need(ws.len() == 1)?;
            obj.insert("WorkingDir".into(), json!(ws[0]));
        }
        "USER" => {
            let ws = words(args)?;
            need(ws.len() == 1)?;
            obj.insert("User".into(), json!(ws[0]));
        }
        "EXPOSE" => {
            let ws = words(args)?;
            need(!ws.is_empty())?;
            let ports = obj.entry("ExposedPorts").or_insert_with(|| json!({}));
            let map = ports
                .as_object_mut()
                .ok_or_else(|| ArchiveError::Change("ExposedPorts is not a map".into()))?;
            for p in ws {
                let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                let proto = proto.to_ascii_lowercase();
                let ok_num = !num.is_empty()
                    && num.split('-').all(|n| n.parse::<u16>().is_ok())
                    && num.split('-').count() <= 2;
                if !ok_num || !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
                    return Err(ArchiveError::Change(format!("invalid port {p:?}")));
                }
                map.insert(format!("{num}/{proto}"), json!({}));
            }
        }
        "VOLUME" => {
            let vols: Vec<String> = match serde_json::from_str::<Vec<String>>(args) {
                Ok(v) => v,
                Err(_) => words(args)?,
            };
            need(!vols.is_empty() && vols.iter().all(|v| !v.is_empty()))?;
            let vm = obj.entry("Volumes").or_insert_with(|| json!({}));
            let map = vm
                .as_object_mut()
                .ok_or_else(|| ArchiveError::Change("Volumes is not a map".into()))?;
            for v in vols {
                map.insert(v, json!({}));
            }
        }
        "STOPSIGNAL" => {
            need(!args.is_empty())?;
            obj.insert("StopSignal".into(), json!(args));
        }
        "ONBUILD" => {
            need(!args.is_empty())?;
            let ob = obj.entry("OnBuild").or_insert_with(|| json!([]));
            if let Some(l) = ob.as_array_mut() {
                l.push(json!(args));
            }
        }
        other => {
            return Err(ArchiveError::Change(format!(
                "{other} is not a valid change command"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_json_and_shell_forms() {
        let mut c = json!({});
        for ch in [
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/run --flag",
            "ENV A=1 B=\"two words\"",
            "ENV LEGACY some value",
            "ENV A=3",
            "WORKDIR /srv",
            "USER nobody",
            "EXPOSE 80 53/udp 8000-8010",
            "LABEL a=b \"c d\"=e",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /more",
        ] {
            apply_change(&mut c, ch).unwrap();
        }
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/run --flag"]));
        assert_eq!(c["Env"], json!(["B=two words", "LEGACY=some value", "A=3"]));
        assert_eq!(c["WorkingDir"], json!("/srv"));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000-8010/tcp": {}})
        );
        assert_eq!(c["Labels"], json!({"a": "b", "c d": "e"}));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}, "/more": {}}));
        for bad in ["RUN echo", "EXPOSE abc", "CMD", "ENV =x", "LABEL \"open"] {
            assert!(apply_change(&mut c, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0, Some(0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_700_000_000, None), "2023-11-14T22:13:20Z");
        assert_eq!(
            rfc3339(1_709_251_199, Some(5)),
            "2024-02-29T23:59:59.000000005Z"
        );
        assert_eq!(
            rfc3339(951_782_400, Some(0)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
