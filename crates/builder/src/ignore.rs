//! `.dockerignore` and COPY wildcards: the matcher shared with the client, from `berth-api`.
pub use berth_api::dockerignore::{clean, Glob, Ignore, PatternError};
