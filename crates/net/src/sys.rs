//! The few system calls the network namespaces need, behind safe functions. The only module of
//! the crate allowed to use `unsafe`; rustix's safe wrappers are used wherever they exist.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::mount::UnmountFlags;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// Moves the calling thread into a new, empty network namespace.
pub(crate) fn unshare_net() -> io::Result<()> {
    // SAFETY: `unshare_unsafe` is unsafe only because `UnshareFlags::FILES` would give the thread
    // its own fd table; CLONE_NEWNET alone changes nothing but the thread's network namespace.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }.map_err(io::Error::from)
}

/// setns(2): moves the calling thread into the network namespace `fd` refers to.
pub(crate) fn setns_net(fd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(fd, Some(LinkNameSpaceType::Network))
        .map_err(io::Error::from)
}

/// Bind-mounts the calling thread's network namespace onto `target` (an existing file).
pub(crate) fn bind_thread_netns(target: &Path) -> io::Result<()> {
    rustix::mount::mount_bind("/proc/thread-self/ns/net", target).map_err(io::Error::from)
}

/// Lazily unmounts `target` (MNT_DETACH).
pub(crate) fn umount_detach(target: &Path) -> io::Result<()> {
    rustix::mount::unmount(target, UnmountFlags::DETACH).map_err(io::Error::from)
}

/// Whether `fd` refers to a namespace (nsfs), as the handles in `/proc/*/ns/` and their bind
/// mounts do.
pub(crate) fn is_nsfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let st = rustix::fs::fstatfs(fd)?;
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64 == NSFS_MAGIC)
}
