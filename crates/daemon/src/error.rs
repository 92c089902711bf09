//! The daemon's errors: a kind that the server maps to an HTTP status (in one place), and a
//! message in Docker's words.
use std::fmt;

/// What went wrong, as far as a client is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    NotModified,
    Unauthorized,
    Forbidden,
    Unavailable,
    Internal,
}

/// An error with its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, m)
    }
    pub fn invalid(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, m)
    }
    pub fn forbidden(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Forbidden, m)
    }
    pub fn not_modified() -> Error {
        Error::new(ErrorKind::NotModified, "")
    }
    pub fn internal(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, m)
    }
}

/// The daemon's result.
pub type Result<T> = std::result::Result<T, Error>;

impl From<berth_image::ImageError> for Error {
    fn from(e: berth_image::ImageError) -> Error {
        use berth_image::ImageError as E;
        match e {
            E::NotFound(n) => Error::not_found(format!("No such image: {n}")),
            E::Ambiguous(_) | E::Reference(_) => Error::invalid(e.to_string()),
            E::Conflict { .. } => Error::conflict(e.to_string()),
            other => Error::internal(other.to_string()),
        }
    }
}

impl From<berth_image::ArchiveError> for Error {
    fn from(e: berth_image::ArchiveError) -> Error {
        Error::invalid(e.to_string())
    }
}

impl From<berth_image::SnapshotError> for Error {
    fn from(e: berth_image::SnapshotError) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<berth_shim::ShimError> for Error {
    fn from(e: berth_shim::ShimError) -> Error {
        match e {
            berth_shim::ShimError::Failed(m) => Error::invalid(m),
            other => Error::internal(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<berth_image::registry::RegistryError> for Error {
    fn from(e: berth_image::registry::RegistryError) -> Error {
        use berth_image::registry::RegistryError as E;
        let kind = match &e {
            E::ManifestUnknown { .. } | E::PullDenied { .. } | E::NoSuchLocalImage(_) => {
                ErrorKind::NotFound
            }
            E::Unauthorized(_) | E::LoginFailed { .. } => ErrorKind::Unauthorized,
            E::Denied(_) => ErrorKind::Forbidden,
            E::NoMatchingPlatform(_) | E::InvalidReference(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}
