//! Small file-system helpers shared by the stores: atomic writes and directory fsync.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// fsyncs a directory so that a rename or create inside it is durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A name unique within this process and, through the pid and time, across processes.
pub(crate) fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{t:x}", std::process::id())
}

/// Writes `data` to `path` atomically: a temp file beside it, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path without parent"))?;
    let tmp = dir.join(unique_name(".tmp-"));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

/// Resolution flags for paths inside a root: never leave it, never follow magic links, and
/// never follow symlinks at all (a symlink met on the way is an error, `ELOOP`).
pub(crate) const IN_ROOT_NO_SYMLINKS: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Opens a directory of a tree by fd (`O_PATH`), every component checked by the kernel.
pub(crate) fn open_dir_in(root: impl AsFd, rel: &str) -> io::Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    Ok(rustix::fs::openat2(
        root,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT_NO_SYMLINKS,
    )?)
}

/// Opens a directory for reading (entries, xattrs) by fd, without following a symlink.
pub(crate) fn open_dir_read<P: rustix::path::Arg>(
    dirfd: impl AsFd,
    name: P,
) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        dirfd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        IN_ROOT_NO_SYMLINKS,
    )?)
}

/// Removes `name` in `dirfd` whatever it is; a directory is removed with its contents, walking
/// by fd and never following a symlink.
pub(crate) fn remove_at(dirfd: impl AsFd, name: &[u8]) -> io::Result<()> {
    let dirfd = dirfd.as_fd();
    match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    // Never into a mount point (a container's volume or /proc, for `docker cp`).
    let child = rustix::fs::openat2(
        dirfd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
    )?;
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(&child)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_at(&child, &n)?;
    }
    rustix::fs::unlinkat(dirfd, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Removes a whole directory tree by path (the path itself is trusted: it is ours).
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
