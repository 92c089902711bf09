//! The crate's error type.

/// What went wrong in a network operation; messages name the object.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// An argument was not acceptable (bad subnet, name too long, ...).
    #[error("{0}")]
    Invalid(String),
    /// Something asked for already exists or is taken (address, port, subnet overlap).
    #[error("{0}")]
    Conflict(String),
    /// The object was not found.
    #[error("{0}")]
    NotFound(String),
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    /// An [`NetError::Io`] naming what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Io {
            what: what.into(),
            source,
        }
    }
}
