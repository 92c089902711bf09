//! Id-mapped root filesystems for containers in a user namespace (`--userns-remap`).
//!
//! Image layers are unpacked once, owned by the ids of the image (root is 0). A container whose
//! root is host uid 100000 must see them owned by its own root, without a copy per mapping: each
//! lower layer is cloned as a detached mount (`open_tree(OPEN_TREE_CLONE)`), given the mapping of
//! a user namespace with `mount_setattr(MOUNT_ATTR_IDMAP)`, and handed to a new overlay by fd
//! (`fsconfig(FSCONFIG_SET_FD, "lowerdir+")`). The upper dir is not id-mapped: what the container
//! writes is stored with the host ids of the mapping, as with Docker's remap, and copy-up of a
//! lower file stores the mapped owner.
//!
//! When the kernel or the layers' filesystem cannot id-map a mount, [`mount_overlay`] falls back
//! to chown-copies of the layers made once per mapping into a cache directory (Docker's
//! `<root>/<uid>.<gid>/` model), when the snapshotter named one.
//!
//! The mapping travels from the daemon to whoever mounts the rootfs as mount options of the
//! overlay ([`IdMapping::to_option`], [`CACHE_OPTION`]): the snapshotter's mount format stays
//! the OCI one.
//!
//! Plan and apply: [`split_options`] and [`OverlayPlan::from_options`] are pure; the `mount_*`
//! functions apply them.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::sys;

/// The mount option carrying the mapping (see [`IdMapping::to_option`]).
pub const OPTION: &str = "x-berth.idmap=";
/// The mount option naming the directory for chown-copied layers when id-mapped mounts fail.
pub const CACHE_OPTION: &str = "x-berth.idmap-cache=";

/// Errors of id-mapped mounts.
#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    /// A mount option that is not a valid mapping.
    #[error("invalid id mapping {0:?}: {1}")]
    Parse(String, String),
    /// An overlay mount without the options it needs.
    #[error("overlay mount: {0}")]
    Plan(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> IdmapError {
    let what = what.into();
    move |source| IdmapError::Io { what, source }
}

/// One range of a mapping: `size` ids from `container` inside map to `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside the namespace.
    pub container: u32,
    /// First id on the host.
    pub host: u32,
    /// Number of ids.
    pub size: u32,
}

/// A user namespace's uid and gid mappings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdMapping {
    /// uid ranges.
    pub uids: Vec<IdRange>,
    /// gid ranges.
    pub gids: Vec<IdRange>,
}

fn ranges_text(r: &[IdRange], sep: &str) -> String {
    r.iter()
        .map(|r| format!("{}:{}:{}", r.container, r.host, r.size))
        .collect::<Vec<_>>()
        .join(sep)
}

fn map_id(r: &[IdRange], id: u32) -> Option<u32> {
    r.iter().find_map(|r| {
        id.checked_sub(r.container)
            .filter(|off| *off < r.size)
            .map(|off| r.host + off)
    })
}

impl IdMapping {
    /// The mount option: `x-berth.idmap=<uid ranges>/<gid ranges>`, each range
    /// `container:host:size`, ranges joined by `+`.
    pub fn to_option(&self) -> String {
        format!(
            "{OPTION}{}/{}",
            ranges_text(&self.uids, "+"),
            ranges_text(&self.gids, "+")
        )
    }

    /// Parses the value of [`OPTION`] (without the prefix).
    pub fn parse(value: &str) -> Result<Self, IdmapError> {
        let bad = |m: &str| IdmapError::Parse(value.to_owned(), m.to_owned());
        let (u, g) = value
            .split_once('/')
            .ok_or_else(|| bad("want <uid ranges>/<gid ranges>"))?;
        let ranges = |s: &str| -> Result<Vec<IdRange>, IdmapError> {
            s.split('+')
                .map(|r| {
                    let n: Vec<u32> = r
                        .split(':')
                        .map(|x| x.parse::<u32>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad("ids must be numbers"))?;
                    match n[..] {
                        [container, host, size] if size > 0 => Ok(IdRange {
                            container,
                            host,
                            size,
                        }),
                        _ => Err(bad("each range is container:host:size, size above 0")),
                    }
                })
                .collect()
        };
        Ok(IdMapping {
            uids: ranges(u)?,
            gids: ranges(g)?,
        })
    }

    /// The host uid of container uid `id`, if mapped.
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        map_id(&self.uids, id)
    }

    /// The host gid of container gid `id`, if mapped.
    pub fn host_gid(&self, id: u32) -> Option<u32> {
        map_id(&self.gids, id)
    }

    /// `/proc/<pid>/uid_map` text.
    pub fn uid_map_text(&self) -> String {
        ranges_text(&self.uids, "\n").replace(':', " ") + "\n"
    }

    /// `/proc/<pid>/gid_map` text.
    pub fn gid_map_text(&self) -> String {
        ranges_text(&self.gids, "\n").replace(':', " ") + "\n"
    }
}

/// A mount's options taken apart by [`split_options`]: its mapping, its cache directory for the
/// fallback, and the remaining options.
pub type SplitOptions = (Option<IdMapping>, Option<PathBuf>, Vec<String>);

/// Splits a mount's options into its mapping, its cache directory and the remaining options.
pub fn split_options(options: &[String]) -> Result<SplitOptions, IdmapError> {
    let mut map = None;
    let mut cache = None;
    let mut rest = Vec::new();
    for o in options {
        if let Some(v) = o.strip_prefix(OPTION) {
            map = Some(IdMapping::parse(v)?);
        } else if let Some(v) = o.strip_prefix(CACHE_OPTION) {
            cache = Some(PathBuf::from(v));
        } else {
            rest.push(o.clone());
        }
    }
    Ok((map, cache, rest))
}

/// An overlay mount taken apart: layers as absolute paths (top first) and other options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayPlan {
    /// Lower layers, top first.
    pub lowers: Vec<PathBuf>,
    /// Upper and work dirs, for a writable overlay.
    pub upper: Option<(PathBuf, PathBuf)>,
    /// `ro` was asked for.
    pub read_only: bool,
    /// Other `key[=value]` options, passed on as they are.
    pub other: Vec<String>,
}

impl OverlayPlan {
    /// Parses overlay options (`lowerdir=a:b`, `upperdir=`, `workdir=`, others); relative paths
    /// are taken relative to `cwd`.
    pub fn from_options(options: &[String], cwd: Option<&Path>) -> Result<Self, IdmapError> {
        let abs = |p: &str| match cwd {
            Some(c) if !p.starts_with('/') => c.join(p),
            _ => PathBuf::from(p),
        };
        let (mut lowers, mut upper, mut work, mut read_only, mut other) =
            (Vec::new(), None, None, false, Vec::new());
        for o in options {
            if let Some(v) = o.strip_prefix("lowerdir=") {
                lowers = v.split(':').filter(|s| !s.is_empty()).map(abs).collect();
            } else if let Some(v) = o.strip_prefix("upperdir=") {
                upper = Some(abs(v));
            } else if let Some(v) = o.strip_prefix("workdir=") {
                work = Some(abs(v));
            } else if o == "ro" {
                read_only = true;
            } else if o != "rw" {
                other.push(o.clone());
            }
        }
        if lowers.is_empty() {
            return Err(IdmapError::Plan("no lowerdir".into()));
        }
        let upper = match (upper, work) {
            (Some(u), Some(w)) => Some((u, w)),
            (None, None) => None,
            _ => return Err(IdmapError::Plan("upperdir and workdir go together".into())),
        };
        Ok(OverlayPlan {
            lowers,
            upper,
            read_only,
            other,
        })
    }
}

/// A user namespace with `map`, held by an fd (its holder process is gone). The helper is a
/// child that only waits in pause(2) (async-signal-safe, so this may run in a threaded process).
pub fn user_namespace(map: &IdMapping) -> Result<OwnedFd, IdmapError> {
    let pid = match sys::clone_fork(libc::CLONE_NEWUSER)
        .map_err(io_err("create a user namespace for the id mapping"))?
    {
        sys::Forked::Child => sys::pause_forever(),
        sys::Forked::Parent(pid) => pid,
    };
    let res = (|| {
        fs::write(format!("/proc/{pid}/uid_map"), map.uid_map_text())
            .map_err(io_err("write uid_map of the id-mapping namespace"))?;
        fs::write(format!("/proc/{pid}/gid_map"), map.gid_map_text())
            .map_err(io_err("write gid_map of the id-mapping namespace"))?;
        fs::File::open(format!("/proc/{pid}/ns/user"))
            .map(OwnedFd::from)
            .map_err(io_err("open the id-mapping user namespace"))
    })();
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::waitpid(pid, 0);
    res
}

/// A detached clone of the directory `dir` (a bind mount) id-mapped by `userns`.
pub fn idmapped_clone(dir: &Path, userns: BorrowedFd<'_>) -> Result<OwnedFd, IdmapError> {
    let c = sys::cpath(dir).map_err(io_err(format!("layer {}", dir.display())))?;
    // OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
    let fd = sys::open_tree(
        rustix::fs::CWD,
        &c,
        libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
    )
    .map_err(io_err(format!("clone layer {}", dir.display())))?;
    sys::mount_setattr_idmap(fd.as_fd(), userns)
        .map_err(io_err(format!("id-map layer {}", dir.display())))?;
    Ok(fd)
}

/// Mount `plan` on `target` with each lower layer id-mapped by `userns` (the new mount API:
/// layers by fd, so no intermediate mount point and no page limit on the options).
pub fn mount_overlay_idmapped(
    target: &Path,
    plan: &OverlayPlan,
    userns: BorrowedFd<'_>,
) -> Result<(), IdmapError> {
    let fs = sys::fsopen(c"overlay").map_err(io_err("fsopen overlay"))?;
    // The clones stay open until the overlay exists: overlay takes its private copy of each
    // layer at creation, and a detached mount whose last fd is closed is dissolved.
    let mut layers = Vec::with_capacity(plan.lowers.len());
    for l in &plan.lowers {
        let layer = idmapped_clone(l, userns)?;
        sys::fsconfig_fd(fs.as_fd(), c"lowerdir+", layer.as_fd())
            .map_err(io_err(format!("overlay lowerdir+ {}", l.display())))?;
        layers.push(layer);
    }
    configure_rest(fs.as_fd(), plan)?;
    let m = sys::fsmount(fs.as_fd()).map_err(io_err("create the overlay"))?;
    drop(layers);
    let t = sys::cpath(target).map_err(io_err(format!("target {}", target.display())))?;
    sys::move_mount_to(m.as_fd(), &t).map_err(io_err(format!("mount on {}", target.display())))
}

/// [`mount_overlay_idmapped`] for kernels whose overlay takes layers only by path (before
/// `lowerdir+` by fd): the id-mapped clones are attached below `scratch` (one short directory
/// per layer), named in `lowerdir=`, and detached again once the overlay exists (it holds its
/// own private copies of its layers).
pub fn mount_overlay_idmapped_paths(
    target: &Path,
    plan: &OverlayPlan,
    userns: BorrowedFd<'_>,
    scratch: &Path,
) -> Result<(), IdmapError> {
    struct Attached(Vec<CString>, PathBuf);
    impl Drop for Attached {
        fn drop(&mut self) {
            for p in self.0.drain(..) {
                let _ = sys::umount2(&p, libc::MNT_DETACH);
            }
            let _ = fs::remove_dir_all(&self.1);
        }
    }
    fs::create_dir_all(scratch).map_err(io_err(format!("create {}", scratch.display())))?;
    let mut attached = Attached(Vec::new(), scratch.to_path_buf());
    let mut names = Vec::new();
    for (i, l) in plan.lowers.iter().enumerate() {
        let layer = idmapped_clone(l, userns)?;
        let dir = scratch.join(i.to_string());
        fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        let c = sys::cpath(&dir).map_err(io_err(format!("layer {}", dir.display())))?;
        sys::move_mount_to(layer.as_fd(), &c)
            .map_err(io_err(format!("attach id-mapped layer {}", l.display())))?;
        attached.0.push(c);
        names.push(dir.to_string_lossy().into_owned());
    }
    let fs = sys::fsopen(c"overlay").map_err(io_err("fsopen overlay"))?;
    let lower = CString::new(names.join(":")).map_err(|_| IdmapError::Plan("lowerdir".into()))?;
    sys::fsconfig_string(fs.as_fd(), c"lowerdir", Some(&lower))
        .map_err(io_err("overlay lowerdir"))?;
    configure_rest(fs.as_fd(), plan)?;
    let m = sys::fsmount(fs.as_fd()).map_err(io_err("create the overlay"))?;
    drop(attached);
    let t = sys::cpath(target).map_err(io_err(format!("target {}", target.display())))?;
    sys::move_mount_to(m.as_fd(), &t).map_err(io_err(format!("mount on {}", target.display())))
}

fn configure_rest(fs: BorrowedFd<'_>, plan: &OverlayPlan) -> Result<(), IdmapError> {
    let set = |k: &str, v: Option<&str>| -> Result<(), IdmapError> {
        let ck = CString::new(k).map_err(|_| IdmapError::Plan(format!("option {k:?}")))?;
        let cv = v
            .map(CString::new)
            .transpose()
            .map_err(|_| IdmapError::Plan(format!("option {k:?}")))?;
        sys::fsconfig_string(fs, &ck, cv.as_deref()).map_err(io_err(format!("overlay option {k}")))
    };
    if let Some((u, w)) = &plan.upper {
        set("upperdir", Some(&u.to_string_lossy()))?;
        set("workdir", Some(&w.to_string_lossy()))?;
    }
    if plan.read_only {
        set("ro", None)?;
    }
    for o in &plan.other {
        match o.split_once('=') {
            Some((k, v)) => set(k, Some(v))?,
            None => set(o, None)?,
        }
    }
    Ok(())
}

/// Mount the overlay described by `options` on `target` for a container in `map`: id-mapped
/// lower layers (handed to overlay by fd, or on older kernels attached next to `target` and
/// named by path), or when the kernel refuses to id-map them and `cache` is given, chown-copies
/// of the layers below `cache/<uid>.<gid>/` (made once, shared by every container of the
/// mapping).
pub fn mount_overlay(
    target: &Path,
    options: &[String],
    cwd: Option<&Path>,
    map: &IdMapping,
    cache: Option<&Path>,
) -> Result<(), IdmapError> {
    let plan = OverlayPlan::from_options(options, cwd)?;
    let userns = user_namespace(map)?;
    let by_path = |e: IdmapError| {
        if !idmap_unsupported(&e) {
            return Err(e);
        }
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
        let scratch = target.with_file_name(format!(".{}-idmap", name.unwrap_or_default()));
        mount_overlay_idmapped_paths(target, &plan, userns.as_fd(), &scratch)
    };
    match mount_overlay_idmapped(target, &plan, userns.as_fd()).or_else(by_path) {
        Ok(()) => Ok(()),
        Err(e) if idmap_unsupported(&e) => match cache {
            Some(cache) => mount_overlay_copied(target, &plan, map, cache),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

fn idmap_unsupported(e: &IdmapError) -> bool {
    matches!(e, IdmapError::Io { source, .. }
        if matches!(source.raw_os_error(), Some(libc::EINVAL | libc::EPERM | libc::ENOSYS | libc::EOPNOTSUPP)))
}

/// The fallback: each lower layer chown-copied once into `cache/<uid>.<gid>/<layer id>`, then a
/// plain overlay of the copies.
pub fn mount_overlay_copied(
    target: &Path,
    plan: &OverlayPlan,
    map: &IdMapping,
    cache: &Path,
) -> Result<(), IdmapError> {
    let root_uid = map.host_uid(0).unwrap_or(0);
    let root_gid = map.host_gid(0).unwrap_or(0);
    let dir = cache.join(format!("{root_uid}.{root_gid}"));
    let mut copied = Vec::new();
    for l in &plan.lowers {
        copied.push(shifted_layer(l, &dir, map)?);
    }
    let fs = sys::fsopen(c"overlay").map_err(io_err("fsopen overlay"))?;
    for c in &copied {
        let p = sys::cpath(c).map_err(io_err(format!("layer {}", c.display())))?;
        sys::fsconfig_string(fs.as_fd(), c"lowerdir+", Some(&p))
            .map_err(io_err(format!("overlay lowerdir+ {}", c.display())))?;
    }
    configure_rest(fs.as_fd(), plan)?;
    let m = sys::fsmount(fs.as_fd()).map_err(io_err("create the overlay"))?;
    let t = sys::cpath(target).map_err(io_err(format!("target {}", target.display())))?;
    sys::move_mount_to(m.as_fd(), &t).map_err(io_err(format!("mount on {}", target.display())))
}

/// The chown-copy of `layer` (`…/<id>/fs`) for `map` in `dir/<id>`: made in a temporary
/// directory and renamed into place, so a half-made copy is never used.
fn shifted_layer(layer: &Path, dir: &Path, map: &IdMapping) -> Result<PathBuf, IdmapError> {
    let id = layer
        .parent()
        .and_then(|p| p.file_name())
        .ok_or_else(|| IdmapError::Plan(format!("layer path {}", layer.display())))?;
    let dest = dir.join(id);
    if dest.is_dir() {
        return Ok(dest);
    }
    fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        id.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    let mut links = HashMap::new();
    copy_shifted(layer, &tmp, map, &mut links)?;
    match fs::rename(&tmp, &dest) {
        Ok(()) => Ok(dest),
        // Another start made it first.
        Err(_) if dest.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(dest)
        }
        Err(e) => Err(io_err(format!("rename {}", tmp.display()))(e)),
    }
}

fn copy_shifted(
    src: &Path,
    dst: &Path,
    map: &IdMapping,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), IdmapError> {
    use rustix::fs::{AtFlags, Mode, CWD};
    let md = fs::symlink_metadata(src).map_err(io_err(format!("stat {}", src.display())))?;
    let ft = md.file_type();
    let what = |w: &str| format!("{w} {}", dst.display());
    let (uid, gid) = (
        map.host_uid(md.uid()).unwrap_or(65534),
        map.host_gid(md.gid()).unwrap_or(65534),
    );
    if md.nlink() > 1 && !ft.is_dir() {
        if let Some(first) = links.get(&(md.dev(), md.ino())) {
            return fs::hard_link(first, dst).map_err(io_err(what("link")));
        }
        links.insert((md.dev(), md.ino()), dst.to_path_buf());
    }
    if ft.is_dir() {
        fs::create_dir(dst).map_err(io_err(what("mkdir")))?;
        for e in fs::read_dir(src).map_err(io_err(format!("read {}", src.display())))? {
            let e = e.map_err(io_err(format!("read {}", src.display())))?;
            copy_shifted(&e.path(), &dst.join(e.file_name()), map, links)?;
        }
    } else if ft.is_symlink() {
        let t = fs::read_link(src).map_err(io_err(format!("readlink {}", src.display())))?;
        std::os::unix::fs::symlink(t, dst).map_err(io_err(what("symlink")))?;
    } else if ft.is_file() {
        fs::copy(src, dst).map_err(io_err(what("copy")))?;
    } else {
        // Devices, fifos, sockets and overlay whiteouts (0:0 character devices).
        rustix::fs::mknodat(
            CWD,
            dst,
            rustix::fs::FileType::from_raw_mode(md.mode()),
            Mode::from_raw_mode(md.mode() & 0o7777),
            md.rdev(),
        )
        .map_err(|e| io_err(what("mknod"))(io::Error::from_raw_os_error(e.raw_os_error())))?;
    }
    copy_xattrs(src, dst)?;
    rustix::fs::chownat(
        CWD,
        dst,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_err(what("chown"))(io::Error::from_raw_os_error(e.raw_os_error())))?;
    if !ft.is_symlink() {
        // chown cleared set-id bits; put the mode back.
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(io_err(what("chmod")))?;
    }
    Ok(())
}

/// Overlay's own attributes (opaque directories, redirects) and the file capabilities travel
/// with the copy; other attributes do not matter to a container layer.
fn copy_xattrs(src: &Path, dst: &Path) -> Result<(), IdmapError> {
    let errno = |e: rustix::io::Errno| io::Error::from_raw_os_error(e.raw_os_error());
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(src, &mut names) {
        Ok(n) => n,
        Err(e) if e == rustix::io::Errno::NOTSUP => return Ok(()),
        Err(e) => return Err(io_err(format!("list xattrs {}", src.display()))(errno(e))),
    };
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if !(name.starts_with("trusted.overlay.") || name == "security.capability") {
            continue;
        }
        let mut val = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(src, name, &mut val)
            .map_err(|e| io_err(format!("read xattr {name} of {}", src.display()))(errno(e)))?;
        rustix::fs::lsetxattr(dst, name, &val[..len], rustix::fs::XattrFlags::empty())
            .map_err(|e| io_err(format!("write xattr {name} of {}", dst.display()))(errno(e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> IdMapping {
        IdMapping {
            uids: vec![
                IdRange {
                    container: 0,
                    host: 100000,
                    size: 1000,
                },
                IdRange {
                    container: 1000,
                    host: 300000,
                    size: 10,
                },
            ],
            gids: vec![IdRange {
                container: 0,
                host: 200000,
                size: 65536,
            }],
        }
    }

    #[test]
    fn option_round_trips() {
        let o = m().to_option();
        assert_eq!(
            o,
            "x-berth.idmap=0:100000:1000+1000:300000:10/0:200000:65536"
        );
        let parsed = IdMapping::parse(o.strip_prefix(OPTION).expect("prefix")).expect("parse");
        assert_eq!(parsed, m());
        assert_eq!(parsed.uid_map_text(), "0 100000 1000\n1000 300000 10\n");
    }

    #[test]
    fn bad_options_are_refused() {
        for v in ["", "0:1:2", "0:1/0:1:2", "0:1:0/0:1:1", "a:b:c/0:1:1"] {
            assert!(IdMapping::parse(v).is_err(), "{v}");
        }
    }

    #[test]
    fn ids_map_through_ranges() {
        let m = m();
        assert_eq!(m.host_uid(0), Some(100000));
        assert_eq!(m.host_uid(999), Some(100999));
        assert_eq!(m.host_uid(1005), Some(300005));
        assert_eq!(m.host_uid(1010), None);
        assert_eq!(m.host_gid(65535), Some(265535));
    }

    #[test]
    fn overlay_options_are_taken_apart() {
        let opts: Vec<String> = [
            "lowerdir=l/A:/abs/B",
            "upperdir=/u",
            "workdir=/w",
            "index=off",
            "ro",
            "x-berth.idmap=0:1:2/0:1:2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (map, cache, rest) = split_options(&opts).expect("split");
        assert!(map.is_some() && cache.is_none());
        let p = OverlayPlan::from_options(&rest, Some(Path::new("/root"))).expect("plan");
        assert_eq!(
            p.lowers,
            [PathBuf::from("/root/l/A"), PathBuf::from("/abs/B")]
        );
        assert_eq!(p.upper, Some(("/u".into(), "/w".into())));
        assert!(p.read_only);
        assert_eq!(p.other, ["index=off"]);
        assert!(OverlayPlan::from_options(&["upperdir=/u".into()], None).is_err());
    }
}
