//! Copy-up: the image's content at a volume's destination is copied into the volume when the
//! volume is empty (Docker's rule), keeping owners, modes, times, symlinks, hard links and device
//! nodes. Everything is walked by fd without following symlinks: the source is a read-only view
//! of the container's layers (hostile content) and the destination path is resolved inside it.
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Copy what `root` (a container's filesystem) has at `dest` (a path inside it) into the
/// directory `volume`, if `volume` is empty and `dest` is a directory there. Returns whether
/// anything was copied.
pub fn copy_up(root: &Path, dest: &str, volume: &Path) -> Result<bool> {
    copy_up_mapped(root, dest, volume, None)
}

/// [`copy_up`] for a container in a user namespace: owners are shifted to the host ids of
/// `remap` (the view of the layers shows the image's own ids), as dockerd's copy does.
pub fn copy_up_mapped(
    root: &Path,
    dest: &str,
    volume: &Path,
    remap: Option<&crate::userns::Remap>,
) -> Result<bool> {
    let shift = Shift(remap);
    let err =
        |what: &str, e: Errno| Error::internal(format!("copy {dest} into the volume: {what}: {e}"));
    let root_fd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open the container's root", e))?;
    let rel = dest.trim_start_matches('/');
    let src = if rel.is_empty() {
        return Ok(false);
    } else {
        match rustix::fs::openat2(
            &root_fd,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
        ) {
            Ok(fd) => fd,
            // Nothing there, not a directory, or on another mount: nothing to copy.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => return Ok(false),
            Err(e) => return Err(err("open the source", e)),
        }
    };
    let dst = rustix::fs::open(
        volume,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open the volume", e))?;
    if !is_empty(&dst).map_err(|e| err("read the volume", e))? {
        return Ok(false);
    }
    let mut links = HashMap::new();
    copy_dir(&src, &dst, &mut links, shift).map_err(|e| err("copy", e))?;
    // The volume's root takes the owner and mode of the directory it covers.
    let st = rustix::fs::fstat(&src).map_err(|e| err("stat the source", e))?;
    rustix::fs::fchown(&dst, Some(shift.uid(&st)), Some(shift.gid(&st)))
        .map_err(|e| err("chown", e))?;
    rustix::fs::fchmod(&dst, Mode::from_raw_mode(st.st_mode & 0o7777))
        .map_err(|e| err("chmod", e))?;
    Ok(true)
}

/// Owners of copies: the source's, or their host ids under a remap (unmapped: 65534).
#[derive(Clone, Copy)]
struct Shift<'a>(Option<&'a crate::userns::Remap>);

impl Shift<'_> {
    fn uid(&self, st: &Stat) -> rustix::fs::Uid {
        rustix::fs::Uid::from_raw(match self.0 {
            Some(r) => r.host_uid(st.st_uid).unwrap_or(65534),
            None => st.st_uid,
        })
    }
    fn gid(&self, st: &Stat) -> rustix::fs::Gid {
        rustix::fs::Gid::from_raw(match self.0 {
            Some(r) => r.host_gid(st.st_gid).unwrap_or(65534),
            None => st.st_gid,
        })
    }
}

fn is_empty(dir: &OwnedFd) -> rustix::io::Result<bool> {
    let d = rustix::fs::Dir::read_from(dir)?;
    for e in d {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Inode of a multiply-linked file → where its first copy went.
type Links = HashMap<(u64, u64), (Arc<OwnedFd>, CString)>;

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    links: &mut Links,
    shift: Shift<'_>,
) -> rustix::io::Result<()> {
    let dst_shared = Arc::new(rustix::io::dup(dst)?);
    let names: Vec<CString> = rustix::fs::Dir::read_from(src)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        copy_entry(src.as_fd(), dst, &dst_shared, &name, links, shift)?;
    }
    Ok(())
}

fn copy_entry(
    src: BorrowedFd<'_>,
    dst: &OwnedFd,
    dst_shared: &Arc<OwnedFd>,
    name: &CStr,
    links: &mut Links,
    shift: Shift<'_>,
) -> rustix::io::Result<()> {
    let st = rustix::fs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    let perm = Mode::from_raw_mode(st.st_mode & 0o7777);
    if ft != FileType::Directory && st.st_nlink > 1 {
        let key = (st.st_dev, st.st_ino);
        if let Some((dir, first)) = links.get(&key) {
            return rustix::fs::linkat(dir.as_fd(), first.as_c_str(), dst, name, AtFlags::empty());
        }
        links.insert(key, (dst_shared.clone(), name.to_owned()));
    }
    match ft {
        FileType::Directory => {
            rustix::fs::mkdirat(dst, name, Mode::from_raw_mode(0o700))?;
            let s = rustix::fs::openat(
                src,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let d = rustix::fs::openat(
                dst,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            copy_dir(&s, &d, links, shift)?;
            rustix::fs::fchown(&d, Some(shift.uid(&st)), Some(shift.gid(&st)))?;
            rustix::fs::fchmod(&d, perm)?;
            rustix::fs::futimens(&d, &times(&st))?;
        }
        FileType::RegularFile => {
            let s = rustix::fs::openat(
                src,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let d = rustix::fs::openat(
                dst,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut from = std::fs::File::from(s);
            let mut to = std::fs::File::from(d);
            std::io::copy(&mut from, &mut to)
                .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
            // chown first: it clears set-id bits that chmod then restores.
            rustix::fs::fchown(&to, Some(shift.uid(&st)), Some(shift.gid(&st)))?;
            rustix::fs::fchmod(&to, perm)?;
            rustix::fs::futimens(&to, &times(&st))?;
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(src, name, Vec::new())?;
            rustix::fs::symlinkat(target.as_c_str(), dst, name)?;
            rustix::fs::chownat(
                dst,
                name,
                Some(shift.uid(&st)),
                Some(shift.gid(&st)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            rustix::fs::utimensat(dst, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            rustix::fs::mknodat(dst, name, ft, perm, st.st_rdev)?;
            rustix::fs::chownat(
                dst,
                name,
                Some(shift.uid(&st)),
                Some(shift.gid(&st)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            rustix::fs::chmodat(dst, name, perm, AtFlags::empty())?;
            rustix::fs::utimensat(dst, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        // Sockets and anything else are not content.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_a_tree_without_following_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("root");
        let vol = t.path().join("vol");
        std::fs::create_dir_all(root.join("etc/app/sub")).expect("mkdir");
        std::fs::create_dir_all(&vol).expect("mkdir");
        std::fs::write(root.join("etc/app/a.conf"), "hello").expect("write");
        std::fs::set_permissions(
            root.join("etc/app/a.conf"),
            std::fs::Permissions::from_mode(0o640),
        )
        .expect("chmod");
        std::fs::hard_link(root.join("etc/app/a.conf"), root.join("etc/app/sub/b.conf"))
            .expect("link");
        std::os::unix::fs::symlink("/etc/shadow", root.join("etc/app/evil")).expect("symlink");
        std::fs::set_permissions(root.join("etc/app"), std::fs::Permissions::from_mode(0o750))
            .expect("chmod");
        assert!(copy_up(&root, "/etc/app", &vol).expect("copy"));
        assert_eq!(
            std::fs::read_to_string(vol.join("a.conf")).expect("read"),
            "hello"
        );
        let m = std::fs::metadata(vol.join("a.conf")).expect("stat");
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(
            m.ino(),
            std::fs::metadata(vol.join("sub/b.conf"))
                .expect("stat")
                .ino()
        );
        assert_eq!(
            std::fs::read_link(vol.join("evil")).expect("readlink"),
            Path::new("/etc/shadow")
        );
        assert_eq!(
            std::fs::metadata(&vol).expect("stat").mode() & 0o7777,
            0o750
        );
        // A volume with content is left alone.
        std::fs::write(root.join("etc/app/new"), "x").expect("write");
        assert!(!copy_up(&root, "/etc/app", &vol).expect("copy"));
        assert!(!vol.join("new").exists());
    }

    #[test]
    fn a_symlinked_destination_resolves_inside_the_root() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("root");
        let vol = t.path().join("vol");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(root.join("data")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::create_dir_all(&vol).expect("mkdir");
        std::fs::write(outside.join("secret"), "host").expect("write");
        // /link → the host directory by absolute path: inside the root it does not exist.
        std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");
        assert!(!copy_up(&root, "/link", &vol).expect("copy"));
        std::os::unix::fs::symlink("../../../..", root.join("up")).expect("symlink");
        // `..` stops at the root: /up is the root itself, not the host's.
        copy_up(&root, "/up", &vol).expect("copy");
        assert!(!vol.join("secret").exists());
    }
}
