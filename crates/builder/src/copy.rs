//! COPY and ADD sources: wildcards resolved inside a source root (the build context, another
//! stage's or an image's filesystem), their content digested for the cache (names, types, modes
//! and bytes, never times), and a tar of what lands where in the destination, with `--chown` and
//! `--chmod` applied. Every path is opened below the root's fd (`RESOLVE_IN_ROOT` for the named
//! source, no symlink followed below it), so a hostile context cannot make a COPY read outside.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use sha2::{Digest as _, Sha256};

use crate::ignore::{clean, Glob};

/// A COPY/ADD failure the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A named source is not there.
    #[error("file not found in build context or excluded by .dockerignore: stat {0}: file does not exist")]
    NotFound(String),
    /// A wildcard matched nothing.
    #[error("no source files were specified")]
    NoSources,
    /// Several sources into a destination without a trailing `/`.
    #[error("When using COPY with more than one source file, the destination must be a directory and end with a /")]
    DestNotDir,
    /// A bad pattern.
    #[error(transparent)]
    Pattern(#[from] crate::ignore::PatternError),
    /// Reading the sources.
    #[error("{path}: {source}")]
    Io {
        /// The source path.
        path: String,
        /// The error.
        source: io::Error,
    },
}

fn io_err(path: &str) -> impl FnOnce(rustix::io::Errno) -> CopyError + '_ {
    move |e| CopyError::Io {
        path: path.to_string(),
        source: e.into(),
    }
}

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Resolves source patterns to existing relative paths below `root`, in order (each wildcard's
/// matches sorted). A path without wildcards must exist.
pub fn expand_sources(root: BorrowedFd<'_>, patterns: &[String]) -> Result<Vec<String>, CopyError> {
    let mut out = Vec::new();
    for p in patterns {
        let c = clean(p);
        let g = Glob::new(&c)?;
        if !g.has_wildcard() {
            if c != "." {
                rustix::fs::openat2(
                    root,
                    c.as_str(),
                    OFlags::PATH | OFlags::CLOEXEC,
                    Mode::empty(),
                    IN_ROOT,
                )
                .map_err(|_| CopyError::NotFound(c.clone()))?;
            }
            out.push(c);
            continue;
        }
        let mut found = Vec::new();
        glob_walk(
            root,
            &c.split('/').collect::<Vec<_>>(),
            String::new(),
            &mut found,
        )?;
        found.sort();
        out.extend(found);
    }
    if out.is_empty() {
        return Err(CopyError::NoSources);
    }
    Ok(out)
}

fn glob_walk(
    root: BorrowedFd<'_>,
    comps: &[&str],
    prefix: String,
    out: &mut Vec<String>,
) -> Result<(), CopyError> {
    let Some((first, rest)) = comps.split_first() else {
        return Ok(());
    };
    let g = Glob::new(first)?;
    let dir = if prefix.is_empty() {
        ".".to_string()
    } else {
        prefix.clone()
    };
    let Ok(fd) = rustix::fs::openat2(
        root,
        dir.as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    ) else {
        return Ok(());
    };
    for name in list_dir(fd.as_fd()).map_err(io_err(&dir))? {
        if !g.matches(&name) {
            continue;
        }
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if rest.is_empty() {
            out.push(path);
        } else {
            glob_walk(root, rest, path, out)?;
        }
    }
    Ok(())
}

fn list_dir(fd: BorrowedFd<'_>) -> rustix::io::Result<Vec<String>> {
    let dup = rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let d = rustix::fs::Dir::read_from(&dup)?;
    let mut names = Vec::new();
    for e in d {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n != "." && n != ".." {
            names.push(n);
        }
    }
    names.sort();
    Ok(names)
}

/// One entry below a source: its path relative to the source, what it is, and for files an open
/// handle.
pub struct Entry {
    /// Relative path below the source (`""` for the source itself).
    pub rel: String,
    /// `stat` of the entry (not followed).
    pub stat: rustix::fs::Stat,
    /// Symlink target.
    pub link: Option<Vec<u8>>,
    /// The open file, for regular files.
    pub file: Option<std::fs::File>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("rel", &self.rel)
            .field("mode", &format_args!("{:o}", self.stat.st_mode))
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// File type.
    pub fn kind(&self) -> FileType {
        FileType::from_raw_mode(self.stat.st_mode)
    }
}

/// Opens the source `path` below `root` (followed inside the root) and visits it and, for a
/// directory, everything below it in sorted order without following symlinks.
pub fn walk(
    root: BorrowedFd<'_>,
    path: &str,
    visit: &mut dyn FnMut(Entry) -> Result<(), CopyError>,
) -> Result<(), CopyError> {
    let fd = rustix::fs::openat2(
        root,
        path,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
    .map_err(|_| CopyError::NotFound(path.to_string()))?;
    let st = rustix::fs::fstat(&fd).map_err(io_err(path))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            let d = rustix::fs::openat2(
                root,
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                IN_ROOT,
            )
            .map_err(io_err(path))?;
            visit(Entry {
                rel: String::new(),
                stat: st,
                link: None,
                file: None,
            })?;
            walk_dir(d, String::new(), path, visit)
        }
        FileType::RegularFile => {
            let f = rustix::fs::openat2(
                root,
                path,
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
                IN_ROOT,
            )
            .map_err(io_err(path))?;
            visit(Entry {
                rel: String::new(),
                stat: st,
                link: None,
                file: Some(f.into()),
            })
        }
        _ => visit(Entry {
            rel: String::new(),
            stat: st,
            link: None,
            file: None,
        }),
    }
}

fn walk_dir(
    dir: OwnedFd,
    prefix: String,
    what: &str,
    visit: &mut dyn FnMut(Entry) -> Result<(), CopyError>,
) -> Result<(), CopyError> {
    for name in list_dir(dir.as_fd()).map_err(io_err(what))? {
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let st = rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io_err(what))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let d = rustix::fs::openat(
                    &dir,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err(what))?;
                visit(Entry {
                    rel: rel.clone(),
                    stat: st,
                    link: None,
                    file: None,
                })?;
                walk_dir(d, rel, what, visit)?;
            }
            FileType::RegularFile => {
                let f = rustix::fs::openat(
                    &dir,
                    name.as_str(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err(what))?;
                visit(Entry {
                    rel,
                    stat: st,
                    link: None,
                    file: Some(f.into()),
                })?;
            }
            FileType::Symlink => {
                let t = rustix::fs::readlinkat(&dir, name.as_str(), Vec::new())
                    .map_err(io_err(what))?;
                visit(Entry {
                    rel,
                    stat: st,
                    link: Some(t.into_bytes()),
                    file: None,
                })?;
            }
            _ => visit(Entry {
                rel,
                stat: st,
                link: None,
                file: None,
            })?,
        }
    }
    Ok(())
}

/// Content digests of files known in advance (hashed as the context streamed in), by path
/// relative to the root, with the size they had.
pub type Known = std::collections::HashMap<String, (u64, String)>;

/// The cache digest of sources: for every entry its relative path, type, mode, owner, link
/// target and content digest — not its times. File digests come from `known` when it has the
/// file at its size, else the file is read.
pub fn digest(
    root: BorrowedFd<'_>,
    sources: &[String],
    known: &Known,
) -> Result<String, CopyError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for s in sources {
        h.update(format!("src {s}\0").as_bytes());
        walk(root, s, &mut |mut e| {
            h.update(
                format!(
                    "{}\0{:o}\0{}:{}\0",
                    e.rel, e.stat.st_mode, e.stat.st_uid, e.stat.st_gid
                )
                .as_bytes(),
            );
            if let Some(l) = &e.link {
                h.update(l);
                h.update(b"\0");
            }
            if let Some(f) = &mut e.file {
                let path = if e.rel.is_empty() {
                    s.clone()
                } else {
                    format!("{s}/{}", e.rel)
                };
                let size = e.stat.st_size as u64;
                match known.get(&path).filter(|(n, _)| *n == size) {
                    Some((_, d)) => h.update(d.as_bytes()),
                    None => {
                        let mut fh = Sha256::new();
                        loop {
                            let n = f.read(&mut buf).map_err(|source| CopyError::Io {
                                path: s.clone(),
                                source,
                            })?;
                            if n == 0 {
                                break;
                            }
                            fh.update(&buf[..n]);
                        }
                        h.update(hex::encode(fh.finalize()).as_bytes());
                    }
                }
                h.update(b"\0");
            }
            Ok(())
        })?;
    }
    Ok(hex::encode(h.finalize()))
}

/// How entries are written into the destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    /// Owner of every entry (Docker: root unless `--chown`).
    pub owner: (u32, u32),
    /// `--chmod`: mode of every entry.
    pub mode: Option<u32>,
}

/// Writes tar entries for the source `path` below `root` at `dest` (relative to `/`, no leading
/// slash): a directory's contents below `dest` (the directory itself becoming `dest`), anything
/// else as `dest` itself.
pub fn append<W: Write>(
    b: &mut tar::Builder<W>,
    root: BorrowedFd<'_>,
    path: &str,
    dest: &str,
    attrs: Attrs,
) -> Result<(), CopyError> {
    let werr = |source: io::Error| CopyError::Io {
        path: path.to_string(),
        source,
    };
    walk(root, path, &mut |e| {
        let name = if e.rel.is_empty() {
            dest.to_string()
        } else {
            format!("{dest}/{}", e.rel)
        };
        let mut h = tar::Header::new_gnu();
        let kind = e.kind();
        let mode = attrs.mode.unwrap_or(e.stat.st_mode & 0o7777);
        h.set_mode(mode);
        h.set_uid(attrs.owner.0.into());
        h.set_gid(attrs.owner.1.into());
        h.set_mtime(e.stat.st_mtime.max(0) as u64);
        h.set_size(0);
        match kind {
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, format!("{name}/"), io::empty())
                    .map_err(werr)
            }
            FileType::RegularFile => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.stat.st_size as u64);
                let f = e
                    .file
                    .ok_or_else(|| werr(io::Error::other("file not open")))?;
                b.append_data(&mut h, &name, f.take(e.stat.st_size as u64))
                    .map_err(werr)
            }
            FileType::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                let t = e.link.unwrap_or_default();
                b.append_link(
                    &mut h,
                    &name,
                    std::path::Path::new(&*String::from_utf8_lossy(&t)),
                )
                .map_err(werr)
            }
            FileType::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                b.append_data(&mut h, &name, io::empty()).map_err(werr)
            }
            // Devices and sockets in a context are skipped, as Docker's CLI does not send them.
            _ => Ok(()),
        }
    })
}

/// A header for an entry Berth generates (no file behind it).
fn generated(
    kind: tar::EntryType,
    mode: u32,
    owner: (u32, u32),
    mtime: u64,
    size: u64,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(owner.0.into());
    h.set_gid(owner.1.into());
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

/// A generated file (a heredoc) at `dest`.
pub fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    dest: &str,
    data: &[u8],
    mode: u32,
    owner: (u32, u32),
    mtime: u64,
) -> io::Result<()> {
    let mut h = generated(
        tar::EntryType::Regular,
        mode,
        owner,
        mtime,
        data.len() as u64,
    );
    b.append_data(&mut h, dest, data)
}

/// A directory entry at `dest`.
pub fn append_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dest: &str,
    mode: u32,
    owner: (u32, u32),
    mtime: u64,
) -> io::Result<()> {
    let mut h = generated(tar::EntryType::Directory, mode, owner, mtime, 0);
    b.append_data(&mut h, format!("{dest}/"), io::empty())
}

/// The directories from the top of `rel` down to `rel` itself that do not exist below `root`,
/// outermost first (what a COPY destination or a WORKDIR must create).
pub fn missing_dirs(root: BorrowedFd<'_>, rel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = String::new();
    for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        p = if p.is_empty() {
            c.to_string()
        } else {
            format!("{p}/{c}")
        };
        if is_dir(root, &p).is_none() {
            out.push(p.clone());
        }
    }
    out
}

/// Whether `path` below `root` is a directory (followed inside the root); `None` if absent.
pub fn is_dir(root: BorrowedFd<'_>, path: &str) -> Option<bool> {
    let p = clean(path);
    if p == "." {
        return Some(true);
    }
    let fd = rustix::fs::openat2(
        root,
        p.as_str(),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    Some(FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// Whether the source `path` is a local archive ADD unpacks (tar, plain or compressed).
pub fn archive_kind(root: BorrowedFd<'_>, path: &str) -> Option<berth_image::Compression> {
    let fd = rustix::fs::openat2(
        root,
        clean(path).as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut f = std::fs::File::from(fd);
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    head.truncate(n);
    let c = berth_image::Compression::detect(&head);
    if c != berth_image::Compression::None {
        return Some(c);
    }
    (n >= 262 && &head[257..262] == b"ustar").then_some(c)
}

/// Opens the source file `path` below `root` for reading.
pub fn open_source(root: BorrowedFd<'_>, path: &str) -> Result<std::fs::File, CopyError> {
    rustix::fs::openat2(
        root,
        clean(path).as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
    .map(std::fs::File::from)
    .map_err(|_| CopyError::NotFound(path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn tree() -> (tempfile::TempDir, std::fs::File) {
        let t = tempfile::tempdir().expect("tmp");
        let p = t.path();
        std::fs::create_dir_all(p.join("src/sub")).expect("mkdir");
        std::fs::write(p.join("src/a.txt"), "a").expect("w");
        std::fs::write(p.join("src/b.txt"), "b").expect("w");
        std::fs::write(p.join("src/sub/c.md"), "c").expect("w");
        std::fs::set_permissions(p.join("src/b.txt"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        symlink("/etc", p.join("escape")).expect("symlink");
        symlink("../../etc/passwd", p.join("src/up")).expect("symlink");
        let f = std::fs::File::open(p).expect("open");
        (t, f)
    }

    #[test]
    fn wildcards_sorted_and_missing_sources_named() {
        let (_t, root) = tree();
        let got =
            expand_sources(root.as_fd(), &["src/*.txt".into(), "src/sub".into()]).expect("expand");
        assert_eq!(got, vec!["src/a.txt", "src/b.txt", "src/sub"]);
        let e = expand_sources(root.as_fd(), &["nope".into()]).expect_err("missing");
        assert!(
            e.to_string().contains("stat nope: file does not exist"),
            "{e}"
        );
        assert!(matches!(
            expand_sources(root.as_fd(), &["*.zip".into()]),
            Err(CopyError::NoSources)
        ));
        assert_eq!(
            expand_sources(root.as_fd(), &["/src/../src/a.txt".into()]).expect("clean"),
            vec!["src/a.txt"]
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let (_t, root) = tree();
        // `escape` points at /etc: inside the root that is <root>/etc, which does not exist.
        assert!(expand_sources(root.as_fd(), &["escape/passwd".into()]).is_err());
        // Below a source, symlinks are copied as links, never followed.
        let mut names = Vec::new();
        walk(root.as_fd(), "src", &mut |e| {
            names.push((e.rel.clone(), e.kind() == FileType::Symlink));
            Ok(())
        })
        .expect("walk");
        assert!(names.contains(&("up".to_string(), true)));
    }

    #[test]
    fn digest_follows_content_not_times() {
        let (t, root) = tree();
        let srcs = vec!["src".to_string()];
        let d1 = digest(root.as_fd(), &srcs, &Known::new()).expect("digest");
        let f = std::fs::File::options()
            .write(true)
            .open(t.path().join("src/a.txt"))
            .expect("open");
        f.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .expect("mtime");
        assert_eq!(
            digest(root.as_fd(), &srcs, &Known::new()).expect("digest"),
            d1
        );
        std::fs::write(t.path().join("src/a.txt"), "changed").expect("w");
        assert_ne!(
            digest(root.as_fd(), &srcs, &Known::new()).expect("digest"),
            d1
        );
    }

    #[test]
    fn tar_places_directory_contents_at_dest() {
        let (_t, root) = tree();
        let mut b = tar::Builder::new(Vec::new());
        append(
            &mut b,
            root.as_fd(),
            "src",
            "app",
            Attrs {
                owner: (5, 6),
                mode: None,
            },
        )
        .expect("append");
        let data = b.into_inner().expect("tar");
        let mut ar = tar::Archive::new(&data[..]);
        let mut seen = Vec::new();
        for e in ar.entries().expect("entries") {
            let e = e.expect("entry");
            let h = e.header();
            seen.push((
                e.path().expect("path").to_string_lossy().into_owned(),
                h.mode().expect("mode"),
                h.uid().expect("uid"),
            ));
        }
        assert!(seen.contains(&("app/".into(), 0o755, 5)), "{seen:?}");
        assert!(seen.contains(&("app/b.txt".into(), 0o600, 5)), "{seen:?}");
        assert!(
            seen.contains(&("app/sub/c.md".into(), 0o644, 5)),
            "{seen:?}"
        );
    }
}
