//! The runtime's error type. Messages are lower-case, name the object, and carry no trailing
//! period; texts that callers of runc match on (containerd, dockerd) keep runc's wording.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// config.json is missing, malformed or asks for something impossible; names the field.
    #[error("{field}: {msg}")]
    InvalidSpec { field: String, msg: String },
    #[error("container does not exist")]
    NotFound(String),
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("invalid container id {0:?}: only [A-Za-z0-9_+.-] is allowed")]
    InvalidId(String),
    /// The verb does not apply in the container's current state.
    #[error("{0}")]
    InvalidState(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// An error reported by a container process while it set itself up.
    #[error("{0}")]
    Setup(String),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    pub fn spec(field: impl Into<String>, msg: impl Into<String>) -> Self {
        RuntimeError::InvalidSpec {
            field: field.into(),
            msg: msg.into(),
        }
    }
}

/// Attach a context to an `io::Result`.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, RuntimeError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, RuntimeError> {
        self.map_err(|source| RuntimeError::Io {
            context: context(),
            source,
        })
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
