//! berth-builder: Dockerfiles → images, Docker's classic builder semantics.
//!
//! Module map:
//! - [`parser`]: directives, comments, continuations, heredocs, flags, JSON/shell forms (pure).
//! - [`instructions`]: every instruction checked and typed before anything runs.
//! - [`expand`]: variable substitution as Docker's shell lexer does it.
//! - [`ignore`]: `.dockerignore` patterns and the glob used for COPY wildcards.
//! - [`context`]: the context tar unpacked safely, `.dockerignore` applied.
//! - [`copy`]: COPY/ADD sources resolved inside their root, digested, turned into a tar.
//! - [`backend`]: the [`BuildBackend`] trait the daemon implements (containers, commits, cache).
//! - [`build`](mod@build): the evaluator: stages, steps, cache keys, Docker's output stream.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod build;
pub mod context;
pub mod copy;
pub mod expand;
pub mod ignore;
pub mod instructions;
pub mod parser;

pub use backend::{BackendError, BuildBackend, Event, History, ImageInfo, Out, StepContainer};
pub use build::{build, build_with, BuildOptions, BuildResult};
pub use context::Context;
pub use parser::ParseError;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse (before anything ran).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Something the user asked for is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A file the build needs is not there (the Dockerfile, an image).
    #[error("{0}")]
    NotFound(String),
    /// A RUN step failed.
    #[error("The command '{cmd}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as Docker prints it.
        cmd: String,
        /// Its exit code.
        code: i64,
    },
    /// A COPY/ADD failed (message starts with the instruction).
    #[error("{0}")]
    Copy(String),
    /// The engine failed.
    #[error("{0}")]
    Backend(String),
    /// The client went away.
    #[error("the build was cancelled: the client disconnected")]
    Cancelled,
}

impl From<BackendError> for BuildError {
    fn from(e: BackendError) -> BuildError {
        if e.not_found {
            BuildError::NotFound(e.message)
        } else {
            BuildError::Backend(e.message)
        }
    }
}

impl BuildError {
    /// The exit code of a failed RUN step.
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}
