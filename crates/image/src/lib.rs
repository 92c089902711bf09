//! berth-image: everything Berth knows about images, below the daemon and without any Docker
//! Engine API wire type (the daemon converts at its edge).
//!
//! Every path comes from a root directory passed in by the caller (`/var/lib/berth` by default,
//! a temp root in tests). Module map:
//!
//! - [`reference`]: image references (`[registry/]name[:tag][@digest]`) normalised as Docker does,
//!   the sha256 [`Digest`] type and ID-prefix resolution.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod reference;

pub use reference::{resolve_id_prefix, Digest, Reference, ReferenceError};
