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
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod content;
mod fsutil;
pub mod images;
pub mod manifest;
pub mod pack;
pub mod reference;
pub mod snapshot;
pub mod unpack;

pub use content::{BlobInfo, ContentError, ContentStore, Writer};
pub use images::{HistoryEntry, Image, ImageError, ImageStore, Layer};
pub use manifest::{chain_ids, Compression, Descriptor, Index, Manifest};
pub use reference::{resolve_id_prefix, Digest, Reference, ReferenceError};
pub use snapshot::{
    Change, ChangeKind, CommitInfo, Kind, LayerSource, Mount, SnapshotError, SnapshotInfo,
    Snapshotter, Usage,
};
pub use unpack::{LayerUnpacker, Limits, UnpackError, UnpackStats};
