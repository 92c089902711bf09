//! `docker cp`: `HEAD`, `GET` and `PUT /containers/{id}/archive` (stat, archive out, extract
//! in), for running and stopped containers.
//!
//! - A running (or paused) container is reached through `/proc/<pid>/root`, opened once as a
//!   directory fd and checked to be the container's own rootfs mount (a recycled pid is
//!   refused). Lookups from it see the container's mount namespace: volumes, binds, tmpfs.
//! - A stopped container is read through a read-only mount of its layers
//!   ([`ContainerService::with_layers_ro`]) and written through a read-write overlay mount of
//!   its snapshot at `containers/<id>/view` (what a crash leaves there is removed on restart),
//!   while its `op` lock keeps it from starting (also while a copy out of it streams: a start
//!   waits for a slow client).
//! - Volumes and binds of a stopped container are not in its layers: a path below a mount
//!   point's destination is served from the mount's source instead (decided on the path as
//!   given: a symlink in the rootfs leading into a volume is not followed there, and inside
//!   the volume the volume is the root; a bound file is reachable by its exact destination only).
//!   A stopped container's tmpfs mounts have no content, and a copy of a directory holding mount
//!   points (`/`) shows the layers only.
//!
//! Paths from the request are resolved in the container's root by the kernel
//! (`RESOLVE_IN_ROOT`), never followed to the host; see [`berth_image::copy`].
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_image::copy::{self, CopyError, ExtractOptions, PathStat};
use berth_image::idtar::{Direction, ShiftReader, ShiftWriter};
use rustix::fs::{Mode, OFlags};
use serde::Serialize;

use super::record::{rfc3339_ns, Record};
use super::{poisoned, ContainerService};
use crate::error::{Error, ErrorKind, Result};

/// Docker's `ContainerPathStat`, sent base64-encoded in `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits.
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// The query of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractRequest {
    /// Refuse to replace a directory with a non-directory and vice versa.
    pub no_overwrite_dir_non_dir: bool,
    /// Files get the container user's uid/gid (`docker cp -a`); else the archive's owners.
    pub copy_uid_gid: bool,
}

/// Go's `os.FileMode` of a `st_mode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if st_mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if st_mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m
}

impl From<&PathStat> for ContainerPathStat {
    fn from(s: &PathStat) -> ContainerPathStat {
        ContainerPathStat {
            name: s.name.clone(),
            size: s.size as i64,
            mode: go_file_mode(s.mode),
            mtime: rfc3339_ns(s.mtime.0 * 1_000_000_000 + i64::from(s.mtime.1)),
            link_target: s.link_target.clone(),
        }
    }
}

/// Docker's errors for a path of container `name` (as the user named both).
fn path_error(e: CopyError, name: &str, path: &str, extracting: bool) -> Error {
    match e {
        CopyError::NotFound(_) => Error::not_found(format!(
            "Could not find the file {path} in container {name}"
        )),
        CopyError::NotADirectory(_) if extracting => {
            Error::invalid("extraction point is not a directory")
        }
        CopyError::NotADirectory(_) => Error::invalid("not a directory"),
        CopyError::Io { ref source, .. } if source.raw_os_error() == Some(libc::EROFS) => {
            Error::new(ErrorKind::Forbidden, e.to_string())
        }
        e @ (CopyError::KindChange { .. } | CopyError::Extract { .. }) => {
            if e.to_string().contains("Read-only file system") {
                Error::new(ErrorKind::Forbidden, e.to_string())
            } else {
                Error::invalid(e.to_string())
            }
        }
        e => Error::internal(e.to_string()),
    }
}

/// The mount point (of the record) whose destination holds the absolute path `abs`, deepest
/// first.
fn mount_of<'r>(r: &'r Record, abs: &str) -> Option<&'r super::mounts::MountPoint> {
    r.mounts
        .iter()
        .filter(|m| {
            let d = m.destination.trim_end_matches('/');
            abs == d || abs.starts_with(&format!("{d}/"))
        })
        .max_by_key(|m| m.destination.len())
}

/// The path cleaned as an absolute path, without keeping a trailing `/` or `/.`.
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// `path` below the mount point `dest`, keeping a trailing `/` or `/.` of `path`.
fn below(dest: &str, path: &str) -> String {
    let abs = clean(path);
    let d = dest.trim_end_matches('/');
    let mut rest = abs.strip_prefix(d).unwrap_or("").to_string();
    if rest.is_empty() {
        rest.push('/');
    }
    if path.ends_with("/.") || path == "." {
        if !rest.ends_with('/') {
            rest.push('/');
        }
        rest.push('.');
    } else if path.ends_with('/') && !rest.ends_with('/') {
        rest.push('/');
    }
    rest
}

fn open_dir(p: &Path) -> Result<OwnedFd> {
    Ok(rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)?)
}

impl ContainerService {
    /// Runs `f` with the container's root fd and the path to use below it (see the module doc),
    /// blocking. `write`: the stopped container's layers are mounted read-write.
    fn with_root<T>(
        &self,
        name: &str,
        path: &str,
        write: bool,
        f: impl FnOnce(BorrowedFd<'_>, &str, &Record) -> Result<T>,
    ) -> Result<T> {
        let c = self.get(name)?;
        let guard = c.op.blocking_lock();
        let r = c.rec.lock().map_err(poisoned)?.clone();
        if r.state.status.is_live() {
            let root = self.live_root(&r)?;
            drop(guard);
            return f(root.as_fd(), path, &r);
        }
        let abs = clean(path);
        if let Some(m) = mount_of(&r, &abs).filter(|m| m.kind != "tmpfs" && !m.source.is_empty()) {
            let src = Path::new(&m.source);
            if std::fs::metadata(src)?.is_dir() {
                let root = open_dir(src)?;
                let rest = below(&m.destination, path);
                return f(root.as_fd(), &rest, &r);
            }
            // A bound file: its directory as the root, the file as the only path in it.
            let (Some(dir), Some(file)) = (src.parent(), src.file_name()) else {
                return Err(Error::internal(format!("bad bind source {}", m.source)));
            };
            if abs != clean(&m.destination) {
                let e = CopyError::NotADirectory(path.to_string());
                return Err(path_error(e, name, path, write));
            }
            let root = open_dir(dir)?;
            let rest = format!("/{}", file.to_string_lossy());
            return f(root.as_fd(), &rest, &r);
        }
        if write {
            self.with_layers_rw(&r.id, |view| f(open_dir(view)?.as_fd(), path, &r))
        } else {
            self.with_layers_ro(&r.id, |view| f(open_dir(view)?.as_fd(), path, &r))
        }
    }

    /// The root of the running container `r` as a directory fd: `/proc/<pid>/root`, checked to
    /// be the container's rootfs mount (so a pid reused by another process is never used).
    fn live_root(&self, r: &Record) -> Result<OwnedFd> {
        let not_running = || Error::conflict(format!("Container {} is not running", r.id));
        if r.state.pid <= 0 {
            return Err(not_running());
        }
        let root = rustix::fs::open(
            format!("/proc/{}/root", r.state.pid).as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|_| not_running())?;
        let got = rustix::fs::fstat(&root).map_err(std::io::Error::from)?;
        let want =
            rustix::fs::stat(self.dir(&r.id).join("bundle/rootfs")).map_err(|_| not_running())?;
        if (got.st_dev, got.st_ino) != (want.st_dev, want.st_ino) {
            return Err(not_running());
        }
        Ok(root)
    }

    /// Run `f` on the stopped container's filesystem mounted read-write (its overlay at
    /// `containers/<id>/view`), unmounted afterwards. The caller holds the `op` lock.
    fn with_layers_rw<T>(&self, id: &str, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        let key = super::lifecycle::snapshot_key(id);
        let mounts = self.images.root().snapshots.mounts(&key)?;
        let m = mounts
            .first()
            .ok_or_else(|| Error::internal("the container has no filesystem"))?;
        let target = self.dir(id).join("view");
        std::fs::create_dir_all(&target)?;
        if let Err(e) =
            crate::images::mount_snapshot(m, &target, "the container's layers read-write")
        {
            let _ = std::fs::remove_dir(&target);
            return Err(e);
        }
        let res = f(&target);
        // Synchronously when possible: the container may start right after.
        let unmounted = std::process::Command::new("umount")
            .arg(&target)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            super::unmount_detached(&target);
        }
        let _ = std::fs::remove_dir(&target);
        res
    }

    /// Calls `f` with the root of a container's filesystem (mounted for the call when the
    /// container is not running; read-write with `write`). Builds write COPY steps this way.
    pub fn with_rootfs<T>(
        &self,
        name: &str,
        write: bool,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_root(name, "/", write, |root, _, _| f(root))
    }

    /// `HEAD /containers/{id}/archive?path=` (blocking).
    pub fn archive_stat(&self, name: &str, path: &str) -> Result<ContainerPathStat> {
        if path.is_empty() {
            return Err(Error::invalid("must specify path parameter"));
        }
        self.with_root(name, path, false, |root, p, _| {
            let st = copy::stat(root, p).map_err(|e| path_error(e, name, path, false))?;
            Ok(ContainerPathStat::from(&st).renamed(path))
        })
    }

    /// `GET /containers/{id}/archive?path=` (blocking): `started` gets the stat before the
    /// first byte of the tar stream is written to `w`. An error before `started` is the
    /// request's; one after it cuts the stream.
    pub fn archive_path<W: Write>(
        &self,
        name: &str,
        path: &str,
        started: impl FnOnce(ContainerPathStat),
        w: W,
    ) -> Result<()> {
        if path.is_empty() {
            return Err(Error::invalid("must specify path parameter"));
        }
        let c = self.get(name)?;
        self.with_root(name, path, false, |root, p, rec| {
            let r = copy::resolve(root, p)
                .map_err(|e| path_error(e, name, path, false))?
                .with_name(&shown_name(path));
            started(ContainerPathStat::from(&r.stat));
            self.event(&c, "archive-path", BTreeMap::new());
            let err = |e: std::io::Error| Error::internal(format!("archive {path}: {e}"));
            match self.idmap_of(rec) {
                // A remapped container's files hold host ids: the archive gets its own.
                Some(map) => {
                    let mut sw = ShiftWriter::new(w, map, Direction::ToContainer);
                    r.write_tar(&mut sw).map_err(err)?;
                    sw.finish().map(drop).map_err(err)
                }
                None => r.write_tar(w).map_err(err),
            }
        })
    }

    /// `PUT /containers/{id}/archive?path=` (blocking): extract the tar stream `r` into the
    /// directory `path` of the container.
    pub fn extract_to_dir<R: Read>(
        &self,
        name: &str,
        path: &str,
        req: ExtractRequest,
        r: R,
    ) -> Result<()> {
        if path.is_empty() {
            return Err(Error::invalid("must specify path parameter"));
        }
        let c = self.get(name)?;
        self.with_root(name, path, true, |root, p, rec| {
            // Docker's order: the extraction point, then whether it may be written.
            copy::open_dir(root, p).map_err(|e| path_error(e, name, path, true))?;
            match mount_of(rec, &clean(path)) {
                Some(m) if !m.rw => {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        "mounted volume is marked read-only",
                    ))
                }
                None if rec.host_config.readonly_rootfs => {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        "container rootfs is marked read-only",
                    ))
                }
                _ => {}
            }
            let mut owner = if req.copy_uid_gid {
                container_owner(root, &rec.config.user)?
            } else {
                None
            };
            if let (Some((u, g)), Some(m)) = (
                owner,
                crate::userns::for_container(self.cfg.userns_remap.as_ref(), &rec.host_config),
            ) {
                owner = Some((
                    m.host_uid(u).unwrap_or(m.root_uid()),
                    m.host_gid(g).unwrap_or(m.root_gid()),
                ));
            }
            let opts = ExtractOptions {
                no_overwrite_dir_non_dir: req.no_overwrite_dir_non_dir,
                owner,
            };
            // Into a remapped container, the archive's ids become their host ids.
            let (mut plain, mut shifted);
            let r: &mut dyn Read = match self.idmap_of(rec) {
                Some(map) => {
                    shifted = ShiftReader::new(r, map, Direction::ToHost);
                    &mut shifted
                }
                None => {
                    plain = r;
                    &mut plain
                }
            };
            copy::extract(root, p, r, opts).map_err(|e| path_error(e, name, path, true))
        })?;
        let rec = self.record(name)?;
        if let Some(remap) =
            crate::userns::for_container(self.cfg.userns_remap.as_ref(), &rec.host_config)
        {
            // A stopped container's layers were mounted without the mapping: what overlay copied
            // up on the way (parent directories) kept the image's ids; give them their host ids.
            let upper = self
                .images
                .root()
                .snapshots
                .fs_path(&super::lifecycle::snapshot_key(&rec.id));
            crate::userns::shift_unmapped(&upper, remap)?;
        }
        self.event(&c, "extract-to-dir", BTreeMap::new());
        Ok(())
    }
}

impl ContainerService {
    /// The user-namespace mapping of a remapped container (`--userns-remap`), if any.
    pub(crate) fn idmap_of(&self, rec: &Record) -> Option<berth_image::snapshot::IdMap> {
        crate::userns::for_container(self.cfg.userns_remap.as_ref(), &rec.host_config)
            .map(|m| m.snapshot_idmap())
    }
}

impl ContainerPathStat {
    /// Named after the path as the user gave it (a path redirected into a volume is found as
    /// the volume's root).
    fn renamed(mut self, path: &str) -> ContainerPathStat {
        self.name = shown_name(path);
        self
    }
}

/// Go's `filepath.Base` of the path as Docker keeps it (`/` for the root, `.` for `x/.`).
fn shown_name(path: &str) -> String {
    if path == "." || path.ends_with("/.") {
        return ".".into();
    }
    let abs = clean(path);
    match abs.rsplit('/').next() {
        Some("") | None => "/".into(),
        Some(b) => b.to_string(),
    }
}

/// `docker cp -a`: the uid and gid of the container's configured user (`name|uid[:group|gid]`,
/// names looked up in the container's own /etc/passwd and /etc/group), `None` when it has none
/// (the archive's owners are kept, as dockerd does).
fn container_owner(root: BorrowedFd<'_>, user: &str) -> Result<Option<(u32, u32)>> {
    if user.is_empty() {
        return Ok(None);
    }
    let read = |p: &str| {
        copy::read_file(root, p, 4 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read("/etc/passwd");
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && (f[0] == u || f[2] == u)).then(|| (f[2].parse().ok(), f[3].parse().ok()))
    });
    let (uid, primary) = match (u.parse::<u32>(), entry) {
        (_, Some((Some(uid), Some(gid)))) => (uid, gid),
        (Ok(uid), _) => (uid, 0),
        _ => {
            return Err(Error::invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    let gid = match g {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => read("/etc/group")
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g)
                        .then(|| f[2].parse().ok())
                        .flatten()
                })
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    Ok(Some((uid, gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o4755), (1 << 23) | 0o755);
        assert_eq!(
            go_file_mode(libc::S_IFCHR | 0o666),
            (1 << 26) | (1 << 21) | 0o666
        );
    }

    #[test]
    fn names_and_volume_paths() {
        assert_eq!(shown_name("/data"), "data");
        assert_eq!(shown_name("/data/"), "data");
        assert_eq!(shown_name("/data/."), ".");
        assert_eq!(shown_name("/"), "/");
        assert_eq!(below("/data", "/data"), "/");
        assert_eq!(below("/data", "/data/."), "/.");
        assert_eq!(below("/data", "/data/x/"), "/x/");
        assert_eq!(below("/data", "/data/../data/y"), "/y");
    }
}
