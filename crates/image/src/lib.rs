//! berth-image: everything Berth knows about images, below the daemon and without any Docker
//! Engine API wire type (the daemon converts at its edge).
//!
//! Every path comes from a root directory passed in by the caller (`/var/lib/berth` by default,
//! a temp root in tests). Module map:
//!
//! - [`reference`]: image references (`[registry/]name[:tag][@digest]`) normalised as Docker does,
//!   the sha256 [`Digest`] type and ID-prefix resolution.
//! - [`content`]: the content store (`content/blobs/sha256/<hex>`, resumable `content/ingest/<ref>/`).
//! - [`manifest`]: OCI / Docker schema2 manifests, indexes, descriptors, media types, chain IDs.
//! - [`images`]: the [`Image`] record and the [`ImageStore`] (names → image IDs, history, labels).
//! - [`unpack`]: the [`LayerUnpacker`]: streaming, digest-checking, hostile-archive-proof layer
//!   extraction with OCI → overlayfs whiteout conversion.
//! - [`snapshot`]: the [`Snapshotter`]: layers unpacked once per chain ID and shared, container
//!   snapshots, overlay mounts, commit, diff, usage.
//! - [`pack`]: directory → tar stream by fd (overlay whiteouts → OCI), used by commit and export.
//! - [`archive`]: `load` (docker-archive, OCI layout archives), `save` (docker-archive + OCI index),
//!   `import` (rootfs tarball + Dockerfile changes) and `export` (directory → tar).
//! - [`copy`]: `docker cp`: stat, archive and extract paths inside a container's root by fd.
//! - [`idtar`]: tar owners moved through a user namespace's mapping as the stream passes
//!   (`docker cp` in and out of a remapped container).
//! - [`gc`]: untag / remove / prune with computed snapshot reference counts, and `verify`.
//! - [`registry`]: the distribution v2 client: pull (layers unpacked while they download,
//!   resumable), push (mounts, chunked uploads), login, tags; auth and TLS per registry.
//!
//! [`ImageRoot`] opens all three stores below one data root.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod archive;
pub mod content;
pub mod copy;
mod fsutil;
pub mod gc;
pub mod idtar;
pub mod images;
pub mod manifest;
pub mod pack;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod unpack;

pub use archive::{ArchiveError, ImportOptions, Loaded, Progress, Stores};
pub use content::{BlobInfo, ContentError, ContentStore, Writer};
pub use gc::{GcError, RemoveReport, VerifyReport};
pub use images::{HistoryEntry, Image, ImageError, ImageStore, Layer};
pub use manifest::{chain_ids, Compression, Descriptor, Index, Manifest};
pub use reference::{resolve_id_prefix, Digest, Reference, ReferenceError};
pub use registry::{
    Credentials, Event, PullOptions, PullResult, PushOptions, PushResult, Registry, RegistryConfig,
    RegistryError,
};
pub use snapshot::{
    Change, ChangeKind, CommitInfo, Kind, LayerSource, Mount, SnapshotError, SnapshotInfo,
    Snapshotter, Usage,
};
pub use unpack::{LayerUnpacker, Limits, UnpackError, UnpackStats};

/// The image side of a data root: `<root>/content`, `<root>/images`, `<root>/snapshots`.
#[derive(Debug)]
pub struct ImageRoot {
    /// Blobs.
    pub content: ContentStore,
    /// Image metadata and names.
    pub images: ImageStore,
    /// Unpacked layers and container snapshots.
    pub snapshots: Snapshotter,
}

/// Errors opening an [`ImageRoot`].
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// Content store.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Image store.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Snapshotter.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

impl ImageRoot {
    /// Opens (creating) the stores below `root` with default unpack limits.
    pub fn open(root: impl AsRef<std::path::Path>) -> Result<ImageRoot, RootError> {
        ImageRoot::open_with(root, LayerUnpacker::default())
    }

    /// Opens (creating) the stores below `root` with this unpacker.
    pub fn open_with(
        root: impl AsRef<std::path::Path>,
        unpacker: LayerUnpacker,
    ) -> Result<ImageRoot, RootError> {
        let root = root.as_ref();
        let content = ContentStore::open(root.join("content"))?;
        let images = ImageStore::open(root.join("images"), content.clone())?;
        let snapshots = Snapshotter::open(root.join("snapshots"), unpacker)?;
        Ok(ImageRoot {
            content,
            images,
            snapshots,
        })
    }

    /// The stores as archive operations take them.
    pub fn stores(&self) -> Stores<'_> {
        Stores {
            images: &self.images,
            snapshots: &self.snapshots,
        }
    }
}
