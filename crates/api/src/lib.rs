//! berth-api: the Docker Engine API wire types shared by `berthd` and the `berth` CLI.
//!
//! Serde types for request and response bodies, the API version range and the error body, with
//! no I/O. Field names, the fields always written versus omitted, and `null` versus `[]`/`{}`
//! follow moby's Go types (API 1.41) so that the stock `docker` CLI, docker-py, docker-compose
//! and bollard read Berth's output as they read dockerd's. Input is read as leniently as Go's
//! decoder does: unknown fields ignored, missing fields and `null` give the zero value (see
//! [`de`]). Lower crates never see these types; the daemon converts at its edge.
//!
//! Module map:
//! - [`version`]: [`MIN_API_VERSION`], [`MAX_API_VERSION`], [`ApiVersion`] (the `/v1.NN` path
//!   prefix) and moby's "too old" error.
//! - [`error`]: [`ErrorResponse`], the `{"message":"..."}` body of every error.
//! - [`filters`]: the `filters` query parameter (both JSON shapes), key validation, key lists.
//! - [`container`]: create / inspect / list / wait / top / changes / update / exec / stats bodies,
//!   `Config`, `HostConfig`, mounts, ports.
//! - [`image`]: image list / inspect / history / delete / prune bodies and JSON progress messages.
//! - [`network`]: networks, create / connect / disconnect bodies, endpoint settings.
//! - [`volume`]: volumes, create / list / prune bodies.
//! - [`system`]: `/version`, `/info`, event messages, `/system/df`, `/auth`.
//! - [`dockerignore`]: the build context's `.dockerignore` matcher (pure).
//! - [`de`]: serde helpers giving Go's leniency and shapes (null-as-default, `StrSlice`,
//!   map-of-empty-objects sets, base64 bytes).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod container;
pub mod de;
pub mod dockerignore;
pub mod error;
pub mod filters;
pub mod image;
pub mod network;
pub mod system;
pub mod version;
pub mod volume;

#[cfg(test)]
mod testutil;

pub use container::IdResponse;
pub use error::ErrorResponse;
pub use filters::{FilterError, Filters};
pub use version::{ApiVersion, VersionError, MAX_API_VERSION, MIN_API_VERSION};

/// Go's zero `time.Time` as encoding/json writes it: the `StartedAt` of a never-started
/// container, the `preread` of a first stats sample, an untagged image's `LastTagTime`.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
