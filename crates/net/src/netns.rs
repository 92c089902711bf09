//! Named network-namespace handles.
//!
//! A container's network namespace is made before the container: [`Netns::create`] unshares a
//! fresh namespace on a short-lived thread and bind-mounts it onto a file (`<run_root>/netns/<id>`),
//! which keeps it alive with no process in it. The daemon plugs interfaces into it and passes the
//! file's path to the OCI runtime as the container's `network` namespace. Work inside it runs on a
//! scoped thread that joined it ([`Netns::run`]); the caller's thread never switches namespaces.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::{sys, NetError};

/// An open network namespace, usually bind-mounted at [`Netns::path`].
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
    path: PathBuf,
}

impl Netns {
    /// Creates a new network namespace and bind-mounts it onto `path` (its parent directory is
    /// created with mode 0700 if missing). On failure nothing is left: no file, no mount.
    pub fn create(path: &Path) -> Result<Netns, NetError> {
        let what = || format!("create network namespace {}", path.display());
        if let Some(parent) = path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| NetError::io(what(), e))?;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => NetError::Conflict(format!(
                    "network namespace {} already exists",
                    path.display()
                )),
                _ => NetError::io(what(), e),
            })?;
        let mounted = std::thread::scope(|s| {
            s.spawn(|| {
                sys::unshare_net()?;
                sys::bind_thread_netns(path)
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
        });
        let opened = mounted.and_then(|()| open_nsfs(path));
        match opened {
            Ok(fd) => Ok(Netns {
                fd,
                path: path.to_owned(),
            }),
            Err(e) => {
                // Best effort: the error that matters is the one that made creation fail.
                let _ = Self::remove(path);
                Err(NetError::io(what(), e))
            }
        }
    }

    /// Opens the namespace bind-mounted at `path`.
    pub fn open(path: &Path) -> Result<Netns, NetError> {
        let fd = open_nsfs(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                NetError::NotFound(format!("no such network namespace: {}", path.display()))
            }
            _ => NetError::io(format!("open network namespace {}", path.display()), e),
        })?;
        Ok(Netns {
            fd,
            path: path.to_owned(),
        })
    }

    /// Unmounts and deletes the handle at `path`; the namespace goes away with its last user.
    /// A missing handle is not an error.
    pub fn remove(path: &Path) -> Result<(), NetError> {
        match sys::umount_detach(path) {
            // EINVAL: not a mount point (a failed create), ENOENT: already gone.
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => {
                return Err(NetError::io(
                    format!("unmount network namespace {}", path.display()),
                    e,
                ))
            }
            _ => {}
        }
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(NetError::io(
                format!("remove network namespace {}", path.display()),
                e,
            )),
            _ => Ok(()),
        }
    }

    /// The namespace's fd (valid as long as `self`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Where the namespace is bind-mounted (the path given to the OCI runtime).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a fresh thread that joined this namespace and returns its result; sockets it
    /// opens belong to the namespace (`ns.run(|| UdpSocket::bind("127.0.0.11:53"))`). A panic
    /// in `f` is resumed on the caller's thread.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetError> {
        let joined =
            std::thread::scope(|s| s.spawn(|| sys::setns_net(self.fd()).map(|()| f())).join());
        match joined {
            Ok(r) => r.map_err(|e| {
                NetError::io(
                    format!("enter network namespace {}", self.path.display()),
                    e,
                )
            }),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Brings the loopback interface of the namespace up.
    pub fn set_loopback_up(&self) -> Result<(), NetError> {
        crate::link::set_up_in(self, "lo")
    }
}

/// Opens `path` and checks that it is a namespace handle.
fn open_nsfs(path: &Path) -> io::Result<OwnedFd> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    if !sys::is_nsfs(f.as_fd())? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a network namespace handle",
        ));
    }
    Ok(f.into())
}
