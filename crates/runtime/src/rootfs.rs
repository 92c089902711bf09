//! The container's root filesystem: a plan computed from the spec (pure, unit-tested) and its
//! application inside the container's mount namespace.
//!
//! Every target is resolved inside the root by fd (`openat2` with `RESOLVE_IN_ROOT`), created
//! there if missing, and mounted onto `/proc/self/fd/N`, so a symlink swapped into the rootfs (or
//! into a shared volume) cannot redirect a mount onto the host. `/proc` and `/sys` targets must not
//! be symlinks at all. Masked paths are covered with a `/dev/null` opened on the host before
//! `pivot_root` and checked to be the real null device.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, Spec};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;

// mount_setattr attribute bits (linux/mount.h).
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;

/// Mount options split into flags, propagation changes and filesystem data, as mount(8) does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: libc::c_ulong,
    /// Flags explicitly cleared (`rw`, `suid`, `dev`, `exec`, …): matter for bind remounts.
    pub cleared: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
    /// `rro`: recursive read-only through mount_setattr.
    pub recursive_ro: bool,
}

/// Split `options` the way runc does. Unknown words are filesystem data.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match opt.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                (0, 0)
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                (0, 0)
            }
            "rro" => {
                o.recursive_ro = true;
                (0, 0)
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.propagation.push(propagation_flag(opt).unwrap_or(0));
                (0, 0)
            }
            // Options of other runtimes' features that are meaningless here.
            "tmpcopyup" | "rrw" | "rsuid" | "rnosuid" | "rdev" | "rnodev" | "rexec" | "rnoexec"
            | "rnoatime" | "ratime" | "rrelatime" | "rnorelatime" | "rstrictatime"
            | "rnostrictatime" | "rdiratime" | "rnodiratime" => (0, 0),
            other => {
                o.data.push(other.to_string());
                (0, 0)
            }
        };
        o.flags = (o.flags | set) & !clear;
        o.cleared = (o.cleared | clear) & !set;
    }
    o
}

/// MS_* propagation flag for an option word.
pub fn propagation_flag(word: &str) -> Option<libc::c_ulong> {
    Some(match word {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// The mount_setattr attributes equivalent to a set of MS_* flags.
pub fn attrs_of(flags: libc::c_ulong) -> u64 {
    let mut a = 0;
    if flags & libc::MS_RDONLY != 0 {
        a |= MOUNT_ATTR_RDONLY;
    }
    if flags & libc::MS_NOSUID != 0 {
        a |= MOUNT_ATTR_NOSUID;
    }
    if flags & libc::MS_NODEV != 0 {
        a |= MOUNT_ATTR_NODEV;
    }
    if flags & libc::MS_NOEXEC != 0 {
        a |= MOUNT_ATTR_NOEXEC;
    }
    if flags & libc::MS_NOATIME != 0 {
        a |= MOUNT_ATTR_NOATIME;
    } else if flags & libc::MS_STRICTATIME != 0 {
        a |= MOUNT_ATTR_STRICTATIME;
    }
    if flags & libc::MS_NODIRATIME != 0 {
        a |= MOUNT_ATTR_NODIRATIME;
    }
    a
}

/// What to mount at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount of a host path.
    Bind { source: PathBuf },
    /// A new filesystem instance (proc, sysfs, tmpfs, devpts, mqueue, cgroup2, overlay…).
    Fs { fstype: String, source: String },
    /// `cgroup` (v1 hierarchies or cgroup2) at the destination.
    Cgroup,
}

/// One step of the mount plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountStep {
    pub index: usize,
    pub kind: MountKind,
    /// Destination relative to the container root.
    pub dest: PathBuf,
    pub opts: MountOptions,
}

/// The whole plan for the root filesystem.
#[derive(Debug, Clone, Default)]
pub struct RootfsPlan {
    pub rootfs: PathBuf,
    pub readonly: bool,
    /// Propagation for `/` in the new mount namespace (MS_SLAVE|MS_REC unless the spec says).
    pub root_propagation: libc::c_ulong,
    pub mounts: Vec<MountStep>,
    /// Whether /dev gets the default devices (it is not a bind mount of a host /dev).
    pub setup_dev: bool,
    pub devices: Vec<DeviceNode>,
    pub masked: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    /// Whether a devpts is mounted at /dev/pts (then /dev/ptmx links to it).
    pub has_devpts: bool,
    pub no_pivot: bool,
}

/// A device node to create (or bind from the host in a user namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Path relative to the root, below `dev/`.
    pub path: PathBuf,
    pub kind: u32,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets (runc's and Docker's list).
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .iter()
    .map(|(n, ma, mi)| DeviceNode {
        path: PathBuf::from("dev").join(n),
        kind: libc::S_IFCHR,
        major: *ma,
        minor: *mi,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// A destination as a path relative to the root, with `.` components dropped.
pub fn rel(dest: &Path) -> PathBuf {
    dest.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Compute the root filesystem plan from a validated spec.
pub fn plan(spec: &Spec, rootfs: &Path, no_pivot: bool) -> Result<RootfsPlan> {
    let linux = spec.linux().as_ref();
    let root_propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => libc::MS_SLAVE | libc::MS_REC,
        Some(p) => propagation_flag(p).ok_or_else(|| {
            RuntimeError::spec(
                "linux.rootfsPropagation",
                format!("unknown propagation {p:?}"),
            )
        })?,
    };
    let mut mounts = Vec::new();
    let mut setup_dev = true;
    let mut has_devpts = false;
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
        let fstype = m.typ().clone().unwrap_or_default();
        let dest = rel(m.destination());
        let kind = if opts.bind || fstype == "bind" {
            let source = m.source().clone().ok_or_else(|| {
                RuntimeError::spec(
                    format!("mounts[{index}].source"),
                    "a bind mount needs a source",
                )
            })?;
            if dest == Path::new("dev") {
                setup_dev = false;
            }
            MountKind::Bind { source }
        } else if fstype == "cgroup" {
            MountKind::Cgroup
        } else if fstype.is_empty() || fstype == "none" {
            return Err(RuntimeError::spec(
                format!("mounts[{index}].type"),
                "is required for a mount that is not a bind mount",
            ));
        } else {
            if fstype == "devpts" && dest == Path::new("dev/pts") {
                has_devpts = true;
            }
            MountKind::Fs {
                source: m
                    .source()
                    .as_ref()
                    .map(|s| s.display().to_string())
                    .unwrap_or_else(|| fstype.clone()),
                fstype,
            }
        };
        mounts.push(MountStep {
            index,
            kind,
            dest,
            opts,
        });
    }
    let mut devices = if setup_dev {
        default_devices()
    } else {
        Vec::new()
    };
    for (i, d) in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RuntimeError::spec(
                    format!("linux.devices[{i}].type"),
                    "\"a\" is only valid in cgroup device rules",
                ))
            }
        };
        let node = DeviceNode {
            path: rel(d.path()),
            kind,
            major: d.major().max(0) as u64,
            minor: d.minor().max(0) as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        devices.retain(|x| x.path != node.path);
        devices.push(node);
    }
    Ok(RootfsPlan {
        rootfs: rootfs.to_path_buf(),
        readonly: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        root_propagation,
        mounts,
        setup_dev,
        devices,
        masked: linux
            .and_then(|l| l.masked_paths().as_ref())
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .collect(),
        readonly_paths: linux
            .and_then(|l| l.readonly_paths().as_ref())
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .collect(),
        has_devpts,
        no_pivot,
    })
}

// ----------------------------------------------------------------------------------------------
// Application (inside the container's mount namespace).

fn errno(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Open `path` inside `root` as an O_PATH fd, never leaving the root.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        path,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
    .map_err(errno)
}

/// Open `path` inside `root`, creating missing directories (and, when `file`, the last
/// component as an empty file) inside the root.
pub fn ensure_in_root(root: BorrowedFd<'_>, path: &Path, file: bool) -> io::Result<OwnedFd> {
    match open_in_root(root, path) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
        Err(_) => {}
    }
    let comps: Vec<_> = rel(path)
        .components()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut cur: OwnedFd = open_in_root(root, Path::new("."))?;
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        // Each prefix is resolved from the real root (RESOLVE_IN_ROOT relative to `cur` would
        // treat `cur` as the root); only the new last component is created relative to `cur`.
        let prefix: PathBuf = comps[..=i].iter().collect();
        cur = match open_in_root(root, &prefix) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if last && file {
                    let f = rustix::fs::openat(
                        cur.as_fd(),
                        c.as_os_str(),
                        OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::WRONLY
                            | OFlags::CLOEXEC
                            | OFlags::NOFOLLOW,
                        Mode::from_raw_mode(0o644),
                    );
                    match f {
                        Ok(_) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(errno(e)),
                    }
                } else {
                    match rustix::fs::mkdirat(
                        cur.as_fd(),
                        c.as_os_str(),
                        Mode::from_raw_mode(0o755),
                    ) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(errno(e)),
                    }
                }
                open_in_root(root, &prefix)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

fn is_dir(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let st = rustix::fs::fstat(fd).map_err(errno)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

fn statfs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let st = rustix::fs::fstatfs(fd).map_err(errno)?;
    Ok(st.f_type as i64)
}

/// Open the container's `/dev/null` without following any symlink and check that it is the
/// real null device, so masking cannot be redirected (CVE-2025-31133 class).
fn verified_dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd> {
    let fd = rustix::fs::openat2(
        root,
        "dev/null",
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        IN_ROOT | ResolveFlags::NO_SYMLINKS,
    )
    .map_err(errno)
    .ctx(|| "open /dev/null in the container".into())?;
    let st = rustix::fs::fstat(&fd)
        .map_err(errno)
        .ctx(|| "stat /dev/null".into())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR
        || rustix::fs::major(st.st_rdev) != 1
        || rustix::fs::minor(st.st_rdev) != 3
    {
        return Err(RuntimeError::Setup(
            "/dev/null in the container is not the null device; refusing to mask with it".into(),
        ));
    }
    Ok(fd)
}

/// Context for applying mounts.
#[derive(Debug)]
pub struct ApplyCtx<'a> {
    pub in_userns: bool,
    /// `/proc/self/cgroup` of INIT as the host sees it.
    pub own_cgroup: &'a str,
    /// Process label for mounts (SELinux), unused when absent.
    pub mount_label: Option<&'a str>,
}

/// Step 1 (before pivot): propagation, the root bind, every mount, devices. Returns the root fd.
pub fn prepare(plan: &RootfsPlan, ctx: &ApplyCtx<'_>) -> Result<OwnedFd> {
    sys::mount(None, c"/", None, plan.root_propagation, None)
        .ctx(|| "set propagation of /".into())?;
    // pivot_root(2) (and MS_MOVE) refuse a new root whose parent mount is shared, and binding
    // from an unbindable mount fails: with rootfsPropagation "shared" or "unbindable" the bind
    // below or the pivot failed with EINVAL. Make the mount holding the rootfs private first,
    // as crun does (runc does it when that mount is shared); the requested propagation is
    // given to the new / after the pivot.
    make_parent_mount_private(&plan.rootfs)?;
    let rootfs = sys::cpath(&plan.rootfs).ctx(|| "rootfs path".into())?;
    sys::mount(
        Some(&rootfs),
        &rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .ctx(|| format!("bind rootfs {}", plan.rootfs.display()))?;
    let root = rustix::fs::open(
        &plan.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)
    .ctx(|| format!("open rootfs {}", plan.rootfs.display()))?;

    for step in &plan.mounts {
        mount_one(root.as_fd(), step, ctx).map_err(|e| match e {
            RuntimeError::Io { context, source } => RuntimeError::Io {
                context: format!(
                    "mounts[{}]: mount {} on {}",
                    step.index,
                    describe(&step.kind),
                    Path::new("/").join(&step.dest).display()
                ) + &if context.is_empty() {
                    String::new()
                } else {
                    format!(" ({context})")
                },
                source,
            },
            other => other,
        })?;
    }
    if plan.setup_dev {
        create_devices(root.as_fd(), &plan.devices, ctx.in_userns)?;
        dev_symlinks(root.as_fd(), plan.has_devpts)?;
    } else {
        for d in &plan.devices {
            create_devices(root.as_fd(), std::slice::from_ref(d), ctx.in_userns)?;
        }
    }
    Ok(root)
}

/// Make the mount that holds `path` private: `path` itself if it is a mount point, else the
/// nearest mount point above it (mount(2) says EINVAL for a path that is not one).
fn make_parent_mount_private(path: &Path) -> Result<()> {
    let mut p = path.to_path_buf();
    loop {
        let c = sys::cpath(&p).ctx(String::new)?;
        match sys::mount(None, &c, None, libc::MS_PRIVATE, None) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && p.pop() => continue,
            Err(e) => {
                return Err(e).ctx(|| format!("make the mount holding {} private", path.display()))
            }
        }
    }
}

fn describe(k: &MountKind) -> String {
    match k {
        MountKind::Bind { source } => source.display().to_string(),
        MountKind::Fs { fstype, .. } => fstype.clone(),
        MountKind::Cgroup => "cgroup".into(),
    }
}

fn mount_one(root: BorrowedFd<'_>, step: &MountStep, ctx: &ApplyCtx<'_>) -> Result<()> {
    let top = step
        .dest
        .components()
        .next()
        .map(|c| c.as_os_str().to_owned());
    let special = matches!(
        top.as_deref().and_then(|s| s.to_str()),
        Some("proc") | Some("sys")
    );
    if special {
        // /proc and /sys must be real directories of the rootfs, never symlinks.
        match rustix::fs::openat2(
            root,
            &step.dest,
            OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            IN_ROOT | ResolveFlags::NO_SYMLINKS,
        ) {
            Ok(fd) if !is_dir(fd.as_fd()).ctx(String::new)? => {
                let st = rustix::fs::fstat(&fd).map_err(errno).ctx(String::new)?;
                let what = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                    "is a symlink; refusing to mount through it"
                } else {
                    "is not a directory"
                };
                return Err(RuntimeError::Setup(format!(
                    "mount destination /{} {what}",
                    step.dest.display()
                )));
            }
            Err(rustix::io::Errno::LOOP) => {
                return Err(RuntimeError::Setup(format!(
                    "mount destination /{} is a symlink; refusing to mount through it",
                    step.dest.display()
                )))
            }
            _ => {}
        }
    }
    match &step.kind {
        MountKind::Bind { source } => {
            let src_is_dir = std::fs::metadata(source)
                .ctx(|| format!("stat {}", source.display()))?
                .is_dir();
            let target = ensure_in_root(root, &step.dest, !src_is_dir).ctx(String::new)?;
            let src = sys::cpath(source).ctx(String::new)?;
            let mut flags = libc::MS_BIND;
            if step.opts.recursive {
                flags |= libc::MS_REC;
            }
            sys::mount(Some(&src), &sys::fd_path(&target), None, flags, None).ctx(String::new)?;
            // Flags on a bind mount need a second step, on the new mount itself.
            let attrs = attrs_of(step.opts.flags);
            let fresh = open_in_root(root, &step.dest).ctx(String::new)?;
            if attrs != 0 || step.opts.recursive_ro {
                let mut set = attrs;
                let mut clr = 0;
                if set & MOUNT_ATTR_ATIME != 0 {
                    clr |= MOUNT_ATTR_ATIME;
                }
                if step.opts.recursive_ro {
                    set |= MOUNT_ATTR_RDONLY;
                }
                sys::mount_setattr(fresh.as_fd(), step.opts.recursive, set, clr)
                    .or_else(|e| {
                        if step.opts.recursive_ro && !step.opts.recursive {
                            sys::mount_setattr(fresh.as_fd(), true, set, clr)
                        } else {
                            Err(e)
                        }
                    })
                    .ctx(|| "set mount attributes".into())?;
            }
            for p in &step.opts.propagation {
                sys::mount(None, &sys::fd_path(&fresh), None, *p, None)
                    .ctx(|| "set propagation".into())?;
            }
        }
        MountKind::Fs { fstype, source } => {
            let target = ensure_in_root(root, &step.dest, false).ctx(String::new)?;
            if !is_dir(target.as_fd()).ctx(String::new)? {
                return Err(RuntimeError::Setup(format!(
                    "mount destination /{} is not a directory",
                    step.dest.display()
                )));
            }
            let mut data = step.opts.data.join(",");
            if let Some(label) = ctx.mount_label {
                if !label.is_empty() && fstype != "proc" && fstype != "sysfs" {
                    if !data.is_empty() {
                        data.push(',');
                    }
                    data.push_str(&format!("context=\"{label}\""));
                }
            }
            let data_c = sys::cstr(&data).ctx(String::new)?;
            let fs_c = sys::cstr(fstype).ctx(String::new)?;
            let src_c = sys::cstr(source).ctx(String::new)?;
            let flags = step.opts.flags & !libc::MS_REMOUNT;
            let r = sys::mount(
                Some(&src_c),
                &sys::fd_path(&target),
                Some(&fs_c),
                flags,
                if data.is_empty() { None } else { Some(&data_c) },
            );
            match r {
                Err(e) if fstype == "sysfs" && e.raw_os_error() == Some(libc::EPERM) => {
                    // Without a private netns (or in a user namespace) sysfs cannot be mounted:
                    // bind the host's, read-only, as runc does.
                    sys::mount(
                        Some(c"/sys"),
                        &sys::fd_path(&target),
                        None,
                        libc::MS_BIND | libc::MS_REC,
                        None,
                    )
                    .ctx(|| "bind /sys".into())?;
                    let fresh = open_in_root(root, &step.dest).ctx(String::new)?;
                    sys::mount_setattr(
                        fresh.as_fd(),
                        true,
                        MOUNT_ATTR_RDONLY
                            | MOUNT_ATTR_NOSUID
                            | MOUNT_ATTR_NODEV
                            | MOUNT_ATTR_NOEXEC,
                        0,
                    )
                    .ctx(|| "make /sys read-only".into())?;
                }
                Err(e) if fstype == "mqueue" && e.raw_os_error() == Some(libc::EPERM) => {
                    // A shared ipc namespace: bind the host's mqueue instead.
                    sys::mount(
                        Some(c"/dev/mqueue"),
                        &sys::fd_path(&target),
                        None,
                        libc::MS_BIND,
                        None,
                    )
                    .ctx(|| "bind /dev/mqueue".into())?;
                }
                r => r.ctx(String::new)?,
            }
            for p in &step.opts.propagation {
                let fresh = open_in_root(root, &step.dest).ctx(String::new)?;
                sys::mount(None, &sys::fd_path(&fresh), None, *p, None)
                    .ctx(|| "set propagation".into())?;
            }
        }
        MountKind::Cgroup => mount_cgroup(root, step, ctx.own_cgroup)?,
    }
    Ok(())
}

/// `cgroup` mounts: cgroup2 where the host is unified, else a tmpfs with each v1 hierarchy
/// bound from the container's own cgroup (read-only unless the options say rw).
fn mount_cgroup(root: BorrowedFd<'_>, step: &MountStep, own: &str) -> Result<()> {
    let target = ensure_in_root(root, &step.dest, false).ctx(String::new)?;
    let ro = step.opts.flags & libc::MS_RDONLY != 0;
    let base_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo".into())?;
    let unified_root = mounts.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.get(4) == Some(&"/sys/fs/cgroup") && l.contains(" - cgroup2 ")
    });
    if unified_root {
        let flags = base_flags | if ro { libc::MS_RDONLY } else { 0 };
        let r = sys::mount(
            Some(c"cgroup2"),
            &sys::fd_path(&target),
            Some(c"cgroup2"),
            flags,
            None,
        );
        if r.is_err() {
            // Not in a private cgroup namespace: bind our own cgroup.
            let path = own
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .unwrap_or("/");
            let src = sys::cstr(&format!("/sys/fs/cgroup{path}")).ctx(String::new)?;
            sys::mount(
                Some(&src),
                &sys::fd_path(&target),
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .ctx(|| "bind cgroup2".into())?;
            let fresh = open_in_root(root, &step.dest).ctx(String::new)?;
            sys::mount_setattr(fresh.as_fd(), true, attrs_of(flags), 0)
                .ctx(|| "cgroup2 flags".into())?;
        }
        return Ok(());
    }
    let data = c"mode=755";
    sys::mount(
        Some(c"tmpfs"),
        &sys::fd_path(&target),
        Some(c"tmpfs"),
        base_flags,
        Some(data),
    )
    .ctx(|| "tmpfs for cgroup hierarchies".into())?;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.get(sep + 1) != Some(&"cgroup") {
            continue;
        }
        let mnt = f[4];
        let Some(name) = mnt.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        if name.contains('/') {
            continue;
        }
        let super_opts = f.get(sep + 3).copied().unwrap_or("");
        let ctrls: Vec<&str> = super_opts
            .split(',')
            .filter(|o| {
                !matches!(
                    *o,
                    "rw" | "ro" | "relatime" | "noatime" | "nosuid" | "nodev" | "noexec"
                )
            })
            .collect();
        // Our path in this hierarchy.
        let path = own
            .lines()
            .find_map(|l| {
                let mut it = l.splitn(3, ':');
                let _ = it.next();
                let c = it.next()?;
                let p = it.next()?;
                let cs: Vec<&str> = c.split(',').collect();
                (!c.is_empty() && ctrls.iter().all(|x| cs.contains(x))).then_some(p)
            })
            .unwrap_or("/");
        let dest = step.dest.join(name);
        let t = ensure_in_root(root, &dest, false).ctx(String::new)?;
        let src = sys::cstr(&format!("{mnt}{path}")).ctx(String::new)?;
        sys::mount(
            Some(&src),
            &sys::fd_path(&t),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .ctx(|| format!("bind cgroup {name}"))?;
        let fresh = open_in_root(root, &dest).ctx(String::new)?;
        let flags = base_flags | if ro { libc::MS_RDONLY } else { 0 };
        sys::mount_setattr(fresh.as_fd(), true, attrs_of(flags), 0)
            .ctx(|| format!("cgroup {name} flags"))?;
        // Combined hierarchies (cpu,cpuacct) get a link per controller, as on the host.
        if name.contains(',') {
            for c in name.split(',') {
                let _ = rustix::fs::symlinkat(
                    name,
                    &open_in_root(root, &step.dest).ctx(String::new)?,
                    c,
                );
            }
        }
    }
    if ro {
        let fresh = open_in_root(root, &step.dest).ctx(String::new)?;
        sys::mount_setattr(fresh.as_fd(), false, MOUNT_ATTR_RDONLY, 0)
            .ctx(|| "cgroup tmpfs ro".into())?;
    }
    Ok(())
}

fn create_devices(root: BorrowedFd<'_>, devices: &[DeviceNode], in_userns: bool) -> Result<()> {
    for d in devices {
        let parent = d.path.parent().unwrap_or(Path::new("dev"));
        let name = d.path.file_name().unwrap_or_default();
        let dir =
            ensure_in_root(root, parent, false).ctx(|| format!("create /{}", parent.display()))?;
        let dir = rustix::fs::openat(
            &dir,
            ".",
            OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        )
        .map_err(errno)
        .ctx(|| format!("open /{}", parent.display()))?;
        if in_userns {
            // mknod is not allowed in a user namespace: bind the host's node.
            let host = Path::new("/").join(&d.path);
            let f = rustix::fs::openat(
                &dir,
                name,
                OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::from_raw_mode(0o644),
            );
            match f {
                Ok(_) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(errno(e)).ctx(|| format!("create /{}", d.path.display())),
            }
            let t = open_in_root(root, &d.path).ctx(|| format!("open /{}", d.path.display()))?;
            let src = sys::cpath(&host).ctx(String::new)?;
            sys::mount(Some(&src), &sys::fd_path(&t), None, libc::MS_BIND, None)
                .ctx(|| format!("bind device {}", host.display()))?;
            continue;
        }
        let _ = rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty());
        let ftype = match d.kind {
            libc::S_IFBLK => rustix::fs::FileType::BlockDevice,
            libc::S_IFIFO => rustix::fs::FileType::Fifo,
            _ => rustix::fs::FileType::CharacterDevice,
        };
        rustix::fs::mknodat(
            &dir,
            name,
            ftype,
            Mode::from_raw_mode(d.mode),
            rustix::fs::makedev(d.major as u32, d.minor as u32),
        )
        .map_err(errno)
        .ctx(|| format!("mknod /{}", d.path.display()))?;
        rustix::fs::chmodat(
            &dir,
            name,
            Mode::from_raw_mode(d.mode),
            rustix::fs::AtFlags::empty(),
        )
        .map_err(errno)
        .ctx(|| format!("chmod /{}", d.path.display()))?;
        rustix::fs::chownat(
            &dir,
            name,
            Some(rustix::fs::Uid::from_raw(d.uid)),
            Some(rustix::fs::Gid::from_raw(d.gid)),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno)
        .ctx(|| format!("chown /{}", d.path.display()))?;
    }
    Ok(())
}

fn dev_symlinks(root: BorrowedFd<'_>, has_devpts: bool) -> Result<()> {
    let dev = ensure_in_root(root, Path::new("dev"), false).ctx(|| "open /dev".into())?;
    let dev = rustix::fs::openat(
        &dev,
        ".",
        OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::empty(),
    )
    .map_err(errno)
    .ctx(|| "open /dev".into())?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    if has_devpts {
        let _ = rustix::fs::unlinkat(&dev, "ptmx", rustix::fs::AtFlags::empty());
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(errno(e)).ctx(|| format!("symlink /dev/{name}")),
        }
    }
    Ok(())
}

/// Bind a terminal's slave onto /dev/console.
pub fn setup_console(root: BorrowedFd<'_>, slave: BorrowedFd<'_>) -> Result<()> {
    let t = ensure_in_root(root, Path::new("dev/console"), true)
        .ctx(|| "create /dev/console".into())?;
    sys::mount(
        Some(&sys::fd_path(&slave.as_raw_fd())),
        &sys::fd_path(&t),
        None,
        libc::MS_BIND,
        None,
    )
    .ctx(|| "bind /dev/console".into())
}

/// Step 2: make the prepared root the process's root.
pub fn pivot(plan: &RootfsPlan, root: &OwnedFd) -> Result<()> {
    sys::fchdir(root.as_fd()).ctx(|| "chdir rootfs".into())?;
    if plan.no_pivot {
        let rootfs = sys::cpath(&plan.rootfs).ctx(String::new)?;
        sys::mount(Some(&rootfs), c"/", None, libc::MS_MOVE, None)
            .ctx(|| "move rootfs to /".into())?;
        sys::chroot(c".").ctx(|| "chroot".into())?;
    } else {
        sys::pivot_root(c".", c".").ctx(|| "pivot_root".into())?;
        // The old root is now stacked under the new one: stop propagation, then detach it.
        sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)
            .ctx(|| "make old root rslave".into())?;
        sys::umount2(c".", libc::MNT_DETACH).ctx(|| "detach old root".into())?;
    }
    std::env::set_current_dir("/").ctx(|| "chdir /".into())?;
    // linux.rootfsPropagation is about the container's /: give it to the new root too (its bind
    // was made from a private mount, so it is private until now), as crun does. Not recursively:
    // the mounts below / keep the propagation their own options asked for.
    sys::mount(
        None,
        c"/",
        None,
        plan.root_propagation & !libc::MS_REC,
        None,
    )
    .ctx(|| "set propagation of the new /".into())?;
    Ok(())
}

/// Step 3 (after pivot): read-only paths, masked paths, read-only root.
pub fn finish(plan: &RootfsPlan) -> Result<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)
    .ctx(|| "open /".into())?;
    for p in &plan.readonly_paths {
        let fd = match open_in_root(root.as_fd(), &rel(p)) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).ctx(|| format!("readonly path {}", p.display())),
        };
        let path = sys::fd_path(&fd);
        sys::mount(Some(&path), &path, None, libc::MS_BIND | libc::MS_REC, None)
            .ctx(|| format!("readonly path {}", p.display()))?;
        let fresh =
            open_in_root(root.as_fd(), &rel(p)).ctx(|| format!("readonly path {}", p.display()))?;
        sys::mount_setattr(
            fresh.as_fd(),
            true,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
            0,
        )
        .ctx(|| format!("readonly path {}", p.display()))?;
    }
    let mut dev_null = None;
    for p in &plan.masked {
        let fd = match open_in_root(root.as_fd(), &rel(p)) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).ctx(|| format!("masked path {}", p.display())),
        };
        if is_dir(fd.as_fd()).ctx(String::new)? {
            sys::mount(
                Some(c"tmpfs"),
                &sys::fd_path(&fd),
                Some(c"tmpfs"),
                libc::MS_RDONLY,
                Some(c"size=0k"),
            )
            .ctx(|| format!("masked path {}", p.display()))?;
        } else {
            if dev_null.is_none() {
                dev_null = Some(verified_dev_null(root.as_fd())?);
            }
            let null = dev_null.as_ref().map(sys::fd_path).unwrap_or_default();
            sys::mount(Some(&null), &sys::fd_path(&fd), None, libc::MS_BIND, None)
                .ctx(|| format!("masked path {}", p.display()))?;
        }
    }
    if plan.readonly {
        sys::mount_setattr(root.as_fd(), false, MOUNT_ATTR_RDONLY, 0)
            .ctx(|| "make / read-only".into())?;
    }
    Ok(())
}

/// Check that an fd is on procfs (before writing through it).
pub fn is_procfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(statfs_magic(fd)? == libc::PROC_SUPER_MAGIC)
}

/// Write a sysctl through /proc/sys, verifying the file is on procfs.
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    let fd = rustix::fs::open(
        &path,
        OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(errno)
    .ctx(|| format!("sysctl {key}"))?;
    if !is_procfs(fd.as_fd()).ctx(|| format!("sysctl {key}"))? {
        return Err(RuntimeError::Setup(format!("sysctl {key}: not on procfs")));
    }
    rustix::io::write(&fd, value.as_bytes())
        .map_err(errno)
        .ctx(|| format!("sysctl {key}={value}"))?;
    Ok(())
}

/// A `CString` for logs and errors.
pub fn display(p: &Path) -> CString {
    sys::cpath(p).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> MountOptions {
        parse_options(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data_are_split() {
        let o = opts(&["nosuid", "noexec", "nodev", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV);
        assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
    }

    #[test]
    fn later_words_win() {
        let o = opts(&["ro", "rw"]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert_ne!(o.cleared & libc::MS_RDONLY, 0);
    }

    #[test]
    fn rbind_and_propagation() {
        let o = opts(&["rbind", "rprivate", "ro"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(attrs_of(o.flags), MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn rro_is_recognised() {
        let o = opts(&["bind", "rro"]);
        assert!(o.recursive_ro && o.bind && !o.recursive);
    }

    #[test]
    fn rel_drops_root_and_dots() {
        assert_eq!(rel(Path::new("/dev/./pts")), PathBuf::from("dev/pts"));
    }

    fn spec_with(v: serde_json::Value) -> Spec {
        crate::spec::parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn plan_orders_mounts_and_devices() {
        let s = spec_with(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
                {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]}
            ],
            "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
                      "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}
        }));
        let p = plan(&s, Path::new("/b/rootfs"), false).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.readonly && p.setup_dev && p.has_devpts);
        assert_eq!(p.mounts.len(), 4);
        assert_eq!(
            p.mounts[3].kind,
            MountKind::Bind {
                source: "/tmp".into()
            }
        );
        assert!(p
            .devices
            .iter()
            .any(|d| d.path == Path::new("dev/fuse") && d.major == 10));
        assert!(p.devices.iter().any(|d| d.path == Path::new("dev/null")));
        assert_eq!(p.root_propagation, libc::MS_SLAVE | libc::MS_REC);
        assert_eq!(p.masked, vec![PathBuf::from("/proc/kcore")]);
    }

    #[test]
    fn bind_of_dev_skips_default_devices() {
        let s = spec_with(serde_json::json!({
            "ociVersion": "1.0.2", "root": {"path": "r"},
            "mounts": [{"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}]
        }));
        let p = plan(&s, Path::new("/r"), false).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.setup_dev && p.devices.is_empty());
    }

    #[test]
    fn unknown_root_propagation_is_refused() {
        let s = spec_with(serde_json::json!({
            "ociVersion": "1.0.2", "root": {"path": "r"}, "linux": {"rootfsPropagation": "sideways"}
        }));
        assert!(plan(&s, Path::new("/r"), false).is_err());
    }
}
