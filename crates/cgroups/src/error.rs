//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while planning, applying or reading cgroups.
///
/// Messages are lower-case, have no trailing period and name the object (a spec field, a
/// cgroup file, a path). Variants that wrap an [`io::Error`] keep it in a public `err` field so
/// callers can look at `raw_os_error()`; the text of the error is already part of the message.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A value in `linux.resources` (or another input) is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The spec field, e.g. `linux.resources.memory.limit`.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The resource cannot be expressed on this cgroup version.
    #[error("{field}: not supported on cgroup {version}: {reason}")]
    Unsupported {
        /// The spec field.
        field: String,
        /// `v1` or `v2`.
        version: &'static str,
        /// What to do instead, or why.
        reason: String,
    },
    /// A resource needs a controller that is not mounted (v1) or not available (v2).
    #[error("cgroup controller {controller} is not available (needed for {file})")]
    ControllerMissing {
        /// The controller's name.
        controller: String,
        /// The file that would have been written.
        file: String,
    },
    /// The kernel refused a write.
    #[error("cgroup write {}={value}: {}", .file.display(), os_text(.err))]
    Write {
        /// The full path of the file.
        file: PathBuf,
        /// The value that was written.
        value: String,
        /// The error from the kernel.
        err: io::Error,
    },
    /// A cgroup file could not be read.
    #[error("cgroup read {}: {}", .file.display(), os_text(.err))]
    Read {
        /// The full path of the file.
        file: PathBuf,
        /// The underlying error.
        err: io::Error,
    },
    /// A cgroup file had content this crate does not understand.
    #[error("cgroup file {}: {reason}", .file.display())]
    Malformed {
        /// The full path of the file (or a fixture name).
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A cgroup directory could not be created.
    #[error("cgroup mkdir {}: {}", .path.display(), os_text(.err))]
    Create {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        err: io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("cgroup rmdir {}: {}", .path.display(), os_text(.err))]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        err: io::Error,
    },
    /// `cgroupsPath` is unusable.
    #[error("cgroups path {path:?}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// The host's cgroup layout could not be understood.
    #[error("cgroup layout: {0}")]
    Layout(String),
    /// Freezing or thawing did not settle in time.
    #[error("cgroup freezer {}: state did not reach {want} (last seen {seen})", .path.display())]
    FreezeTimeout {
        /// The cgroup directory.
        path: PathBuf,
        /// The state that was asked for.
        want: String,
        /// The state last read.
        seen: String,
    },
    /// A signal could not be sent.
    #[error("signal {signal} to pid {pid}: {}", os_text(.err))]
    Signal {
        /// The signal number.
        signal: i32,
        /// The process.
        pid: i32,
        /// The underlying error.
        err: io::Error,
    },
}

/// The text of an I/O error without Rust's " (os error N)" suffix, starting lower-case.
pub(crate) fn os_text(err: &io::Error) -> String {
    let s = err.to_string();
    let s = match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// Shorthand for a [`CgroupError::Invalid`].
pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CgroupError {
    CgroupError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_file_and_value() {
        let e = CgroupError::Write {
            file: PathBuf::from("/sys/fs/cgroup/memory/x/memory.limit_in_bytes"),
            value: "1024".into(),
            err: io::Error::from_raw_os_error(libc::EBUSY),
        };
        assert_eq!(
            e.to_string(),
            "cgroup write /sys/fs/cgroup/memory/x/memory.limit_in_bytes=1024: device or resource busy"
        );
    }
}
