//! Layer unpacking: a tar, tar+gzip or tar+zstd stream (compression found by magic bytes) is
//! unpacked entry by entry, never held in memory, while the diff ID (sha256 of the uncompressed
//! tar) is computed and checked.
//!
//! Every path is resolved inside the destination by fd with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: an entry whose name goes through a symlink is
//! refused, as are `..` names that leave the root, absolute names, hardlinks whose target leaves
//! the root, whiteouts that point out, and archives over the size or entry limits.
//! [`LayerUnpacker::unpack`] extracts into a temp sibling and renames it into place only on
//! success, so a refused archive leaves nothing behind.
//!
//! OCI whiteouts become overlayfs whiteouts: `.wh.<name>` a 0/0 character device `<name>`,
//! `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its directory. Owners, modes (setuid
//! too), mtimes, xattrs (except `trusted.overlay.*`, which only Berth may set), hardlinks,
//! symlinks and device nodes are kept.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};

use crate::fsutil::{
    open_dir_in, open_dir_read, remove_at, remove_tree, unique_name, IN_ROOT_NO_SYMLINKS,
};
use crate::manifest::Compression;
use crate::reference::Digest;

/// The whiteout prefix of OCI layers.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque-directory marker of OCI layers.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// The overlayfs xattr marking an opaque directory.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Errors of layer unpacking. Messages name the layer and the entry.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// A hostile or unusable entry.
    #[error("unpack layer {layer}: entry {entry:?} {reason}")]
    Entry {
        /// The layer (its digest, or what the caller called it).
        layer: String,
        /// The entry's name as in the archive.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry would replace a directory with a non-directory or the reverse, and the caller
    /// asked for that to be refused.
    #[error("unpack layer {layer}: entry {entry:?} would replace a {} with a {}", kind_name(*.existing_dir), kind_name(!*.existing_dir))]
    KindChange {
        /// The layer.
        layer: String,
        /// The entry's name as in the archive.
        entry: String,
        /// What is there is a directory (and the entry is not).
        existing_dir: bool,
    },
    /// The uncompressed stream does not hash to the expected diff ID.
    #[error("unpack layer {layer}: diff id mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// The layer.
        layer: String,
        /// The diff ID the config promised.
        expected: Digest,
        /// The diff ID of the data.
        actual: Digest,
    },
    /// More uncompressed bytes than allowed.
    #[error("unpack layer {layer}: more than {limit} bytes uncompressed")]
    TooLarge {
        /// The layer.
        layer: String,
        /// The limit.
        limit: u64,
    },
    /// More entries than allowed.
    #[error("unpack layer {layer}: more than {limit} entries")]
    TooManyEntries {
        /// The layer.
        layer: String,
        /// The limit.
        limit: u64,
    },
    /// The stream is not a valid (compressed) tar.
    #[error("unpack layer {layer}: invalid archive: {reason}")]
    Invalid {
        /// The layer.
        layer: String,
        /// What the decoder said.
        reason: String,
    },
    /// The destination exists already.
    #[error("unpack layer {layer}: destination {dest} exists")]
    Exists {
        /// The layer.
        layer: String,
        /// The destination.
        dest: String,
    },
    /// An I/O error on the destination.
    #[error("unpack layer {layer}: {what}: {source}")]
    Io {
        /// The layer.
        layer: String,
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn kind_name(dir: bool) -> &'static str {
    if dir {
        "directory"
    } else {
        "non-directory"
    }
}

/// Limits against tar and gzip bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum uncompressed bytes of one layer (tar headers included).
    pub max_bytes: u64,
    /// Maximum entries of one layer.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 256 << 30,
            max_entries: 10_000_000,
        }
    }
}

/// What unpacking found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
    /// Bytes of regular-file content written.
    pub unpacked_size: u64,
    /// Number of entries.
    pub entries: u64,
    /// The compression found.
    pub compression: Compression,
}

/// Unpacks layers with configured limits.
#[derive(Debug, Clone, Default)]
pub struct LayerUnpacker {
    limits: Limits,
    sync: bool,
}

/// Reads through, hashing (unless the caller hashes the same bytes) and counting, failing past
/// a limit.
struct Counting<R> {
    inner: R,
    hasher: Option<Sha256>,
    n: u64,
    limit: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.n += n as u64;
        if self.n > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "uncompressed size limit",
            ));
        }
        Ok(n)
    }
}

/// Opens a decompressing reader over `r`, choosing the codec by magic bytes.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut br = BufReader::with_capacity(1 << 20, r);
    let head = br.fill_buf()?;
    let c = Compression::detect(head);
    let rd: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
    };
    Ok((c, rd))
}

#[derive(Default)]
struct Pax {
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<(i64, i64)>,
    atime: Option<(i64, i64)>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn parse_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    let mut nsec: i64 = 0;
    let digits: String = frac.chars().take(9).collect();
    if !digits.is_empty() {
        nsec = format!("{digits:0<9}").parse().ok()?;
    }
    if sec < 0 && nsec > 0 {
        return Some((sec - 1, 1_000_000_000 - nsec));
    }
    Some((sec, nsec))
}

/// Cleans an entry name like Go's `filepath.Clean` and checks it stays inside the root.
/// Returns the components; an empty list is the root itself.
fn clean(name: &[u8], allow_absolute: bool) -> Result<Vec<&[u8]>, &'static str> {
    if name.is_empty() {
        return Err("has an empty name");
    }
    if name.contains(&0) {
        return Err("has a NUL byte in its name");
    }
    if name[0] == b'/' && !allow_absolute {
        return Err("has an absolute name");
    }
    let mut out: Vec<&[u8]> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("escapes the root");
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(c: &[&[u8]]) -> Vec<u8> {
    c.join(&b'/')
}

fn ts(t: (i64, i64)) -> Timestamps {
    let t = Timespec {
        tv_sec: t.0,
        tv_nsec: t.1 as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// How entries are applied: as an image layer, or copied into an existing directory
/// (`docker cp`, see [`crate::copy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// An image layer: OCI whiteouts are converted and a root entry (`./`) sets the root's
    /// owner, mode and times. Otherwise `.wh.` names are plain files and the root is left alone.
    pub(crate) layer: bool,
    /// Owner of every entry, instead of the archive's.
    pub(crate) owner: Option<(u32, u32)>,
    /// Refuse to replace a directory with a non-directory and vice versa (instead of removing
    /// what is there).
    pub(crate) no_replace_kind: bool,
    /// Entries may go below mount points inside the root (a running container's volumes),
    /// except kernel filesystems (procfs, sysfs, cgroupfs...), which are refused.
    pub(crate) cross_mounts: bool,
}

impl Policy {
    /// Image layers.
    pub(crate) const LAYER: Policy = Policy {
        layer: true,
        owner: None,
        no_replace_kind: false,
        cross_mounts: false,
    };

    /// How paths below the root are resolved.
    fn resolve(&self) -> ResolveFlags {
        if self.cross_mounts {
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS
        } else {
            IN_ROOT_NO_SYMLINKS
        }
    }

    /// Refuses a directory on a kernel filesystem when mounts may be crossed.
    fn check_fs(&self, fd: BorrowedFd<'_>) -> EntryResult<()> {
        if self.cross_mounts && crate::pack::is_pseudo(fd) {
            return Err("is on a kernel filesystem".into());
        }
        Ok(())
    }
}

struct Ctx<'a> {
    root: BorrowedFd<'a>,
    policy: Policy,
    /// The last parent directory resolved: (path, O_PATH fd). Dropped whenever anything is
    /// removed, since a removal is the only way a resolved path can change meaning.
    cache: Option<(Vec<u8>, OwnedFd)>,
    dirs: Vec<(Vec<u8>, Timestamps)>,
    buf: Vec<u8>,
    unpacked: u64,
}

type EntryResult<T> = Result<T, String>;

fn errno_reason(e: Errno, what: &str) -> String {
    match e {
        Errno::LOOP => format!("{what} goes through a symlink"),
        Errno::NOTDIR => format!("{what} has a parent that is not a directory"),
        Errno::XDEV => format!("{what} crosses a mount point"),
        e => format!("{what}: {}", io::Error::from(e)),
    }
}

impl<'a> Ctx<'a> {
    /// The O_PATH fd of the directory `comps`, creating missing directories (0755) on the way.
    fn dir(&mut self, comps: &[&[u8]]) -> EntryResult<BorrowedFd<'_>> {
        let key = join(comps);
        let hit = matches!(&self.cache, Some((k, _)) if *k == key);
        if !hit {
            let rel: &[u8] = if key.is_empty() { b"." } else { &key };
            let fd = match rustix::fs::openat2(
                self.root,
                rel,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                self.policy.resolve(),
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => self.walk_create(comps)?,
                Err(e) => return Err(errno_reason(e, "path")),
            };
            self.policy.check_fs(fd.as_fd())?;
            self.cache = Some((key, fd));
        }
        match &self.cache {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Err("internal: no parent".into()),
        }
    }

    fn walk_create(&self, comps: &[&[u8]]) -> EntryResult<OwnedFd> {
        let mut fd = open_dir_in(self.root, "").map_err(|e| format!("open root: {e}"))?;
        self.policy.check_fs(fd.as_fd())?;
        for c in comps {
            let open = |fd: &OwnedFd| {
                rustix::fs::openat2(
                    fd,
                    *c,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    self.policy.resolve(),
                )
            };
            fd = match open(&fd) {
                Ok(f) => f,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(&fd, *c, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(errno_reason(e, "parent directory")),
                    }
                    open(&fd).map_err(|e| errno_reason(e, "path"))?
                }
                Err(e) => return Err(errno_reason(e, "path")),
            };
            self.policy.check_fs(fd.as_fd())?;
        }
        Ok(fd)
    }

    /// Makes room for a new entry `name` in `parent`. Keeps an existing directory when the new
    /// entry is a directory too (tar semantics), else removes whatever is there.
    fn clear(
        &mut self,
        parent: &[&[u8]],
        name: &[u8],
        new_is_dir: bool,
    ) -> Result<bool, EntryError> {
        let no_replace_kind = self.policy.no_replace_kind;
        let p = self.dir(parent)?;
        match rustix::fs::statat(p, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(errno_reason(e, "existing entry").into()),
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if new_is_dir && is_dir {
                    return Ok(true);
                }
                if no_replace_kind && new_is_dir != is_dir {
                    return Err(EntryError::KindChange(is_dir));
                }
                remove_at(p, name).map_err(|e| format!("replace existing entry: {e}"))?;
                self.cache = None;
                Ok(false)
            }
        }
    }
}

/// chmod the node `name` of type `ft` just made in `dir`, through an `O_PATH` fd of it (a
/// symlink swapped in meanwhile is refused, never followed).
fn chmod_node(dir: BorrowedFd<'_>, name: &[u8], ft: FileType, mode: Mode) -> EntryResult<()> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("chmod: {e}"))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| format!("chmod: {e}"))?;
    if FileType::from_raw_mode(st.st_mode) != ft {
        return Err("was replaced while it was made".to_string());
    }
    // The magic link of an O_PATH fd names exactly that inode.
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    rustix::fs::chmod(proc_path.as_str(), mode).map_err(|e| format!("chmod: {e}"))
}

fn set_xattrs(fd: BorrowedFd<'_>, xattrs: &[(String, Vec<u8>)]) -> EntryResult<()> {
    for (k, v) in xattrs {
        if k.starts_with("trusted.overlay.") {
            continue; // only Berth's own whiteout conversion may set overlay xattrs
        }
        match rustix::fs::fsetxattr(fd, k.as_str(), v, XattrFlags::empty()) {
            Ok(()) | Err(Errno::NOTSUP) => {}
            Err(e) => return Err(format!("set xattr {k}: {}", io::Error::from(e))),
        }
    }
    Ok(())
}

impl LayerUnpacker {
    /// An unpacker with these limits.
    pub fn new(limits: Limits) -> LayerUnpacker {
        LayerUnpacker {
            limits,
            sync: false,
        }
    }

    /// Also `syncfs` the destination before it gets its name (durable, slower).
    pub fn with_sync(mut self, sync: bool) -> LayerUnpacker {
        self.sync = sync;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Unpacks `r` into the directory `dest`, which must not exist yet. Extraction happens in a
    /// temp sibling renamed to `dest` on success and removed on any error.
    pub fn unpack<R: Read>(
        &self,
        layer: &str,
        r: R,
        expected: Option<&Digest>,
        dest: &Path,
    ) -> Result<UnpackStats, UnpackError> {
        self.unpack_with(layer, r, expected, dest, true)?
            .hashed(layer)
    }

    /// [`LayerUnpacker::unpack`], but when `hash_plain` is false an uncompressed stream is not
    /// hashed: its diff ID is the digest of the very bytes read, which the caller computes (the
    /// content store's writer, when unpacking a blob while it is being stored) and must check.
    pub(crate) fn unpack_with<R: Read>(
        &self,
        layer: &str,
        r: R,
        expected: Option<&Digest>,
        dest: &Path,
        hash_plain: bool,
    ) -> Result<Unpacked, UnpackError> {
        let ioe = |what: &str| {
            let layer = layer.to_owned();
            let what = what.to_owned();
            move |source: io::Error| UnpackError::Io {
                layer,
                what,
                source,
            }
        };
        let parent = dest
            .parent()
            .ok_or_else(|| ioe("destination")(io::Error::other("no parent")))?;
        if dest.symlink_metadata().is_ok() {
            return Err(UnpackError::Exists {
                layer: layer.into(),
                dest: dest.display().to_string(),
            });
        }
        let tmp = parent.join(unique_name(".unpack-"));
        std::fs::create_dir(&tmp).map_err(ioe("create staging directory"))?;
        let res = (|| {
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(ioe("chmod staging directory"))?;
            let root = File::open(&tmp).map_err(ioe("open staging directory"))?;
            let stats =
                self.unpack_inner(layer, r, expected, root.as_fd(), hash_plain, Policy::LAYER)?;
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &tmp,
                rustix::fs::CWD,
                dest,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => Ok(stats),
                Err(Errno::EXIST) => Err(UnpackError::Exists {
                    layer: layer.into(),
                    dest: dest.display().to_string(),
                }),
                Err(e) => Err(ioe("rename into place")(e.into())),
            }
        })();
        if res.is_err() {
            let _ = remove_tree(&tmp);
        }
        res
    }

    /// Unpacks `r` into the (empty) directory `root`. On error, `root` holds a partial tree:
    /// callers remove it (as [`LayerUnpacker::unpack`] does).
    pub fn unpack_into<R: Read>(
        &self,
        layer: &str,
        r: R,
        expected: Option<&Digest>,
        root: BorrowedFd<'_>,
    ) -> Result<UnpackStats, UnpackError> {
        self.unpack_inner(layer, r, expected, root, true, Policy::LAYER)?
            .hashed(layer)
    }

    /// Extracts `r` (plain, gzip or zstd) into the existing directory `root` entry by entry
    /// with `policy`, with the same protections as layers. `what` names the destination in
    /// errors. On error, what was extracted before the bad entry stays.
    pub(crate) fn extract_into<R: Read>(
        &self,
        what: &str,
        r: R,
        root: BorrowedFd<'_>,
        policy: Policy,
    ) -> Result<Unpacked, UnpackError> {
        self.unpack_inner(what, r, None, root, false, policy)
    }

    fn unpack_inner<R: Read>(
        &self,
        layer: &str,
        r: R,
        expected: Option<&Digest>,
        root: BorrowedFd<'_>,
        hash_plain: bool,
        policy: Policy,
    ) -> Result<Unpacked, UnpackError> {
        let invalid = |e: io::Error| UnpackError::Invalid {
            layer: layer.into(),
            reason: e.to_string(),
        };
        let (compression, rd) = decompress(r).map_err(invalid)?;
        let counting = Counting {
            inner: rd,
            hasher: (hash_plain || compression != Compression::None).then(Sha256::new),
            n: 0,
            limit: self.limits.max_bytes,
        };
        let mut ar = tar::Archive::new(counting);
        let mut ctx = Ctx {
            root,
            policy,
            cache: None,
            dirs: Vec::new(),
            buf: vec![0u8; 256 << 10],
            unpacked: 0,
        };
        let mut entries = 0u64;
        let too_large = |n: u64| n > self.limits.max_bytes;
        let map_read_err = |e: io::Error, n: u64| {
            if e.kind() == io::ErrorKind::FileTooLarge || too_large(n) {
                UnpackError::TooLarge {
                    layer: layer.into(),
                    limit: self.limits.max_bytes,
                }
            } else {
                UnpackError::Invalid {
                    layer: layer.into(),
                    reason: e.to_string(),
                }
            }
        };
        {
            let iter = ar.entries().map_err(|e| map_read_err(e, 0))?;
            for e in iter {
                let mut e = match e {
                    Ok(e) => e,
                    Err(err) => {
                        let big = err.kind() == io::ErrorKind::FileTooLarge;
                        return Err(map_read_err(err, if big { u64::MAX } else { 0 }));
                    }
                };
                entries += 1;
                if entries > self.limits.max_entries {
                    return Err(UnpackError::TooManyEntries {
                        layer: layer.into(),
                        limit: self.limits.max_entries,
                    });
                }
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                match entry(&mut ctx, &mut e) {
                    Ok(()) => {}
                    Err(EntryError::Io(err)) => {
                        let big = err.kind() == io::ErrorKind::FileTooLarge;
                        return Err(map_read_err(err, if big { u64::MAX } else { 0 }));
                    }
                    Err(EntryError::Bad(reason)) => {
                        return Err(UnpackError::Entry {
                            layer: layer.into(),
                            entry: name,
                            reason,
                        })
                    }
                    Err(EntryError::KindChange(existing_dir)) => {
                        return Err(UnpackError::KindChange {
                            layer: layer.into(),
                            entry: name,
                            existing_dir,
                        })
                    }
                }
            }
        }
        // Directory times last: creating entries changed them.
        let dirs = std::mem::take(&mut ctx.dirs);
        for (path, t) in dirs.iter().rev() {
            let comps: Vec<&[u8]> = path
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .collect();
            if let Some((name, parent)) = comps.split_last() {
                if let Ok(p) = ctx.dir(parent) {
                    let _ = rustix::fs::utimensat(p, *name, t, AtFlags::SYMLINK_NOFOLLOW);
                }
            } else if let Ok(fd) = open_dir_read(root, ".") {
                let _ = rustix::fs::futimens(&fd, t);
            }
        }
        let mut counting = ar.into_inner();
        io::copy(&mut counting, &mut io::sink()).map_err(|e| map_read_err(e, counting.n))?;
        let diff_id = counting
            .hasher
            .map(|h| Digest::from_sha256(h.finalize().into()));
        if let (Some(exp), Some(actual)) = (expected, &diff_id) {
            if exp != actual {
                return Err(UnpackError::DiffIdMismatch {
                    layer: layer.into(),
                    expected: exp.clone(),
                    actual: actual.clone(),
                });
            }
        }
        if self.sync {
            rustix::fs::syncfs(root).map_err(|e| UnpackError::Io {
                layer: layer.into(),
                what: "syncfs".into(),
                source: e.into(),
            })?;
        }
        Ok(Unpacked {
            diff_id,
            tar_size: counting.n,
            unpacked_size: ctx.unpacked,
            entries,
            compression,
        })
    }
}

/// What unpacking found, the diff ID unknown when the caller hashes the stream itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unpacked {
    /// sha256 of the uncompressed tar, when computed here.
    pub(crate) diff_id: Option<Digest>,
    /// Size of the uncompressed tar.
    pub(crate) tar_size: u64,
    /// Bytes of regular-file content written.
    pub(crate) unpacked_size: u64,
    /// Number of entries.
    pub(crate) entries: u64,
    /// The compression found.
    pub(crate) compression: Compression,
}

impl Unpacked {
    fn hashed(self, layer: &str) -> Result<UnpackStats, UnpackError> {
        let diff_id = self.diff_id.ok_or_else(|| UnpackError::Invalid {
            layer: layer.into(),
            reason: "internal: diff id not computed".into(),
        })?;
        Ok(UnpackStats {
            diff_id,
            tar_size: self.tar_size,
            unpacked_size: self.unpacked_size,
            entries: self.entries,
            compression: self.compression,
        })
    }
}

enum EntryError {
    Io(io::Error),
    Bad(String),
    /// An entry would replace a directory with a non-directory (`true`) or the reverse.
    KindChange(bool),
}

impl From<String> for EntryError {
    fn from(s: String) -> EntryError {
        EntryError::Bad(s)
    }
}

fn entry<R: Read>(ctx: &mut Ctx<'_>, e: &mut tar::Entry<'_, R>) -> Result<(), EntryError> {
    let policy = ctx.policy;
    let kind = e.header().entry_type();
    if kind.is_pax_global_extensions()
        || kind.is_pax_local_extensions()
        || kind.is_gnu_longname()
        || kind.is_gnu_longlink()
    {
        return Ok(());
    }
    let mut pax = Pax::default();
    if let Some(exts) = e.pax_extensions().map_err(EntryError::Io)? {
        for ext in exts {
            let ext = ext.map_err(EntryError::Io)?;
            let Ok(k) = ext.key() else { continue };
            let v = ext.value_bytes();
            match k {
                "uid" => pax.uid = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                "gid" => pax.gid = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()),
                "mtime" => pax.mtime = parse_time(v),
                "atime" => pax.atime = parse_time(v),
                _ => {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        pax.xattrs.push((x.to_owned(), v.to_vec()));
                    }
                }
            }
        }
    }
    let h = e.header();
    let uid = pax.uid.unwrap_or(h.uid().map_err(EntryError::Io)?);
    let gid = pax.gid.unwrap_or(h.gid().map_err(EntryError::Io)?);
    let (uid, gid) = match (ctx.policy.owner, u32::try_from(uid), u32::try_from(gid)) {
        (Some((u, g)), _, _) | (None, Ok(u), Ok(g)) => (Uid::from_raw(u), Gid::from_raw(g)),
        _ => return Err("has an owner out of range".to_string().into()),
    };
    let mode = Mode::from_raw_mode(h.mode().map_err(EntryError::Io)? & 0o7777);
    let mtime = pax
        .mtime
        .unwrap_or((h.mtime().map_err(EntryError::Io)? as i64, 0));
    let times = {
        let mut t = ts(mtime);
        if let Some(a) = pax.atime {
            t.last_access = Timespec {
                tv_sec: a.0,
                tv_nsec: a.1 as _,
            };
        }
        t
    };
    let path = e.path_bytes().into_owned();
    let comps = clean(&path, false).map_err(|r| EntryError::Bad(r.into()))?;
    let Some((&name, parent)) = comps.split_last() else {
        // The root itself ("./"): only a directory may describe it.
        if !kind.is_dir() {
            return Err("replaces the root".to_string().into());
        }
        if !ctx.policy.layer {
            return Ok(()); // an existing directory copied into keeps its owner and mode
        }
        let fd = open_dir_read(ctx.root, ".").map_err(EntryError::Io)?;
        rustix::fs::fchown(&fd, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
        rustix::fs::fchmod(&fd, mode).map_err(|e| format!("chmod: {e}"))?;
        set_xattrs(fd.as_fd(), &pax.xattrs)?;
        ctx.dirs.push((Vec::new(), times));
        return Ok(());
    };

    // Whiteouts.
    if let Some(target) = name
        .strip_prefix(WHITEOUT_PREFIX.as_bytes())
        .filter(|_| ctx.policy.layer)
    {
        if name == WHITEOUT_OPAQUE.as_bytes() {
            let p = ctx.dir(parent)?;
            let d = open_dir_read(p, ".").map_err(|e| format!("open opaque directory: {e}"))?;
            rustix::fs::fsetxattr(&d, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| format!("set opaque xattr: {}", io::Error::from(e)))?;
            return Ok(());
        }
        if target.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return Ok(()); // other aufs metadata (.wh..wh.plnk, .wh..wh.aufs): ignored as Docker does
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err("is a whiteout of nothing".to_string().into());
        }
        ctx.clear(parent, target, false)?;
        let p = ctx.dir(parent)?;
        rustix::fs::mknodat(
            p,
            target,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .map_err(|e| format!("create whiteout: {}", io::Error::from(e)))?;
        rustix::fs::chownat(p, target, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| format!("chown whiteout: {e}"))?;
        return Ok(());
    }

    use tar::EntryType as T;
    match kind {
        T::Regular | T::Continuous | T::GNUSparse => {
            let open = |p: BorrowedFd<'_>| {
                rustix::fs::openat(
                    p,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
            };
            let p = ctx.dir(parent)?;
            let fd = match open(p) {
                Ok(fd) => fd,
                Err(Errno::EXIST) => {
                    ctx.clear(parent, name, false)?;
                    let p = ctx.dir(parent)?;
                    open(p).map_err(|e| format!("create: {}", io::Error::from(e)))?
                }
                Err(e) => return Err(format!("create: {}", io::Error::from(e)).into()),
            };
            let mut f = File::from(fd);
            loop {
                let n = e.read(&mut ctx.buf).map_err(EntryError::Io)?;
                if n == 0 {
                    break;
                }
                f.write_all(&ctx.buf[..n])
                    .map_err(|e| format!("write: {e}"))?;
                ctx.unpacked += n as u64;
            }
            rustix::fs::fchown(&f, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
            rustix::fs::fchmod(&f, mode).map_err(|e| format!("chmod: {e}"))?;
            set_xattrs(f.as_fd(), &pax.xattrs)?;
            rustix::fs::futimens(&f, &times).map_err(|e| format!("set times: {e}"))?;
        }
        T::Directory => {
            let kept = ctx.clear(parent, name, true)?;
            let p = ctx.dir(parent)?;
            if !kept {
                rustix::fs::mkdirat(p, name, Mode::from_raw_mode(0o700))
                    .map_err(|e| format!("mkdir: {}", io::Error::from(e)))?;
            }
            let d = rustix::fs::openat2(
                p,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
                policy.resolve(),
            );
            let d = d.map_err(|e| errno_reason(e, "directory"))?;
            policy.check_fs(d.as_fd())?;
            rustix::fs::fchown(&d, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
            rustix::fs::fchmod(&d, mode).map_err(|e| format!("chmod: {e}"))?;
            set_xattrs(d.as_fd(), &pax.xattrs)?;
            ctx.dirs.push((path.clone(), times));
        }
        T::Symlink => {
            let target = e
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            if target.is_empty() || target.contains(&0) {
                return Err("is a symlink without a valid target".to_string().into());
            }
            ctx.clear(parent, name, false)?;
            let p = ctx.dir(parent)?;
            rustix::fs::symlinkat(target.as_slice(), p, name)
                .map_err(|e| format!("symlink: {}", io::Error::from(e)))?;
            rustix::fs::chownat(p, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| format!("chown: {e}"))?;
            let _ = rustix::fs::utimensat(p, name, &times, AtFlags::SYMLINK_NOFOLLOW);
        }
        T::Link => {
            let target = e
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            // As Docker: the target is relative to the root, even when written absolute, and
            // must stay inside it.
            let tcomps =
                clean(&target, true).map_err(|r| format!("is a hardlink whose target {r}"))?;
            let Some((&tname, tparent)) = tcomps.split_last() else {
                return Err("is a hardlink to the root".to_string().into());
            };
            if tcomps == comps {
                return Err("is a hardlink to itself".to_string().into());
            }
            let tp = {
                let rel = join(tparent);
                let rel: &[u8] = if rel.is_empty() { b"." } else { &rel };
                rustix::fs::openat2(
                    ctx.root,
                    rel,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    policy.resolve(),
                )
                .map_err(|e| errno_reason(e, "hardlink target"))?
            };
            // Refuse a missing target before touching the destination.
            rustix::fs::statat(&tp, tname, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| errno_reason(e, "hardlink target"))?;
            ctx.clear(parent, name, false)?;
            let p = ctx.dir(parent)?;
            rustix::fs::linkat(&tp, tname, p, name, AtFlags::empty())
                .map_err(|e| errno_reason(e, "hardlink target"))?;
        }
        T::Char | T::Block | T::Fifo => {
            let ft = match kind {
                T::Char => FileType::CharacterDevice,
                T::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let (major, minor) = if ft == FileType::Fifo {
                (0, 0)
            } else {
                (
                    h.device_major().map_err(EntryError::Io)?.unwrap_or(0),
                    h.device_minor().map_err(EntryError::Io)?.unwrap_or(0),
                )
            };
            ctx.clear(parent, name, false)?;
            let p = ctx.dir(parent)?;
            rustix::fs::mknodat(p, name, ft, mode, rustix::fs::makedev(major, minor))
                .map_err(|e| format!("mknod: {}", io::Error::from(e)))?;
            rustix::fs::chownat(p, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| format!("chown: {e}"))?;
            // chmod after chown keeps setuid. chmod follows symlinks and the tree may be a
            // container's (`docker cp`): change the node through an fd that is not one.
            chmod_node(p, name, ft, mode)?;
            let _ = rustix::fs::utimensat(p, name, &times, AtFlags::SYMLINK_NOFOLLOW);
        }
        other => return Err(format!("has an unsupported type {other:?}").into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        let c = |s: &str| clean(s.as_bytes(), false).map(|v| String::from_utf8(join(&v)).unwrap());
        assert_eq!(c("./a/b/").unwrap(), "a/b");
        assert_eq!(c("a/../b").unwrap(), "b");
        assert_eq!(c("./").unwrap(), "");
        assert_eq!(c("a//b/.").unwrap(), "a/b");
        assert_eq!(c("../etc/passwd").unwrap_err(), "escapes the root");
        assert_eq!(c("a/../../b").unwrap_err(), "escapes the root");
        assert_eq!(c("/etc/passwd").unwrap_err(), "has an absolute name");
        assert_eq!(
            clean(b"/etc/passwd", true).unwrap(),
            vec![&b"etc"[..], b"passwd"]
        );
        assert_eq!(parse_time(b"1.5"), Some((1, 500_000_000)));
        assert_eq!(parse_time(b"12"), Some((12, 0)));
    }
}
