//! The raw seccomp(2) call that installs a compiled filter. Async-signal-safe: no allocation.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use super::SockFilter;

// The kernel's `struct sock_filter` and ours must agree, since we hand it a pointer to ours.
const _: () =
    assert!(std::mem::size_of::<SockFilter>() == std::mem::size_of::<libc::sock_filter>());
const _: () =
    assert!(std::mem::align_of::<SockFilter>() == std::mem::align_of::<libc::sock_filter>());

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`. Returns the listener fd when `flags`
/// contains SECCOMP_FILTER_FLAG_NEW_LISTENER.
pub(super) fn set_mode_filter(filter: &[SockFilter], flags: u32) -> io::Result<Option<OwnedFd>> {
    let len =
        u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer (copy_from_user).
        filter: filter.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `prog` points to `len` live instructions borrowed for the duration of the call;
    // `SockFilter` is #[repr(C)] with the same fields, size and alignment as the kernel's
    // `struct sock_filter` (checked above); the kernel copies the program and keeps no
    // pointer into our memory. The call takes no other pointers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            libc::c_ulong::from(flags),
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & super::FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = libc::c_int::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a new listener fd
    // (close-on-exec) that nothing else in this process refers to, so we may own it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}
