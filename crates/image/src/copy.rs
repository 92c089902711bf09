//! `docker cp`: stat, archive and extract paths of a container's filesystem, given as a
//! directory fd of its root (a running container's `/proc/<pid>/root`, or a mount of a stopped
//! one's layers).
//!
//! Everything in that tree is hostile and may change while it is read or written. Paths from
//! the request are resolved by the kernel with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`: symlinks are followed the way the container would see them and can
//! never lead out of its root. Walks and writes below that go by fd and never follow a symlink
//! ([`crate::pack::tar_path`], the layer unpacker's entry code with a copy [`Policy`]).
//! Mount points inside the root (a running container's volumes) are entered, kernel
//! filesystems (procfs, sysfs, cgroupfs...) are not: archived as empty directories, refused as
//! destinations; replacing an entry never removes anything below a mount point.
//!
//! Path semantics are Docker's (`ResolvePath` / `StatPath` / `PreserveTrailingDotOrSeparator`):
//! the last component of a path is not followed when it is a symlink, unless the path ends with
//! `/` or `/.`; `dir/.` archives the contents of `dir` under `./`.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::pack::{tar_path, Source};
use crate::unpack::{LayerUnpacker, Policy, UnpackError};

/// Errors of copy operations. Messages name the path as the caller gave it.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The path does not exist.
    #[error("no such file or directory: {0}")]
    NotFound(String),
    /// A component that must be a directory is not one.
    #[error("not a directory: {0}")]
    NotADirectory(String),
    /// An entry would replace a directory with a non-directory or the reverse (Docker's text).
    #[error(
        "cannot overwrite {} {path:?} with {} {dir:?}",
        if *.existing_dir { "directory" } else { "non-directory" },
        if *.existing_dir { "non-directory" } else { "directory" }
    )]
    KindChange {
        /// The entry's path in the container.
        path: String,
        /// The directory extracted into.
        dir: String,
        /// What is there is a directory.
        existing_dir: bool,
    },
    /// A refused or unreadable archive.
    #[error("extract to {dir}: {reason}")]
    Extract {
        /// The directory extracted into.
        dir: String,
        /// What the unpacker said (the entry and what is wrong with it).
        reason: String,
    },
    /// An I/O error on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The path being worked on.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// What `stat` says about a path, as Docker reports it (`X-Docker-Container-Path-Stat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// The base name of the path as given (`/` for the root, `.` for `dir/.`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    /// For a symlink, its target fully resolved inside the root (absolute), else empty.
    pub link_target: String,
}

/// Resolution for paths from the request: symlinks are followed inside the root only.
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Cleans `p` as an absolute path (Go's `filepath.Clean("/" + p)`): the components.
fn components(p: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Docker's absolute form of a path from the request: cleaned, keeping a trailing `/` or `/.`.
fn absolute(p: &str) -> String {
    let mut abs = format!("/{}", components(p).join("/"));
    let dot = p == "." || p.ends_with("/.");
    if dot {
        if !abs.ends_with('/') {
            abs.push('/');
        }
        abs.push('.');
    } else if p.ends_with('/') && !abs.ends_with('/') {
        abs.push('/');
    }
    abs
}

/// Go's `filepath.Split` of an absolute path: (directory with its trailing `/`, base).
fn split(abs: &str) -> (&str, &str) {
    match abs.rfind('/') {
        Some(i) => (&abs[..=i], &abs[i + 1..]),
        None => ("", abs),
    }
}

/// Go's `filepath.Base`.
fn base_name(abs: &str) -> String {
    let t = abs.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// A path relative to the root for `openat2` (`.` for the root).
fn rel(abs: &str) -> &str {
    let r = abs.trim_start_matches('/');
    if r.is_empty() {
        "."
    } else {
        r
    }
}

fn io_err(path: &str) -> impl Fn(Errno) -> CopyError + '_ {
    move |e| match e {
        Errno::NOENT => CopyError::NotFound(path.to_string()),
        Errno::NOTDIR => CopyError::NotADirectory(path.to_string()),
        e => CopyError::Io {
            path: path.to_string(),
            source: e.into(),
        },
    }
}

/// A path of the container found: the directory holding it and its stat.
#[derive(Debug)]
pub struct Resolved {
    /// `O_PATH` fd of the directory holding the path (or of the path itself, see `base`).
    dir: OwnedFd,
    /// The last component, not followed; empty when the path is `dir` itself (`/`, `x/`, `x/.`).
    base: Vec<u8>,
    /// The top entry's name in an archive.
    as_name: String,
    /// What stat says.
    pub stat: PathStat,
}

/// Finds `path` below `root` as Docker's `ResolvePath` + `StatPath` do.
pub fn resolve(root: BorrowedFd<'_>, path: &str) -> Result<Resolved, CopyError> {
    let abs = absolute(path);
    let (dir_part, base) = split(&abs);
    let dir = rustix::fs::openat2(
        root,
        rel(dir_part),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
    .map_err(io_err(path))?;
    let (st, base) = if base.is_empty() || base == "." {
        (rustix::fs::fstat(&dir).map_err(io_err(path))?, Vec::new())
    } else {
        (
            rustix::fs::statat(&dir, base, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err(path))?,
            base.as_bytes().to_vec(),
        )
    };
    let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        follow_in_scope(root, &abs)
    } else {
        String::new()
    };
    let name = base_name(&abs);
    Ok(Resolved {
        dir,
        base,
        as_name: name.clone(),
        stat: PathStat {
            name,
            size: st.st_size.max(0) as u64,
            mode: st.st_mode,
            mtime: (st.st_mtime, st.st_mtime_nsec.clamp(0, 999_999_999) as u32),
            link_target,
        },
    })
}

impl Resolved {
    /// The same path, named `name`: its stat's name and its top entry in an archive.
    pub fn with_name(mut self, name: &str) -> Resolved {
        name.clone_into(&mut self.as_name);
        name.clone_into(&mut self.stat.name);
        self
    }

    /// Writes the path as a tar stream: its top entry named as the path's base name, a
    /// directory with everything below it, a symlink as a symlink.
    pub fn write_tar<W: Write>(&self, w: W) -> io::Result<()> {
        let src = if self.base.is_empty() {
            Source::Dir(self.dir.as_fd())
        } else {
            Source::Entry {
                parent: self.dir.as_fd(),
                name: &self.base,
            }
        };
        tar_path(src, self.as_name.as_bytes(), w)
    }
}

/// Stat of `path` below `root` (Docker's `HEAD /containers/{id}/archive`).
pub fn stat(root: BorrowedFd<'_>, path: &str) -> Result<PathStat, CopyError> {
    Ok(resolve(root, path)?.stat)
}

/// The path a symlink finally leads to inside the root, evaluated component by component like
/// Docker's `FollowSymlinkInScope` (a missing component ends the evaluation lexically).
fn follow_in_scope(root: BorrowedFd<'_>, abs: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut todo: std::collections::VecDeque<String> = abs.split('/').map(String::from).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                out.pop();
                continue;
            }
            _ => {}
        }
        let parent = format!("/{}", out.join("/"));
        let link = rustix::fs::openat2(
            root,
            rel(&parent),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            IN_ROOT,
        )
        .ok()
        .and_then(|d| rustix::fs::readlinkat(&d, c.as_str(), Vec::new()).ok());
        match link {
            Some(t) if hops < 255 => {
                hops += 1;
                let t = t.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    out.clear();
                }
                for (i, part) in t.split('/').enumerate() {
                    todo.insert(i, part.to_string());
                }
            }
            _ => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// How [`extract`] treats owners and existing entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory and vice versa (Docker's
    /// `noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
    /// Owner of every entry instead of the archive's.
    pub owner: Option<(u32, u32)>,
}

/// Opens the existing directory `dir` below `root` (symlinks followed inside the root, the last
/// one too) to extract into.
pub fn open_dir(root: BorrowedFd<'_>, dir: &str) -> Result<OwnedFd, CopyError> {
    let abs = absolute(dir);
    let fd = rustix::fs::openat2(
        root,
        rel(&abs),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
    .map_err(io_err(dir))?;
    let st = rustix::fs::fstat(&fd).map_err(io_err(dir))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(CopyError::NotADirectory(dir.to_string()));
    }
    Ok(fd)
}

/// Extracts the tar stream `r` (plain, gzip or zstd) into the directory `dir` below `root`
/// (see [`open_dir`]). Existing files are replaced, existing directories merged. Names with
/// `..` or absolute ones that leave `dir`, entries through a symlink, hardlinks to outside are
/// refused: nothing is ever written outside `dir`; what came before a refused entry stays.
pub fn extract<R: Read>(
    root: BorrowedFd<'_>,
    dir: &str,
    r: R,
    opts: ExtractOptions,
) -> Result<(), CopyError> {
    let fd = open_dir(root, dir)?;
    if crate::pack::is_pseudo(fd.as_fd()) {
        return Err(CopyError::Extract {
            dir: dir.to_string(),
            reason: "the directory is on a kernel filesystem".into(),
        });
    }
    let policy = Policy {
        layer: false,
        owner: opts.owner,
        no_replace_kind: opts.no_overwrite_dir_non_dir,
        cross_mounts: true,
    };
    match LayerUnpacker::default().extract_into(dir, r, fd.as_fd(), policy) {
        Ok(_) => Ok(()),
        Err(UnpackError::KindChange {
            entry,
            existing_dir,
            ..
        }) => {
            let abs = absolute(dir);
            let comps = components(&entry);
            Err(CopyError::KindChange {
                path: format!("{}/{}", abs.trim_end_matches('/'), comps.join("/")),
                dir: abs,
                existing_dir,
            })
        }
        Err(e) => {
            let text = e.to_string();
            let prefix = format!("unpack layer {dir}: ");
            Err(CopyError::Extract {
                dir: dir.to_string(),
                reason: text.strip_prefix(&prefix).unwrap_or(&text).to_string(),
            })
        }
    }
}

/// Reads the regular file `path` below `root` (at most `limit` bytes), symlinks followed inside
/// the root: `/etc/passwd` and `/etc/group` of a container.
pub fn read_file(root: BorrowedFd<'_>, path: &str, limit: u64) -> Result<Vec<u8>, CopyError> {
    let abs = absolute(path);
    let fd = rustix::fs::openat2(
        root,
        rel(&abs),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        IN_ROOT,
    )
    .map_err(io_err(path))?;
    let st = rustix::fs::fstat(&fd).map_err(io_err(path))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(CopyError::Io {
            path: path.to_string(),
            source: io::Error::other("not a regular file"),
        });
    }
    let mut out = Vec::new();
    std::fs::File::from(fd)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|source| CopyError::Io {
            path: path.to_string(),
            source,
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_docker_sees_them() {
        assert_eq!(absolute("etc/passwd"), "/etc/passwd");
        assert_eq!(absolute("/a/../../b/"), "/b/");
        assert_eq!(absolute("/a/b/."), "/a/b/.");
        assert_eq!(absolute("/"), "/");
        assert_eq!(absolute("."), "/.");
        assert_eq!(split("/a/b"), ("/a/", "b"));
        assert_eq!(split("/a/b/"), ("/a/b/", ""));
        assert_eq!(split("/a/b/."), ("/a/b/", "."));
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(base_name("/a/b/."), ".");
        assert_eq!(base_name("/"), "/");
        assert_eq!(rel("/"), ".");
    }
}

#[cfg(test)]
mod root_tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    fn names(tar: &[u8]) -> Vec<(String, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                (raw, link)
            })
            .collect()
    }

    fn tree() -> (tempfile::TempDir, std::fs::File) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("d/sub")).unwrap();
        fs::write(r.join("d/a.txt"), "a").unwrap();
        fs::write(r.join("d/sub/b"), "b").unwrap();
        fs::write(r.join("f"), "f").unwrap();
        symlink("/", r.join("up")).unwrap();
        symlink("../../..", r.join("d/rel")).unwrap();
        let root = std::fs::File::open(r).unwrap();
        (t, root)
    }

    #[test]
    fn archives_with_dockers_names() {
        let (_t, root) = tree();
        let mut out = Vec::new();
        let r = resolve(root.as_fd(), "/d/.").unwrap();
        r.write_tar(&mut out).unwrap();
        let n: Vec<String> = names(&out).into_iter().map(|x| x.0).collect();
        assert_eq!(n, ["./", "./a.txt", "./rel", "./sub/", "./sub/b"]);
        out.clear();
        resolve(root.as_fd(), "d/")
            .unwrap()
            .write_tar(&mut out)
            .unwrap();
        assert_eq!(names(&out)[0].0, "d/");
        // A symlink is archived as one, and its target is resolved inside the root.
        let r = resolve(root.as_fd(), "/d/rel").unwrap();
        assert_eq!(r.stat.link_target, "/");
        out.clear();
        r.write_tar(&mut out).unwrap();
        assert_eq!(names(&out), [("rel".into(), "../../..".into())]);
        // Followed with a trailing slash: the container's root, not the host's.
        let r = resolve(root.as_fd(), "/up/").unwrap();
        assert_eq!(r.stat.name, "up");
        out.clear();
        r.write_tar(&mut out).unwrap();
        assert!(
            names(&out).iter().any(|x| x.0 == "up/f"),
            "{:?}",
            names(&out)
        );
        assert!(matches!(
            resolve(root.as_fd(), "/nope"),
            Err(CopyError::NotFound(_))
        ));
        assert!(matches!(
            resolve(root.as_fd(), "/f/x"),
            Err(CopyError::NotADirectory(_))
        ));
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(data.len() as u64);
            // Names written raw: the tar crate would refuse `..`.
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, data.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn extraction_stays_inside() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let (t, root) = tree();
        let outside = t.path().join("d");
        let opts = ExtractOptions::default();
        let evil = tar_of(&[
            ("ok", tar::EntryType::Regular, "1"),
            ("../../evil", tar::EntryType::Regular, "x"),
        ]);
        let e = extract(root.as_fd(), "/d/sub", &evil[..], opts).unwrap_err();
        assert!(e.to_string().contains("escapes the root"), "{e}");
        assert_eq!(fs::read_to_string(outside.join("sub/ok")).unwrap(), "1");
        assert!(!t.path().join("evil").exists());
        // Through a symlink in the tree: refused, nothing written where it points.
        let through = tar_of(&[("rel/x", tar::EntryType::Regular, "x")]);
        let e = extract(root.as_fd(), "/d", &through[..], opts).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        // The extraction point itself may be a symlink: followed inside the root.
        let ok = tar_of(&[("g", tar::EntryType::Regular, "g")]);
        extract(root.as_fd(), "/up", &ok[..], opts).unwrap();
        assert_eq!(fs::read_to_string(t.path().join("g")).unwrap(), "g");
        // noOverwriteDirNonDir.
        let dir_over_file = tar_of(&[("f", tar::EntryType::Directory, "")]);
        let strict = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            owner: None,
        };
        let e = extract(root.as_fd(), "/", &dir_over_file[..], strict).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot overwrite non-directory \"/f\" with directory \"/\""
        );
        extract(root.as_fd(), "/", &dir_over_file[..], opts).unwrap();
        assert!(t.path().join("f").is_dir());
        assert!(matches!(
            extract(root.as_fd(), "/d/a.txt", &ok[..], opts),
            Err(CopyError::NotADirectory(_))
        ));
    }
}
