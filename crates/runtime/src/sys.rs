//! Thin wrappers over the syscalls the process stages need. The only place with `unsafe` besides
//! the `sys` submodules of `caps` and `seccomp`; every function returns `io::Result` and takes
//! owned or borrowed fds, never raw pointers.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_long(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A C string from a path; paths with NUL bytes are invalid input.
pub fn cpath(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

pub fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains a NUL byte"))
}

/// The result of [`clone_fork`] as seen by each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// clone(2) with fork semantics (no shared memory, the child continues on a copy of the
/// caller's stack) and the given namespace flags. The caller must be single-threaded: the child
/// only has the calling thread.
pub fn clone_fork(flags: libc::c_int) -> io::Result<Forked> {
    // SAFETY: with a NULL stack and without CLONE_VM, clone behaves like fork(2): the child gets a
    // copy-on-write copy of the address space and resumes here on its copy of the stack. The
    // remaining pointer arguments (parent_tid, child_tid, tls) are NULL and unused because no
    // CLONE_*TID / CLONE_SETTLS flag is passed. The calling process is single-threaded (the
    // runtime is driven by berth-runc or a single-threaded shim), so no lock can be held by a
    // thread that does not exist in the child.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match cvt_long(r)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes only an integer.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: the fd is borrowed and valid for the call.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// mount(2). `source`, `fstype` and `data` may be absent.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |o: Option<&CStr>| o.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is either NULL or a NUL-terminated string that outlives the call.
    cvt(unsafe {
        libc::mount(
            p(source),
            target.as_ptr(),
            p(fstype),
            flags,
            p(data).cast::<libc::c_void>(),
        )
    })
    .map(drop)
}

pub fn umount2(target: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: target is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated strings that outlive the call.
    cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

pub fn chroot(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

pub fn fchdir(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the fd is borrowed and valid for the call.
    cvt(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

/// mount_setattr(2) on an fd with AT_EMPTY_PATH, optionally recursive.
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr_set: u64,
    attr_clr: u64,
) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is an empty NUL-terminated string, the attr struct is a valid
    // `struct mount_attr` of the size passed, and both outlive the call.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// mount_setattr(2) giving the detached mount `fd` the id mapping of the user namespace
/// `userns` (MOUNT_ATTR_IDMAP): files owned by an id inside that namespace's mapping appear
/// owned by the mapped id, and writes through the mount store the unmapped id.
pub fn mount_setattr_idmap(fd: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: the path is an empty NUL-terminated string, the attr struct is a valid
    // `struct mount_attr` of the size passed, both outlive the call, and both fds are borrowed
    // and valid for it.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// fsopen(2): a filesystem context for `fstype`.
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fstype is a NUL-terminated string that outlives the call.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: fd is a freshly returned, valid descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// fsconfig(2) FSCONFIG_SET_STRING (`value` given) or FSCONFIG_SET_FLAG (none).
pub fn fsconfig_string(fs: BorrowedFd<'_>, key: &CStr, value: Option<&CStr>) -> io::Result<()> {
    const FSCONFIG_SET_FLAG: libc::c_uint = 0;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    let (cmd, v) = match value {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: key (and value when present) are NUL-terminated strings that outlive the call;
    // FSCONFIG_SET_FLAG takes a NULL value; aux is unused (0) for both commands.
    cvt_long(unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key.as_ptr(), v, 0) })
        .map(drop)
}

/// fsconfig(2) FSCONFIG_SET_FD: `key` is given the object `fd` refers to (an overlay layer).
pub fn fsconfig_fd(fs: BorrowedFd<'_>, key: &CStr, fd: BorrowedFd<'_>) -> io::Result<()> {
    const FSCONFIG_SET_FD: libc::c_uint = 5;
    // SAFETY: key is a NUL-terminated string that outlives the call; the value pointer must be
    // NULL for FSCONFIG_SET_FD and the fd travels in aux; both fds are borrowed and valid.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_FD,
            key.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            fd.as_raw_fd(),
        )
    })
    .map(drop)
}

/// fsconfig(2) FSCONFIG_CMD_CREATE then fsmount(2): a detached mount of the configured
/// filesystem.
pub fn fsmount(fs: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux (NULL, NULL, 0).
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })?;
    // SAFETY: integers and a valid borrowed fd only.
    let fd = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            0 as libc::c_uint,
        )
    })?;
    // SAFETY: fd is a freshly returned, valid descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// move_mount(2) of the detached mount `from` onto the path `to`.
pub fn move_mount_to(from: BorrowedFd<'_>, to: &CStr) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    // SAFETY: both paths are NUL-terminated strings that outlive the call; `from` is a borrowed
    // valid fd, AT_FDCWD is a valid dirfd.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// pause(2) until a signal arrives, forever: the body of a process that only holds a namespace.
pub fn pause_forever() -> ! {
    loop {
        // SAFETY: pause takes no arguments and is async-signal-safe.
        unsafe { libc::pause() };
    }
}

/// open_tree(2): a new fd for the mount at `path` (relative to `dirfd`), cloned when `clone`.
pub fn open_tree(dirfd: BorrowedFd<'_>, path: &CStr, flags: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: path is a NUL-terminated string that outlives the call; the returned fd is new and
    // owned by nobody else.
    let fd = cvt_long(unsafe {
        libc::syscall(libc::SYS_open_tree, dirfd.as_raw_fd(), path.as_ptr(), flags)
    })?;
    // SAFETY: fd is a freshly returned, valid descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the bytes of `name`, valid for the call.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the bytes of `name`, valid for the call.
    cvt(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the options used by this crate take integer arguments only (or, for PR_SET_NAME,
    // see `set_name`).
    cvt(unsafe {
        libc::prctl(
            option,
            arg2,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
}

/// Name the current thread (and so the process, for `ps`): at most 15 bytes.
pub fn set_name(name: &CStr) {
    // SAFETY: PR_SET_NAME reads at most 16 bytes from a NUL-terminated string that outlives the
    // call. Failure only leaves the old name, so it is ignored.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: integers only. Called through the raw syscall so that glibc's setxid broadcast
    // (meant for multi-threaded processes) is not involved.
    cvt_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: integers only; raw syscall as in `setresuid`.
    cvt_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

pub fn setgroups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `gids`, valid for the call; raw syscall as in
    // `setresuid`.
    cvt_long(unsafe { libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()) }).map(drop)
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments.
    cvt(unsafe { libc::setsid() }).map(drop)
}

pub fn umask(mask: u32) {
    // SAFETY: integer only; cannot fail.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
}

pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit64 for the call; pid 0 is the calling process.
    cvt(unsafe { libc::prlimit64(0, resource as _, &lim, std::ptr::null_mut()) }).map(drop)
}

pub fn dup2(old: RawFd, new: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on descriptors owned by the process; `new` is closed atomically if open.
    cvt(unsafe { libc::dup3(old, new, 0) }).map(drop)
}

/// Mark every fd from `first` up as close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: integers only. CLOSE_RANGE_CLOEXEC only sets the flag; no fd is closed under any
    // owner's feet.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor of this process with integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) }).map(drop)
}

/// execve(2); returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: path, argv and envp are NUL-terminated strings, and both arrays end with NULL; all
    // outlive the call (which does not return on success).
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: integers only.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// waitpid(2) returning the raw status, retrying on EINTR.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<(libc::pid_t, i32)>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        return Ok(Some((r, status)));
    }
}

/// The exit code a shell would report for a wait status: the code, or 128 + signal.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

pub fn mknod(path: &CStr, mode: u32, major: u64, minor: u64) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe {
        libc::mknod(
            path.as_ptr(),
            mode,
            libc::makedev(major as u32, minor as u32),
        )
    })
    .map(drop)
}

pub fn ioctl_int(fd: RawFd, req: libc::c_ulong, arg: libc::c_int) -> io::Result<libc::c_int> {
    // SAFETY: the requests used with this wrapper take an int by value (TIOCSCTTY) or a pointer
    // to int passed as `&arg` through `ioctl_ptr`.
    cvt(unsafe { libc::ioctl(fd, req, arg) })
}

pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `struct winsize` from a valid pointer.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Unlock a pty master and open its peer (the slave) by fd, never by path.
pub fn open_pty_peer(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) })?;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd that we own.
    let fd = cvt(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Send one fd and a short payload over a connected unix socket (SCM_RIGHTS).
pub fn send_fd(sock: BorrowedFd<'_>, payload: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation on an integer.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; the fields are set below to buffers that outlive the
    // sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points to a buffer of CMSG_SPACE(sizeof(int)) bytes, so the first
    // header and its data fit; the data pointer is written with an unaligned store.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }
    // SAFETY: msg describes valid buffers for the duration of the call.
    let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one fd sent with [`send_fd`]; returns the payload bytes and the fd.
pub fn recv_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: pure computation on an integer.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; fields point to buffers outliving recvmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg describes valid buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fd = None;
    // SAFETY: the kernel filled msg_control; CMSG_FIRSTHDR returns NULL or a header inside it,
    // and an SCM_RIGHTS header of this length carries exactly one int, read unaligned.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !cmsg.is_null()
            && (*cmsg).cmsg_level == libc::SOL_SOCKET
            && (*cmsg).cmsg_type == libc::SCM_RIGHTS
        {
            let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
            fd = Some(OwnedFd::from_raw_fd(raw));
        }
    }
    Ok((n as usize, fd))
}

/// A connected SOCK_SEQPACKET pair, both ends close-on-exec.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both fds were just created by socketpair and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn mkfifo(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::mkfifo(path.as_ptr(), mode) }).map(drop)
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: no arguments; cannot fail.
    unsafe { libc::getpid() }
}

pub fn geteuid() -> u32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { libc::geteuid() }
}

/// Poll one fd for the given events with a timeout in milliseconds; returns revents.
pub fn poll_one(fd: BorrowedFd<'_>, events: i16, timeout_ms: i32) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: a single valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(if r == 0 { 0 } else { p.revents });
    }
}

/// pidfd_open(2).
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: integers only; the returned fd is new and ours.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Block all signals in the calling thread and return the previous mask (restored with
/// [`set_sigmask`]).
pub fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigfillset initialises it and pthread_sigmask reads and
    // writes valid pointers.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

pub fn set_sigmask(mask: &libc::sigset_t) {
    // SAFETY: mask is a valid, initialised sigset_t.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
}

/// Reset every catchable signal to its default disposition (before exec of the user process).
pub fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting SIG_DFL is always valid; errors for invalid numbers are ignored.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// The raw fd of an `OwnedFd` without giving up ownership (for `/proc/self/fd/N` paths).
pub fn fd_path(fd: &impl AsRawFd) -> CString {
    // A formatted integer never contains a NUL byte.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// Wait for one of the signals in `sigs` (which must be blocked); returns its number.
pub fn sigwait(sigs: &[libc::c_int], timeout_ms: Option<u64>) -> io::Result<Option<libc::c_int>> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset/sigaddset; sigtimedwait reads
    // the set and writes siginfo through valid pointers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let ts = timeout_ms.map(|ms| libc::timespec {
            tv_sec: (ms / 1000) as libc::time_t,
            tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
        });
        let r = libc::sigtimedwait(
            &set,
            &mut info,
            ts.as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec),
        );
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(r))
    }
}

/// Block the given signals in the calling thread.
pub fn block_signals(sigs: &[libc::c_int]) {
    // SAFETY: as in `sigwait`; pthread_sigmask reads a valid, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Unblock every signal in the calling thread.
pub fn unblock_all_signals() {
    // SAFETY: an empty, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH); returns only on failure.
pub fn fexecve(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: the fd is valid, the path is an empty NUL-terminated string, and argv/envp are
    // NULL-terminated arrays of NUL-terminated strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// statvfs flags of an fd (ST_RDONLY…).
pub fn fstatvfs_flags(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: an all-zero statvfs is valid plain data written by the kernel.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and out-pointer.
    cvt(unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st.f_flag as u64)
}

pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and runs no atexit handlers or destructors, which is what a
    // forked child that must not flush its parent's buffers needs.
    unsafe { libc::_exit(code) }
}

/// Give free heap memory back to the kernel (long-lived monitors call it once after setup).
pub fn malloc_trim() {
    // SAFETY: malloc_trim(3) takes a size and only walks glibc's own allocator state; it is safe
    // to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Load a `BPF_PROG_TYPE_CGROUP_DEVICE` program made of `insns` (8-byte `struct bpf_insn`s).
/// On failure the verifier's log is in the error.
pub fn bpf_load_device_program(insns: &[[u8; 8]]) -> io::Result<OwnedFd> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    let code: Vec<u8> = insns.iter().flatten().copied().collect();
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
    // log_size, log_buf; the rest stays zero (the kernel checks that unknown bytes are zero).
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&(insns.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(code.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
    attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
    attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
    // SAFETY: attr is a zero-initialised bpf_attr of the size passed; the pointers in it (code,
    // license, log) point to live buffers of the lengths given, which outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr.as_mut_ptr(),
            attr.len() as libc::c_uint,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)])
            .trim()
            .to_string();
        return Err(io::Error::new(
            e.kind(),
            if text.is_empty() {
                e.to_string()
            } else {
                format!("{e}: {text}")
            },
        ));
    }
    // SAFETY: the syscall returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Attach a device program to a cgroup v2 directory (with BPF_F_ALLOW_MULTI, as runc does, so
/// programs attached above keep applying).
pub fn bpf_attach_device_program(prog: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> io::Result<()> {
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    let mut attr = [0u8; 32];
    attr[0..4].copy_from_slice(&(cgroup.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.as_raw_fd() as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&BPF_F_ALLOW_MULTI.to_ne_bytes());
    // SAFETY: attr is a zero-initialised bpf_attr for BPF_PROG_ATTACH (target_fd,
    // attach_bpf_fd, attach_type, attach_flags) of the size passed; both fds are open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            attr.as_mut_ptr(),
            attr.len() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bring the loopback interface of the network namespace `netns` up (Docker does this for every
/// container with a network namespace of its own; a fresh namespace has `lo` down). Runs on a
/// short-lived thread: `setns(CLONE_NEWNET)` changes only the calling thread's namespace.
pub fn loopback_up(netns: BorrowedFd<'_>) -> io::Result<()> {
    let raw = netns.as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(move || -> io::Result<()> {
            // SAFETY: setns takes an fd (open for the scope of this call: the caller borrows it
            // for the whole function) and a flag; it only changes this thread's namespace.
            cvt(unsafe { libc::setns(raw, libc::CLONE_NEWNET) })?;
            // SAFETY: plain socket(2) call; the fd is owned right below.
            let s = cvt(unsafe {
                libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
            })?;
            // SAFETY: socket returned a new fd that nothing else owns.
            let sock = unsafe { OwnedFd::from_raw_fd(s) };
            // SAFETY: ifreq is plain data; zeroed is a valid value.
            let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
            for (d, b) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
                *d = *b as libc::c_char;
            }
            // SAFETY: SIOCGIFFLAGS reads the flags of the interface named in ifr into ifr.
            cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) })?;
            // SAFETY: the union member ifru_flags is the one SIOCGIFFLAGS filled in.
            unsafe {
                ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            }
            // SAFETY: SIOCSIFFLAGS sets the flags of the interface named in ifr from ifr.
            cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) })?;
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("loopback thread panicked")))
    })
}
