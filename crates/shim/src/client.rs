//! A blocking client for a shim directory (the daemon runs it on blocking threads).
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::{self, AttachHello, Request, Response};

/// Connect to a Unix socket at any path length: paths longer than `sun_path` (108 bytes) are
/// reached through `/proc/self/fd/<dir>/<name>`.
pub fn connect(path: &Path) -> std::io::Result<UnixStream> {
    with_short_path(path, |p| UnixStream::connect(p))
}

/// Run `f` with a path to `path` short enough for a socket address.
pub fn with_short_path<T>(
    path: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    if path.as_os_str().as_bytes().len() < 100 {
        return f(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return f(path);
    };
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd())).join(name);
    f(&short)
}

/// Errors talking to a shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The shim is not there (exited, or never started).
    #[error("shim {dir} is not running: {source}")]
    Gone {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("shim {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("shim {dir}: bad answer: {msg}")]
    Protocol { dir: PathBuf, msg: String },
    /// The shim answered with an error.
    #[error("{0}")]
    Failed(String),
}

/// A handle on one shim directory.
#[derive(Debug, Clone)]
pub struct ShimClient {
    dir: PathBuf,
}

impl ShimClient {
    pub fn new(dir: impl Into<PathBuf>) -> ShimClient {
        ShimClient { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Send one request and read its answer. `Wait` and `ExecWait` block until the process ends.
    /// A `Wait` that finds the shim gone (the container exited and it cleaned up) answers from
    /// the exit record.
    pub fn call(&self, req: &Request) -> Result<Response, ShimError> {
        match self.call_once(req) {
            Err(ShimError::Gone { .. } | ShimError::Io { .. }) if *req == Request::Wait => {
                match self.exit_info() {
                    Some(exit) => Ok(Response {
                        exit: Some(exit),
                        ..Default::default()
                    }),
                    None => self.call_once(req),
                }
            }
            r => r,
        }
    }

    fn call_once(&self, req: &Request) -> Result<Response, ShimError> {
        let path = self.dir.join(protocol::CTL_SOCK);
        let mut s = connect(&path).map_err(|source| ShimError::Gone {
            dir: self.dir.clone(),
            source,
        })?;
        let io = |source| ShimError::Io {
            dir: self.dir.clone(),
            source,
        };
        if !matches!(req, Request::Wait | Request::ExecWait { .. }) {
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .map_err(io)?;
        }
        let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Protocol {
            dir: self.dir.clone(),
            msg: e.to_string(),
        })?;
        line.push(b'\n');
        s.write_all(&line).map_err(io)?;
        let mut answer = String::new();
        BufReader::new(&s).read_line(&mut answer).map_err(io)?;
        if answer.is_empty() {
            return Err(ShimError::Gone {
                dir: self.dir.clone(),
                source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"),
            });
        }
        let r: Response = serde_json::from_str(&answer).map_err(|e| ShimError::Protocol {
            dir: self.dir.clone(),
            msg: e.to_string(),
        })?;
        match r.error {
            Some(e) => Err(ShimError::Failed(e)),
            None => Ok(r),
        }
    }

    /// Connect to the container's (`exec: None`) or an exec's stream.
    pub fn attach(&self, exec: Option<&str>, hello: AttachHello) -> Result<UnixStream, ShimError> {
        let name = match exec {
            Some(id) => protocol::exec_sock(id),
            None => protocol::ATTACH_SOCK.to_string(),
        };
        let mut s = connect(&self.dir.join(name)).map_err(|source| ShimError::Gone {
            dir: self.dir.clone(),
            source,
        })?;
        let mut line = serde_json::to_vec(&hello).unwrap_or_default();
        line.push(b'\n');
        let io = |source| ShimError::Io {
            dir: self.dir.clone(),
            source,
        };
        s.write_all(&line).map_err(io)?;
        // Attached once the shim says so (read byte by byte: the stream follows directly).
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        let mut ack = Vec::new();
        let mut b = [0u8; 1];
        while ack.len() < protocol::ATTACH_ACK.len() {
            match std::io::Read::read(&mut s, &mut b).map_err(io)? {
                0 => break,
                _ => ack.push(b[0]),
            }
        }
        if ack != protocol::ATTACH_ACK {
            return Err(ShimError::Protocol {
                dir: self.dir.clone(),
                msg: format!("attach not acknowledged ({ack:?})"),
            });
        }
        s.set_read_timeout(None).map_err(io)?;
        Ok(s)
    }

    /// The exit record, once the shim has written it.
    pub fn exit_info(&self) -> Option<protocol::ExitInfo> {
        let data = std::fs::read(self.dir.join(protocol::EXIT_FILE)).ok()?;
        serde_json::from_slice(&data).ok()
    }
}
