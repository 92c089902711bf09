//! Directory → tar stream, walking by fd and never following a symlink (the tree may belong
//! to a running container). Used by `Snapshotter::commit` (overlay whiteouts turned back into
//! OCI `.wh.` entries) and `archive::export` (a merged rootfs, as is).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use sha2::{Digest as _, Sha256};

use crate::reference::Digest;
use crate::unpack::{OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};

/// How to treat overlayfs whiteouts found in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Overlay whiteouts (0/0 char devices, opaque xattr) become OCI `.wh.` entries.
    ToOci,
    /// Everything is archived as found.
    AsIs,
}

/// A writer that hashes and counts what passes through.
#[derive(Debug)]
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    n: u64,
}

impl<W: Write> HashWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> HashWriter<W> {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            n: 0,
        }
    }
    /// Digest and size of what was written so far, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (
            Digest::from_sha256(self.hasher.finalize().into()),
            self.n,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn list_xattrs(fd: BorrowedFd<'_>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::flistxattr(fd, &mut names[..]) else {
        return out;
    };
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut val = vec![0u8; 65536];
        if let Ok(m) = rustix::fs::fgetxattr(fd, name, &mut val[..]) {
            val.truncate(m);
            out.push((name.to_owned(), val));
        }
    }
    out
}

fn is_opaque(fd: BorrowedFd<'_>) -> bool {
    let mut v = [0u8; 4];
    matches!(rustix::fs::fgetxattr(fd, OVERLAY_OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y')
}

struct Packer<'w, W: Write> {
    b: tar::Builder<&'w mut W>,
    mode: Whiteouts,
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Archive directories of kernel pseudo filesystems (a running container's /proc, /sys)
    /// without their contents.
    skip_pseudo: bool,
    /// File times later than this (Unix seconds) are written as this (`SOURCE_DATE_EPOCH`).
    clamp: Option<u64>,
}

/// procfs, sysfs, cgroup (v1, v2), devpts, mqueue, securityfs, debugfs, tracefs, bpf.
pub(crate) fn is_pseudo(fd: BorrowedFd<'_>) -> bool {
    const MAGICS: [i64; 10] = [
        0x9fa0,
        0x6265_6572,
        0x0027_e0eb,
        0x6367_7270,
        0x1cd1,
        0x1980_0202,
        0x7363_6673,
        0x6462_6720,
        0x7472_6163,
        0xcafe_4a11,
    ];
    // f_type's integer type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::fstatfs(fd).is_ok_and(|s| MAGICS.contains(&(s.f_type as i64)))
}

fn header_for(st: &rustix::fs::Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> Packer<'_, W> {
    fn clamp_time(&self, h: &mut tar::Header) {
        if let (Some(c), Ok(t)) = (self.clamp, h.mtime()) {
            if t > c {
                h.set_mtime(c);
            }
        }
    }

    fn append(
        &mut self,
        h: &mut tar::Header,
        path: &[u8],
        xattrs: &[(String, Vec<u8>)],
        data: impl io::Read,
    ) -> io::Result<()> {
        self.clamp_time(h);
        if !xattrs.is_empty() {
            let pax: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            self.b
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        if path.starts_with(b"./") || path.starts_with(b"/") {
            return self.append_raw(h, path, None, data);
        }
        let p = bpath(path);
        self.b.append_data(h, p, data)
    }

    /// A symlink or hardlink entry.
    fn link(&mut self, h: &mut tar::Header, path: &[u8], target: &[u8]) -> io::Result<()> {
        self.clamp_time(h);
        // Also absolute targets: the tar crate writes a target of `/` as `//`.
        if path.starts_with(b"./") || path.starts_with(b"/") || target.starts_with(b"/") {
            return self.append_raw(h, path, Some(target), io::empty());
        }
        self.b.append_link(h, bpath(path), bpath(target))
    }

    /// Appends with the names exactly as given: the tar crate drops a leading `./`, which
    /// `docker cp` needs for `dir/.` (its CLI renames the entries by replacing that `.`).
    fn append_raw(
        &mut self,
        h: &mut tar::Header,
        path: &[u8],
        link: Option<&[u8]>,
        data: impl io::Read,
    ) -> io::Result<()> {
        fn long<W: Write>(
            b: &mut tar::Builder<W>,
            kind: tar::EntryType,
            name: &[u8],
        ) -> io::Result<()> {
            let mut h = tar::Header::new_gnu();
            let n = b"././@LongLink";
            if let Some(g) = h.as_gnu_mut() {
                g.name[..n.len()].copy_from_slice(n);
            }
            h.set_mode(0o644);
            h.set_entry_type(kind);
            h.set_size(name.len() as u64 + 1);
            h.set_cksum();
            b.append(&h, io::Read::chain(name, &[0u8][..]))
        }
        if path.len() > 100 {
            long(&mut self.b, tar::EntryType::GNULongName, path)?;
        }
        if let Some(t) = link.filter(|t| t.len() > 100) {
            long(&mut self.b, tar::EntryType::GNULongLink, t)?;
        }
        let g = h
            .as_gnu_mut()
            .ok_or_else(|| io::Error::other("not a gnu header"))?;
        let n = path.len().min(100);
        g.name = [0; 100];
        g.name[..n].copy_from_slice(&path[..n]);
        if let Some(t) = link {
            let n = t.len().min(100);
            g.linkname = [0; 100];
            g.linkname[..n].copy_from_slice(&t[..n]);
        }
        h.set_cksum();
        self.b.append(h, data)
    }

    fn dir(&mut self, fd: BorrowedFd<'_>, prefix: &[u8]) -> io::Result<()> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for e in rustix::fs::Dir::read_from(fd)? {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for name in names {
            let mut path = prefix.to_vec();
            path.extend_from_slice(&name);
            self.entry(fd, &name, path)?;
        }
        Ok(())
    }

    /// Archives `name` of the directory `fd` as `path` (a directory with everything below it).
    fn entry(&mut self, fd: BorrowedFd<'_>, name: &[u8], path: Vec<u8>) -> io::Result<()> {
        let st = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => s,
            Err(rustix::io::Errno::NOENT) => return Ok(()), // gone meanwhile (running container)
            Err(e) => return Err(e.into()),
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        match ft {
            FileType::CharacterDevice if st.st_rdev == 0 && self.mode == Whiteouts::ToOci => {
                let mut wh = path[..path.len().saturating_sub(name.len())].to_vec();
                wh.extend_from_slice(WHITEOUT_PREFIX.as_bytes());
                wh.extend_from_slice(name);
                let mut h = header_for(&st, tar::EntryType::Regular);
                h.set_mode(0);
                self.append(&mut h, &wh, &[], io::empty())?;
            }
            FileType::Directory => {
                let d: OwnedFd = rustix::fs::openat(
                    fd,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let mut h = header_for(&st, tar::EntryType::Directory);
                let mut dp = path.clone();
                dp.push(b'/');
                self.append(&mut h, &dp, &list_xattrs(d.as_fd()), io::empty())?;
                if self.mode == Whiteouts::ToOci && is_opaque(d.as_fd()) {
                    let mut op = dp.clone();
                    op.extend_from_slice(WHITEOUT_OPAQUE.as_bytes());
                    let mut h = header_for(&st, tar::EntryType::Regular);
                    h.set_mode(0);
                    self.append(&mut h, &op, &[], io::empty())?;
                }
                if !(self.skip_pseudo && is_pseudo(d.as_fd())) {
                    self.dir(d.as_fd(), &dp)?;
                }
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let mut h = header_for(&st, tar::EntryType::Link);
                        let first = first.clone();
                        self.link(&mut h, &path, &first)?;
                        return Ok(());
                    }
                    self.links.insert(key, path.clone());
                }
                let f: OwnedFd = rustix::fs::openat(
                    fd,
                    name,
                    OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC
                        | OFlags::NOCTTY
                        | OFlags::NONBLOCK,
                    Mode::empty(),
                )?;
                let xs = list_xattrs(f.as_fd());
                let f = File::from(f);
                // Re-stat through the fd: the size is what we will read.
                let st = rustix::fs::fstat(&f)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Ok(()); // swapped meanwhile
                }
                let mut h = header_for(&st, tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                // A file that shrinks while read is padded with zeros, one that grows is cut.
                let n = st.st_size as u64;
                let rd = io::Read::take(io::Read::chain(io::Read::take(f, n), io::repeat(0)), n);
                self.append(&mut h, &path, &xs, rd)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(fd, name, Vec::new())?;
                let mut h = header_for(&st, tar::EntryType::Symlink);
                self.link(&mut h, &path, target.as_bytes())?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let kind = match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header_for(&st, kind);
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.append(&mut h, &path, &[], io::empty())?;
            }
            _ => {} // sockets and unknown types are not archived
        }
        Ok(())
    }

    /// Archives the directory `dir` itself as `path` and everything below it.
    fn top_dir(&mut self, dir: BorrowedFd<'_>, path: &[u8]) -> io::Result<()> {
        let d: OwnedFd = rustix::fs::openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&d)?;
        let mut h = header_for(&st, tar::EntryType::Directory);
        let mut dp = path.to_vec();
        if dp.last() != Some(&b'/') {
            dp.push(b'/');
        }
        self.append(&mut h, &dp, &list_xattrs(d.as_fd()), io::empty())?;
        if self.skip_pseudo && is_pseudo(d.as_fd()) {
            return Ok(());
        }
        self.dir(d.as_fd(), &dp)
    }
}

/// What [`tar_path`] archives.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The entry `name` of the directory `parent`: a directory with everything below it, a
    /// symlink as a symlink.
    Entry {
        /// The directory holding it.
        parent: BorrowedFd<'a>,
        /// Its name there.
        name: &'a [u8],
    },
    /// This directory and everything below it.
    Dir(BorrowedFd<'a>),
}

/// Writes `src` as a tar stream whose top entry is named `as_name` (`docker cp` out of a
/// container), walking by fd without following any symlink, everything archived as found.
pub fn tar_path<W: Write>(src: Source<'_>, as_name: &[u8], mut w: W) -> io::Result<()> {
    {
        let mut p = Packer {
            b: tar::Builder::new(&mut w),
            mode: Whiteouts::AsIs,
            links: HashMap::new(),
            skip_pseudo: true,
            clamp: None,
        };
        p.b.mode(tar::HeaderMode::Complete);
        match src {
            Source::Entry { parent, name } => p.entry(parent, name, as_name.to_vec())?,
            Source::Dir(d) => p.top_dir(d, as_name)?,
        }
        p.b.finish()?;
    }
    w.flush()
}

fn bpath(b: &[u8]) -> &std::path::Path {
    std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b))
}

/// Writes the tree below `root` as a tar stream to `w` (entries sorted by name, no entry for
/// the root itself). Returns the sha256 and size of the stream.
pub fn tar_dir<W: Write>(root: BorrowedFd<'_>, mode: Whiteouts, w: W) -> io::Result<(Digest, u64)> {
    tar_dir_clamped(root, mode, None, w)
}

/// [`tar_dir`] with file times later than `clamp` (Unix seconds) written as `clamp`, for
/// reproducible layers.
pub fn tar_dir_clamped<W: Write>(
    root: BorrowedFd<'_>,
    mode: Whiteouts,
    clamp: Option<u64>,
    w: W,
) -> io::Result<(Digest, u64)> {
    let mut hw = HashWriter::new(w);
    {
        let mut p = Packer {
            b: tar::Builder::new(&mut hw),
            mode,
            links: HashMap::new(),
            skip_pseudo: false,
            clamp,
        };
        p.b.mode(tar::HeaderMode::Complete);
        p.dir(root, b"")?;
        p.b.finish()?;
    }
    hw.flush()?;
    let (d, n, _) = hw.finish();
    Ok((d, n))
}
