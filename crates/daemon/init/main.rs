//! berth-init: PID 1 for `--init` containers (Docker's `docker-init`). It starts the command as
//! its child in its own process group (the terminal's foreground group when there is one),
//! forwards every signal it receives to that child, reaps every zombie re-parented to it, and
//! exits with the child's status (128 + signal when the child was killed).
//!
//! Built by the daemon's build script as a static executable (it runs in images that have no C
//! library) from this one file, so it uses only `std` and a few libc calls declared in `sys`.
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

mod sys {
    //! The libc calls std does not offer. Every `unsafe` block states its invariants.
    use std::os::raw::{c_int, c_long};

    /// glibc's `sigset_t` (1024 bits).
    #[repr(C)]
    pub struct SigSet([u64; 16]);

    /// Enough of `siginfo_t` (128 bytes); only `si_signo` is read.
    #[repr(C)]
    pub struct SigInfo {
        pub signo: c_int,
        _rest: [c_int; 31],
    }

    #[repr(C)]
    struct Timespec {
        sec: c_long,
        nsec: c_long,
    }

    extern "C" {
        fn sigfillset(set: *mut SigSet) -> c_int;
        fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
        fn sigtimedwait(set: *const SigSet, info: *mut SigInfo, t: *const Timespec) -> c_int;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn kill(pid: c_int, sig: c_int) -> c_int;
        fn tcsetpgrp(fd: c_int, pgrp: c_int) -> c_int;
        fn isatty(fd: c_int) -> c_int;
    }

    const SIG_SETMASK: c_int = 2;
    const WNOHANG: c_int = 1;

    /// Block every signal in this process; they are taken with [`wait_signal`].
    pub fn block_all() -> SigSet {
        let mut set = SigSet([0; 16]);
        // SAFETY: `set` is a valid, writable sigset_t-sized buffer; sigfillset only writes it and
        // sigprocmask only reads it (no old set requested).
        unsafe {
            sigfillset(&mut set);
            sigprocmask(SIG_SETMASK, &set, std::ptr::null_mut());
        }
        set
    }

    /// Let the child start with no signal blocked (the mask survives exec otherwise).
    pub fn unblock_in_child(cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and only calls
        // sigprocmask, which is async-signal-safe, on a stack value.
        unsafe {
            cmd.pre_exec(|| {
                let empty = SigSet([0; 16]);
                sigprocmask(SIG_SETMASK, &empty, std::ptr::null_mut());
                Ok(())
            });
        }
    }

    /// The next pending signal, or `None` after `secs` seconds.
    pub fn wait_signal(set: &SigSet, secs: c_long) -> Option<c_int> {
        let mut info = SigInfo {
            signo: 0,
            _rest: [0; 31],
        };
        let t = Timespec { sec: secs, nsec: 0 };
        // SAFETY: all three pointers refer to live, correctly sized values owned by this frame.
        let r = unsafe { sigtimedwait(set, &mut info, &t) };
        (r > 0).then_some(r)
    }

    /// Reap one exited child: `Some((pid, raw status))`, `None` when none is ready.
    pub fn reap() -> Option<(c_int, c_int)> {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; WNOHANG never blocks.
        let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
        (pid > 0).then_some((pid, status))
    }

    pub fn send(pid: c_int, sig: c_int) {
        // SAFETY: plain syscall on integers; a vanished pid only yields ESRCH.
        unsafe {
            kill(pid, sig);
        }
    }

    /// Give the terminal on stdin (if any) to process group `pgrp`.
    pub fn foreground(pgrp: c_int) {
        // SAFETY: plain syscalls on fd 0; SIGTTOU is blocked so this cannot stop us.
        unsafe {
            if isatty(0) == 1 {
                tcsetpgrp(0, pgrp);
            }
        }
    }
}

const SIGCHLD: i32 = 17;

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("berth-init: usage: berth-init [--] command [args...]");
        exit(1);
    }
    let set = sys::block_all();
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]).process_group(0);
    sys::unblock_in_child(&mut cmd);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-init: exec {}: {e}", args[0].to_string_lossy());
            exit(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    let pid = child.id() as i32;
    sys::foreground(pid);
    loop {
        match sys::wait_signal(&set, 1) {
            Some(SIGCHLD) | None => {}
            Some(sig) => sys::send(pid, sig),
        }
        while let Some((p, status)) = sys::reap() {
            if p == pid {
                // Exited normally: the code; killed: 128 + signal.
                let code = if status & 0x7f == 0 {
                    (status >> 8) & 0xff
                } else {
                    128 + (status & 0x7f)
                };
                // Reap whatever else is already done, then go.
                while sys::reap().is_some() {}
                exit(code);
            }
        }
    }
}
