//! Image metadata: the [`Image`] domain record and the [`ImageStore`] that maps names (tags and
//! repo digests) to image IDs. The image ID is the digest of the image config blob.
//!
//! The store is one schema-versioned JSON file, `images/images.json`, rewritten atomically
//! (temp file, fsync, rename, fsync dir) on every change. The configs and manifests themselves
//! are blobs in the [`ContentStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use crate::content::{ContentError, ContentStore};
use crate::fsutil::write_atomic;
use crate::manifest::chain_ids;
use crate::reference::{resolve_id_prefix, Digest, Reference, ReferenceError};

const SCHEMA_VERSION: u32 = 1;
/// Image configs larger than this are refused (Docker's limit is 8 MiB too).
pub const MAX_CONFIG_SIZE: u64 = 8 << 20;

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image by that name or ID.
    #[error("no such image: {0}")]
    NotFound(String),
    /// An ID prefix that matches several images.
    #[error("ambiguous image id prefix: {0}")]
    Ambiguous(String),
    /// A bad reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The config blob is not a valid image config.
    #[error("image {id}: invalid config: {reason}")]
    InvalidConfig {
        /// The image (config digest).
        id: Digest,
        /// What is wrong.
        reason: String,
    },
    /// The image has names, or is in use, and cannot be deleted.
    #[error("conflict: unable to delete {id} ({reason})")]
    Conflict {
        /// The image ID, short.
        id: String,
        /// Why not.
        reason: String,
    },
    /// The store file was written by a newer Berth.
    #[error("image store {path}: unsupported schema version {version}")]
    Schema {
        /// The store file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// A content store error.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// An I/O or encoding error on the store file.
    #[error("image store {path}: {reason}")]
    Store {
        /// The store file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// The blob in the content store holding the layer as distributed.
    pub blob: Digest,
    /// The blob's media type (tells its compression).
    pub media_type: String,
    /// The blob's size.
    pub blob_size: u64,
    /// The size of the uncompressed tar.
    pub tar_size: u64,
    /// Bytes of file content once unpacked (what `docker images` sums as SIZE).
    pub unpacked_size: u64,
}

/// An entry of an image's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// RFC 3339 creation time.
    pub created: Option<String>,
    /// The command that made it.
    pub created_by: Option<String>,
    /// A comment (`docker import -m`, `docker commit -m`).
    pub comment: Option<String>,
    /// Whether this step made no layer.
    pub empty_layer: bool,
    /// The layer's unpacked size (0 for empty layers).
    pub size: u64,
    /// The chain ID of the layer stack up to this step, if it made a layer.
    pub layer: Option<Digest>,
}

/// An image as Berth stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The image ID: the config blob's digest.
    pub id: Digest,
    /// The config blob's size.
    pub config_size: u64,
    /// The OCI manifest Berth wrote for it (or the one it was pulled with).
    pub manifest: Option<Digest>,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// The config's `created`.
    pub created: Option<String>,
    /// The config's OS.
    pub os: String,
    /// The config's architecture.
    pub architecture: String,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
    /// Tags pointing at the image (filled by the store).
    #[serde(skip)]
    pub repo_tags: Vec<Reference>,
    /// Repo digests pointing at the image (filled by the store).
    #[serde(skip)]
    pub repo_digests: Vec<Reference>,
}

impl Image {
    /// Builds the record from a config blob and its layers; checks that the layers' diff IDs
    /// are the config's.
    pub fn from_config(
        config: &[u8],
        layers: Vec<Layer>,
        manifest: Option<Digest>,
    ) -> Result<Image, ImageError> {
        let id = Digest::of(config);
        let c = parse_config(&id, config)?;
        let diff_ids: Vec<String> = c.rootfs().diff_ids().to_vec();
        let ours: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        if diff_ids != ours {
            return Err(ImageError::InvalidConfig {
                id,
                reason: format!("rootfs.diff_ids {diff_ids:?} do not match the layers {ours:?}"),
            });
        }
        let labels = c
            .config()
            .as_ref()
            .and_then(|cc| cc.labels().clone())
            .map(|l| l.into_iter().collect())
            .unwrap_or_default();
        Ok(Image {
            id,
            config_size: config.len() as u64,
            manifest,
            layers,
            created: c.created().clone(),
            os: c.os().to_string(),
            architecture: c.architecture().to_string(),
            labels,
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
        })
    }

    /// Sum of the layers' unpacked sizes.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.unpacked_size).sum()
    }

    /// The diff IDs, bottom first.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// The chain IDs (snapshot IDs) of the layer stack, bottom first.
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(&self.diff_ids())
    }

    /// The snapshot a container of this image starts from (the top chain ID).
    pub fn top_chain_id(&self) -> Option<Digest> {
        self.chain_ids().pop()
    }
}

/// Parses a config blob (OCI or Docker, both have the same shape for what Berth reads).
pub fn parse_config(id: &Digest, data: &[u8]) -> Result<ImageConfiguration, ImageError> {
    ImageConfiguration::from_reader(data).map_err(|e| ImageError::InvalidConfig {
        id: id.clone(),
        reason: e.to_string(),
    })
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Db {
    schema_version: u32,
    images: BTreeMap<Digest, Image>,
    /// Full reference (`docker.io/library/busybox:latest`, `…@sha256:…`) → image ID.
    names: BTreeMap<String, Digest>,
}

/// The image store. Safe to share between threads.
#[derive(Debug)]
pub struct ImageStore {
    file: PathBuf,
    content: ContentStore,
    db: Mutex<Db>,
    /// Writers of new content (load, import, pull) hold it shared; garbage collection holds it
    /// exclusively, so it never deletes a blob whose image is not recorded yet.
    gc: RwLock<()>,
}

impl ImageStore {
    /// Opens (creating if needed) the store in `dir` (`<data-root>/images`).
    pub fn open(dir: impl AsRef<Path>, content: ContentStore) -> Result<ImageStore, ImageError> {
        let dir = dir.as_ref();
        let file = dir.join("images.json");
        let err = |reason: String| ImageError::Store {
            path: file.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let db = match std::fs::read(&file) {
            Ok(bytes) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
                let version = v
                    .get("schema_version")
                    .and_then(|x| x.as_u64())
                    .unwrap_or(0) as u32;
                if version != SCHEMA_VERSION {
                    return Err(ImageError::Schema {
                        path: file,
                        version,
                    });
                }
                serde_json::from_value(v).map_err(|e| err(e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Db {
                schema_version: SCHEMA_VERSION,
                ..Db::default()
            },
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(ImageStore {
            file,
            content,
            db: Mutex::new(db),
            gc: RwLock::new(()),
        })
    }

    /// Held while adding content that is not yet referenced by an image record (see `gc`).
    pub fn gc_read(&self) -> RwLockReadGuard<'_, ()> {
        self.gc.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Held by garbage collection.
    pub fn gc_write(&self) -> RwLockWriteGuard<'_, ()> {
        self.gc.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The content store behind the images.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, db: &Db) -> Result<(), ImageError> {
        let bytes = serde_json::to_vec_pretty(db).map_err(|e| ImageError::Store {
            path: self.file.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.file, &bytes).map_err(|e| ImageError::Store {
            path: self.file.clone(),
            reason: e.to_string(),
        })
    }

    fn fill(db: &Db, mut img: Image) -> Image {
        img.repo_tags.clear();
        img.repo_digests.clear();
        for (name, id) in &db.names {
            if *id == img.id {
                if let Ok(r) = Reference::parse_named(name) {
                    if r.digest().is_some() {
                        img.repo_digests.push(r);
                    } else {
                        img.repo_tags.push(r);
                    }
                }
            }
        }
        img
    }

    /// Adds (or replaces) an image record; its config and layer blobs must be in the content store.
    pub fn put(&self, image: Image) -> Result<Image, ImageError> {
        if !self.content.exists(&image.id) {
            return Err(ContentError::NotFound(image.id.clone()).into());
        }
        let mut db = self.lock();
        db.images.insert(
            image.id.clone(),
            Image {
                repo_tags: vec![],
                repo_digests: vec![],
                ..image.clone()
            },
        );
        self.save(&db)?;
        Ok(Self::fill(&db, image))
    }

    /// Points `name` (a tag or a repo digest) at `id`. Returns the image the name left, if any.
    pub fn tag(&self, id: &Digest, name: &Reference) -> Result<Option<Digest>, ImageError> {
        let mut db = self.lock();
        if !db.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        let old = db.names.insert(name.to_string(), id.clone());
        self.save(&db)?;
        Ok(old.filter(|o| o != id))
    }

    /// Removes a name. Returns the image it pointed to. The image itself stays (see `gc`).
    pub fn untag_name(&self, name: &Reference) -> Result<Digest, ImageError> {
        let mut db = self.lock();
        let id = db
            .names
            .remove(&name.to_string())
            .ok_or_else(|| ImageError::NotFound(name.familiar()))?;
        self.save(&db)?;
        Ok(id)
    }

    /// Removes an image record and all its names.
    pub fn remove(&self, id: &Digest) -> Result<Image, ImageError> {
        let mut db = self.lock();
        let img = db
            .images
            .remove(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let img = Self::fill(&db, img);
        db.names.retain(|_, v| v != id);
        self.save(&db)?;
        Ok(img)
    }

    /// The image with this ID.
    pub fn get(&self, id: &Digest) -> Option<Image> {
        let db = self.lock();
        db.images.get(id).cloned().map(|i| Self::fill(&db, i))
    }

    /// Every image, in ID order.
    pub fn list(&self) -> Vec<Image> {
        let db = self.lock();
        db.images
            .values()
            .cloned()
            .map(|i| Self::fill(&db, i))
            .collect()
    }

    /// The image a name points to, if any.
    pub fn lookup(&self, name: &Reference) -> Option<Digest> {
        self.lock().names.get(&name.to_string()).cloned()
    }

    /// Resolves what a user typed, as Docker does: a full `sha256:` ID, a name (tag `latest`
    /// added), a repo digest, or an ID prefix.
    pub fn resolve(&self, s: &str) -> Result<Image, ImageError> {
        let db = self.lock();
        if let Ok(d) = s.parse::<Digest>() {
            return db
                .images
                .get(&d)
                .cloned()
                .map(|i| Self::fill(&db, i))
                .ok_or_else(|| ImageError::NotFound(s.into()));
        }
        if let Ok(r) = Reference::parse(s) {
            if let Some(id) = db.names.get(&r.to_string()) {
                if let Some(i) = db.images.get(id) {
                    return Ok(Self::fill(&db, i.clone()));
                }
            }
            // `name:tag@digest`: the digest decides
            if let (Some(d), Some(_)) = (r.digest(), r.tag()) {
                if let Some(id) = db
                    .names
                    .get(&r.repository().with_digest(d.clone()).to_string())
                {
                    if let Some(i) = db.images.get(id) {
                        return Ok(Self::fill(&db, i.clone()));
                    }
                }
            }
        }
        match resolve_id_prefix(s, db.images.keys()) {
            Ok(id) => Ok(Self::fill(&db, db.images[&id].clone())),
            Err(ReferenceError::Ambiguous(p)) => Err(ImageError::Ambiguous(p)),
            Err(_) => {
                // Docker's message names what was asked for, with the default tag.
                let shown = Reference::parse(s)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| s.to_owned());
                Err(ImageError::NotFound(shown))
            }
        }
    }

    /// Reads and parses an image's config.
    pub fn config(&self, id: &Digest) -> Result<ImageConfiguration, ImageError> {
        let bytes = self.config_bytes(id)?;
        parse_config(id, &bytes)
    }

    /// The raw config blob (what the image ID is the digest of).
    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>, ImageError> {
        Ok(self.content.read_to_vec(id, MAX_CONFIG_SIZE)?)
    }

    /// The image's history, newest last, with layer sizes and chain IDs on the steps that
    /// made layers.
    pub fn history(&self, id: &Digest) -> Result<Vec<HistoryEntry>, ImageError> {
        let img = self
            .get(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let cfg = self.config(id)?;
        let chains = img.chain_ids();
        let mut layer = 0usize;
        let mut out = Vec::new();
        for h in cfg.history().clone().unwrap_or_default() {
            let empty = h.empty_layer().unwrap_or(false);
            let (size, chain) = if empty || layer >= img.layers.len() {
                (0, None)
            } else {
                layer += 1;
                (
                    img.layers[layer - 1].unpacked_size,
                    Some(chains[layer - 1].clone()),
                )
            };
            out.push(HistoryEntry {
                created: h.created().clone(),
                created_by: h.created_by().clone(),
                comment: h.comment().clone(),
                empty_layer: empty,
                size,
                layer: chain,
            });
        }
        Ok(out)
    }

    /// IDs of images with no name (`<none>:<none>`, "dangling").
    pub fn dangling(&self) -> Vec<Digest> {
        let db = self.lock();
        let named: BTreeSet<&Digest> = db.names.values().collect();
        db.images
            .keys()
            .filter(|id| !named.contains(id))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn config_json(diff_ids: &[Digest], labels: &[(&str, &str)]) -> Vec<u8> {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "ADD file", "created": "2024-01-01T00:00:00Z"},
                        {"created_by": "CMD [\"sh\"]", "empty_layer": true}]
        }))
        .unwrap()
    }

    fn layer(n: u8) -> Layer {
        let d = Digest::of(&[n]);
        Layer {
            diff_id: d.clone(),
            blob: d,
            media_type: crate::manifest::MEDIA_OCI_LAYER.into(),
            blob_size: 1,
            tar_size: 1,
            unpacked_size: 10,
        }
    }

    #[test]
    fn names_history_persistence() {
        let t = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(t.path().join("content")).unwrap();
        let st = ImageStore::open(t.path().join("images"), cs.clone()).unwrap();
        let cfg = config_json(&[layer(1).diff_id], &[("a", "b")]);
        assert!(Image::from_config(&cfg, vec![layer(2)], None).is_err());
        let img = Image::from_config(&cfg, vec![layer(1)], None).unwrap();
        assert!(st.put(img.clone()).is_err(), "config blob must exist");
        cs.write_blob(&cfg).unwrap();
        st.put(img.clone()).unwrap();
        assert_eq!(st.dangling(), vec![img.id.clone()]);
        let bb = Reference::parse("busybox").unwrap();
        assert_eq!(st.tag(&img.id, &bb).unwrap(), None);
        let rd = bb.with_digest(Digest::of(b"manifest"));
        st.tag(&img.id, &rd).unwrap();
        let got = st.resolve("busybox").unwrap();
        assert_eq!(got.id, img.id);
        assert_eq!(got.repo_tags, vec![bb.clone()]);
        assert_eq!(got.repo_digests, vec![rd.clone()]);
        assert_eq!(got.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(st.resolve(&img.id.hex()[..6]).unwrap().id, img.id);
        assert_eq!(st.resolve(&rd.familiar()).unwrap().id, img.id);
        assert_eq!(
            st.resolve(&format!("busybox:latest@{}", rd.digest().unwrap()))
                .unwrap()
                .id,
            img.id
        );
        assert_eq!(
            st.resolve("nope").unwrap_err().to_string(),
            "no such image: nope:latest"
        );
        let h = st.history(&img.id).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].size, 10);
        assert_eq!(h[0].layer, Some(img.layers[0].diff_id.clone()));
        assert!(h[1].empty_layer);
        drop(st);
        // reopen: persisted
        let st = ImageStore::open(t.path().join("images"), cs.clone()).unwrap();
        assert_eq!(
            st.resolve("docker.io/library/busybox:latest")
                .unwrap()
                .repo_tags,
            vec![bb.clone()]
        );
        assert_eq!(st.untag_name(&bb).unwrap(), img.id);
        st.untag_name(&rd).unwrap();
        assert_eq!(st.dangling(), vec![img.id.clone()]);
        st.remove(&img.id).unwrap();
        assert!(st.list().is_empty());
        // a future schema is refused
        std::fs::write(
            t.path().join("images/images.json"),
            br#"{"schema_version":99}"#,
        )
        .unwrap();
        assert!(matches!(
            ImageStore::open(t.path().join("images"), cs),
            Err(ImageError::Schema { .. })
        ));
    }
}
