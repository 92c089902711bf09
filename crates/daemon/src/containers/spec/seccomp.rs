//! The seccomp filter of a container: the OCI `linux.seccomp` object in its config.json.
//!
//! By default every container gets Berth's built-in profile ([`profile`]), an allow-list in the
//! spirit of Docker's default profile: whatever is not named here fails with EPERM. The list is
//! rendered per container because some system calls are only as dangerous as the capabilities
//! the process holds: `mount` is harmless without CAP_SYS_ADMIN (the kernel refuses it anyway),
//! so it is allowed exactly when the container was given CAP_SYS_ADMIN, and so on for each
//! capability in [`BY_CAPABILITY`].
//!
//! `--security-opt seccomp=…` chooses otherwise ([`for_container`]): `unconfined` (no filter),
//! `builtin` (the default), a profile document (the docker CLI reads the file and sends its text)
//! or an absolute path to one on the daemon's host. Profiles are written in Docker's format
//! (`names`, `action`, `args`, `includes`/`excludes` by capability, architecture and kernel
//! version, `archMap`) and converted to OCI for this container ([`from_docker_format`]); a plain
//! OCI `linux.seccomp` document passes through that conversion unchanged. A privileged
//! container never has a filter, as with Docker.
//!
//! Where the built-in profile differs from Docker's published one (facts checked against it in
//! the tests), it is stricter or newer:
//! - `io_uring_*` are denied (a large attack surface with a history of escapes; Docker followed).
//! - `socket` refuses AF_ALG (kernel crypto sockets, CVE-2026-31431) and AF_VSOCK (hypervisor
//!   sockets: a container has no business talking to the host's VMs).
//! - `userfaultfd` needs CAP_SYS_PTRACE (it makes kernel races easy to win).
//! - `bpf` also comes with CAP_BPF and `perf_event_open` with CAP_PERFMON, the capabilities the
//!   kernel split out of CAP_SYS_ADMIN for them.
//! - Newer variants of allowed calls are allowed too (`fchmodat2`, `futex_wake`, `cachestat`,
//!   `map_shadow_stack`, `pkey_*`…): glibc falls back only on ENOSYS, so an EPERM for a new
//!   variant of an allowed call breaks programs instead of protecting anything.
//!
//! Names unknown to the runtime's libseccomp are skipped there, so the lists may be ahead of it.

use std::io::Read;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// EPERM: the answer to everything the profile does not allow.
const EPERM: u32 = 1;
/// ENOSYS on every architecture Berth renders for (MIPS would need 89).
const ENOSYS: u32 = 38;

/// The `clone` flags that create namespaces. Without CAP_SYS_ADMIN, `clone` is allowed only
/// when none of them is set; CLONE_NEWTIME cannot be passed to `clone` at all (its bit is part
/// of the exit signal there), only to `clone3` and `unshare`, which need CAP_SYS_ADMIN.
const CLONE_NEWNS: u64 = 0x0002_0000;
const CLONE_NEWCGROUP: u64 = 0x0200_0000;
const CLONE_NEWUTS: u64 = 0x0400_0000;
const CLONE_NEWIPC: u64 = 0x0800_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWPID: u64 = 0x2000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
const CLONE_NAMESPACE_FLAGS: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

/// Address families `socket` refuses (see the module doc). The rules allow the ranges around them.
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// `personality` personas a container may switch to: Linux, 32-bit Linux, each with the
/// `uname -r` 2.6 compatibility bit, and 0xffffffff, which only queries. Others (e.g.
/// ADDR_NO_RANDOMIZE) would weaken the process's own hardening.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

// ---------------------------------------------------------------------------------------------
// Allowed for every container, grouped by what they are for.

/// Files, directories, descriptors and their data.
const FILES: &[&str] = &[
    "access",
    "cachestat",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "flock",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "ioctl",
    "lchown",
    "lchown32",
    "link",
    "linkat",
    "_llseek",
    "lseek",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    // A file handle is useless without open_by_handle_at, which needs CAP_DAC_READ_SEARCH.
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "sendfile64",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vmsplice",
    "write",
    "writev",
];

/// Extended attributes (the filesystem and the LSMs decide who may set what).
const XATTRS: &[&str] = &[
    "fgetxattr",
    "flistxattr",
    "fremovexattr",
    "fsetxattr",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lsetxattr",
    "removexattr",
    "setxattr",
];

/// Waiting for descriptors and events; pipes and event descriptors.
const EVENTS: &[&str] = &[
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    // Marks only: creating the fanotify group (fanotify_init) needs CAP_SYS_ADMIN.
    "fanotify_mark",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "_newselect",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
];

/// Linux native asynchronous I/O (not io_uring, which is denied).
const AIO: &[&str] = &[
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
];

/// The process's own memory.
const MEMORY: &[&str] = &[
    "brk",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
];

/// Processes and threads: life cycle, scheduling, limits, self-restriction. (`clone` and
/// `clone3` depend on CAP_SYS_ADMIN: see [`profile`].)
const PROCESSES: &[&str] = &[
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "ioprio_get",
    "ioprio_set",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    // Since Linux 4.8 a seccomp filter is rechecked after a tracer changes a syscall, so
    // ptrace cannot be used to escape the filter; the kernel's own ptrace access checks apply.
    "ptrace",
    "restart_syscall",
    "rseq",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    // Stacking a further filter only restricts more.
    "seccomp",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setpgid",
    "setpriority",
    "setrlimit",
    "setsid",
    "sysinfo",
    "times",
    "ugetrlimit",
    "uname",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
];

/// User and group ids (the kernel checks CAP_SETUID / CAP_SETGID).
const IDS: &[&str] = &[
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getuid",
    "getuid32",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setuid",
    "setuid32",
];

/// Signals and interval timers.
const SIGNALS: &[&str] = &[
    "alarm",
    "getitimer",
    "kill",
    "pause",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "setitimer",
    "sigaltstack",
    "sigprocmask",
    "sigreturn",
    "tgkill",
    "tkill",
];

/// Reading clocks, sleeping and POSIX timers. (`adjtimex` and `clock_adjtime` only read unless
/// the caller holds CAP_SYS_TIME; setting the clock is in [`BY_CAPABILITY`].)
const TIME: &[&str] = &[
    "adjtimex",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "gettimeofday",
    "nanosleep",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
];

/// Sockets, except creating one (`socket`, filtered by address family in [`profile`]).
/// `socketcall` is the 32-bit x86 multiplexer whose arguments sit behind a pointer that seccomp
/// cannot read; 32-bit programs would not work without it.
const SOCKETS: &[&str] = &[
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
];

/// System V and POSIX IPC (private to the container's IPC namespace).
const IPC: &[&str] = &[
    "ipc",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
];

/// Everything every container may call without conditions.
const ALWAYS: &[&[&str]] = &[
    FILES, XATTRS, EVENTS, AIO, MEMORY, PROCESSES, IDS, SIGNALS, TIME, SOCKETS, IPC,
];

// ---------------------------------------------------------------------------------------------
// Allowed only with a capability. A name may appear under several capabilities: any of them
// allows it.

/// Capability → the system calls it unlocks.
pub const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        // Namespaces, mounts, the host's identity, kernel tracing and BPF. `clone`/`clone3` are
        // unrestricted only here; without CAP_SYS_ADMIN see [`profile`].
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_SYSLOG", &["syslog"]),
    // Opening files by handle bypasses the path walk, and with it the container's root.
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        // Reaching into other processes' memory and descriptors.
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
            "userfaultfd",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "finit_module", "init_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_RAWIO", &["ioperm", "iopl"]),
    (
        "CAP_SYS_TIME",
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        // NUMA memory placement.
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
];

// Never allowed by the built-in profile, whatever the capabilities (listed for the reader and
// checked by a test; nothing needs to be rendered for them): the kernel keyring is not
// namespaced (keyctl, add_key, request_key); io_uring bypasses the filter for the operations it
// performs; kexec, swap, pivot_root, nfsservctl, the obsolete or debugging calls (uselib, ustat,
// sysfs, _sysctl, vm86, create_module, get_kernel_syms, query_module, lookup_dcookie without
// CAP_SYS_ADMIN) and the ones that change the host (settimeofday without CAP_SYS_TIME, …).
#[cfg(test)]
const NEVER: &[&str] = &[
    "add_key",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "nfsservctl",
    "pivot_root",
    "request_key",
    "swapoff",
    "swapon",
    "_sysctl",
    "sysfs",
    "uselib",
    "ustat",
    "vm86",
    "vm86old",
];

// ---------------------------------------------------------------------------------------------
// Architectures.

/// One host architecture as the profile sees it.
struct ArchInfo {
    /// Docker's name (Go's GOARCH), used by `includes.arches` in profiles.
    go: &'static str,
    /// The libseccomp architectures a process on this host can use: the native one first, then
    /// the compat ones (32-bit binaries run on 64-bit kernels and must be filtered too, or they
    /// would be a way around the filter).
    scmp: &'static [&'static str],
    /// System calls only this architecture has.
    own: &'static [&'static str],
    /// Which argument of `clone` holds the flags (s390 swaps the first two).
    clone_flags_arg: u32,
}

const ARCHES: &[ArchInfo] = &[
    ArchInfo {
        go: "amd64",
        scmp: &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        // Thread-local storage and segment descriptors.
        own: &["arch_prctl", "modify_ldt"],
        clone_flags_arg: 0,
    },
    ArchInfo {
        go: "arm64",
        scmp: &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        // The 32-bit ARM private calls (compat processes).
        own: &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ],
        clone_flags_arg: 0,
    },
    ArchInfo {
        go: "ppc64le",
        scmp: &["SCMP_ARCH_PPC64LE"],
        own: &["swapcontext", "sync_file_range2"],
        clone_flags_arg: 0,
    },
    ArchInfo {
        go: "s390x",
        scmp: &["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
        own: &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        clone_flags_arg: 1,
    },
    ArchInfo {
        go: "riscv64",
        scmp: &["SCMP_ARCH_RISCV64"],
        own: &["riscv_flush_icache"],
        clone_flags_arg: 0,
    },
];

/// This host's architecture in Docker's (Go's) naming.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    }
}

fn arch_info(arch: &str) -> Option<&'static ArchInfo> {
    let go = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    ARCHES.iter().find(|a| a.go == go)
}

fn allow(names: &[&str]) -> Value {
    json!({ "names": names, "action": "SCMP_ACT_ALLOW" })
}

fn allow_if(name: &str, index: u32, op: &str, value: u64) -> Value {
    json!({
        "names": [name],
        "action": "SCMP_ACT_ALLOW",
        "args": [{ "index": index, "value": value, "op": op }],
    })
}

/// Berth's built-in profile for a process holding `caps` (bounding set, `CAP_…` names) on
/// `arch` (Docker's names, "amd64"; "x86_64" is accepted too), as an OCI `linux.seccomp`
/// object. An architecture Berth has no table for gets the common rules and no
/// `architectures` (the runtime then filters the native one only).
pub fn profile(caps: &[String], arch: &str) -> Value {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let info = arch_info(arch);
    let mut rules = Vec::new();

    let mut always: Vec<&str> = ALWAYS.iter().flat_map(|g| g.iter().copied()).collect();
    if let Some(a) = info {
        always.extend(a.own);
    }
    rules.push(allow(&always));

    for &p in PERSONALITIES {
        rules.push(allow_if("personality", 0, "SCMP_CMP_EQ", p));
    }

    // socket(2) for every address family but AF_ALG and AF_VSOCK: below, between, above.
    rules.push(allow_if("socket", 0, "SCMP_CMP_LT", AF_ALG));
    rules.push(allow_if("socket", 0, "SCMP_CMP_EQ", AF_ALG + 1));
    rules.push(allow_if("socket", 0, "SCMP_CMP_GT", AF_VSOCK));

    if !has("CAP_SYS_ADMIN") {
        // Threads and processes, but no new namespaces: `(flags & NAMESPACE_FLAGS) == 0`.
        let idx = info.map_or(0, |a| a.clone_flags_arg);
        rules.push(allow_if(
            "clone",
            idx,
            "SCMP_CMP_MASKED_EQ",
            CLONE_NAMESPACE_FLAGS,
        ));
        // clone3 passes its flags in memory, out of the filter's reach. Answering ENOSYS makes
        // glibc and others fall back to clone, where the rule above applies.
        rules.push(json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS }));
    }

    for (cap, names) in BY_CAPABILITY {
        if has(cap) {
            rules.push(allow(names));
        }
    }

    let mut out = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "syscalls": rules,
    });
    if let Some(a) = info {
        out["architectures"] = json!(a.scmp);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Choosing the profile of a container.

/// The largest profile document accepted (Docker's default is about 20 KiB).
const MAX_PROFILE: u64 = 4 << 20;

/// The `linux.seccomp` of a container, from its `--security-opt`s, privileged flag and
/// capability set: `None` runs it unconfined. The last `seccomp=` option wins.
pub fn for_container(
    security_opt: &[String],
    privileged: bool,
    caps: &[String],
) -> Result<Option<Value>> {
    if privileged {
        return Ok(None);
    }
    let choice = security_opt
        .iter()
        .filter_map(|o| {
            o.strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"))
        })
        .next_back();
    let arch = host_arch();
    match choice {
        None | Some("builtin") | Some("default") | Some("") => Ok(Some(profile(caps, arch))),
        Some("unconfined") => Ok(None),
        Some(text) if text.trim_start().starts_with('{') => {
            let doc: Value = serde_json::from_str(text)
                .map_err(|e| Error::invalid(format!("seccomp profile: not valid JSON: {e}")))?;
            from_docker_format(&doc, caps, arch, &host_kernel()).map(Some)
        }
        Some(path) if path.starts_with('/') => {
            let doc = read_profile(Path::new(path))?;
            from_docker_format(&doc, caps, arch, &host_kernel()).map(Some)
        }
        Some(other) => Err(Error::invalid(format!(
            "seccomp profile {other:?}: expected unconfined, builtin, a JSON profile or an absolute path to one"
        ))),
    }
}

/// A profile file on the daemon's host: a regular file, bounded in size.
fn read_profile(path: &Path) -> Result<Value> {
    let err = |e: std::io::Error| {
        Error::invalid(format!(
            "opening seccomp profile ({}) failed: {e}",
            path.display()
        ))
    };
    let f = std::fs::File::open(path).map_err(err)?;
    let meta = f.metadata().map_err(err)?;
    if !meta.is_file() {
        return Err(Error::invalid(format!(
            "seccomp profile {} is not a regular file",
            path.display()
        )));
    }
    let mut text = String::new();
    f.take(MAX_PROFILE + 1)
        .read_to_string(&mut text)
        .map_err(err)?;
    if text.len() as u64 > MAX_PROFILE {
        return Err(Error::invalid(format!(
            "seccomp profile {} is larger than {MAX_PROFILE} bytes",
            path.display()
        )));
    }
    serde_json::from_str(&text).map_err(|e| {
        Error::invalid(format!(
            "seccomp profile {}: not valid JSON: {e}",
            path.display()
        ))
    })
}

/// The running kernel's release (`6.1.0-18-amd64`), for `includes.minKernel`.
fn host_kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `major.minor` of a kernel release string.
fn kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn strings<'a>(v: Option<&'a Value>, field: &str) -> Result<Vec<&'a str>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().ok_or_else(|| {
                    Error::invalid(format!("seccomp profile: {field}: expected strings"))
                })
            })
            .collect(),
        Some(_) => Err(Error::invalid(format!(
            "seccomp profile: {field}: expected a list of strings"
        ))),
    }
}

/// A profile in Docker's format (or plain OCI) → the OCI `linux.seccomp` for a process holding
/// `caps` on `arch` (Docker's names) under kernel `kernel`: entries whose `includes` are not met
/// or whose `excludes` are met are dropped, `archMap` becomes the host's architectures.
/// The result is checked by parsing it into `oci_spec::runtime::LinuxSeccomp`.
pub fn from_docker_format(doc: &Value, caps: &[String], arch: &str, kernel: &str) -> Result<Value> {
    let bad = |m: String| Error::invalid(format!("seccomp profile: {m}"));
    let obj = doc
        .as_object()
        .ok_or_else(|| bad("expected a JSON object".into()))?;
    let arch = arch_info(arch).map_or(arch, |a| a.go);
    let mut out = Map::new();
    let default = obj
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("defaultAction is required".into()))?;
    out.insert("defaultAction".into(), json!(default));
    for k in [
        "defaultErrnoRet",
        "listenerPath",
        "listenerMetadata",
        "flags",
    ] {
        if let Some(v) = obj.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }

    let listed = strings(obj.get("architectures"), "architectures")?;
    let map = obj.get("archMap").and_then(Value::as_array);
    let mut arches: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    if let Some(map) = map.filter(|m| !m.is_empty()) {
        if !listed.is_empty() {
            return Err(bad("architectures and archMap cannot both be given".into()));
        }
        let native = arch_info(arch).map(|a| a.scmp[0]);
        for m in map {
            if native.is_some() && m.get("architecture").and_then(Value::as_str) == native {
                arches.extend(native.map(String::from));
                arches.extend(
                    strings(m.get("subArchitectures"), "archMap.subArchitectures")?
                        .into_iter()
                        .map(String::from),
                );
            }
        }
    }
    if !arches.is_empty() {
        out.insert("architectures".into(), json!(arches));
    }

    let host_kernel = kernel_version(kernel);
    let mut rules = Vec::new();
    let entries = match obj.get("syscalls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("syscalls: expected a list".into())),
    };
    for (i, s) in entries.iter().enumerate() {
        let field = |f: &str| format!("syscalls[{i}].{f}");
        let s = s
            .as_object()
            .ok_or_else(|| bad(format!("syscalls[{i}]: expected an object")))?;
        let mut names: Vec<&str> = strings(s.get("names"), &field("names"))?;
        if let Some(n) = s.get("name").filter(|v| !v.is_null()) {
            if !names.is_empty() {
                return Err(bad(format!(
                    "syscalls[{i}]: name and names cannot both be given"
                )));
            }
            names.push(
                n.as_str()
                    .ok_or_else(|| bad(format!("{}: expected a string", field("name"))))?,
            );
        }
        if names.is_empty() {
            return Err(bad(format!("syscalls[{i}]: no system call names")));
        }
        let empty = Value::Null;
        let inc = s.get("includes").unwrap_or(&empty);
        let exc = s.get("excludes").unwrap_or(&empty);
        let inc_caps = strings(inc.get("caps"), &field("includes.caps"))?;
        let inc_arches = strings(inc.get("arches"), &field("includes.arches"))?;
        let exc_caps = strings(exc.get("caps"), &field("excludes.caps"))?;
        let exc_arches = strings(exc.get("arches"), &field("excludes.arches"))?;
        if !inc_caps.iter().all(|c| caps.iter().any(|x| x == c))
            || (!inc_arches.is_empty() && !inc_arches.contains(&arch))
            || exc_caps.iter().any(|c| caps.iter().any(|x| x == c))
            || exc_arches.contains(&arch)
        {
            continue;
        }
        if let Some(min) = inc.get("minKernel").and_then(Value::as_str) {
            let want = kernel_version(min)
                .ok_or_else(|| bad(format!("{}: {min:?}", field("includes.minKernel"))))?;
            if host_kernel.is_some_and(|k| k < want) {
                continue;
            }
        }
        let action = s
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{}: required", field("action"))))?;
        let mut rule = json!({ "names": names, "action": action });
        if let Some(e) = s.get("errnoRet").filter(|v| !v.is_null()) {
            rule["errnoRet"] = e.clone();
        }
        if let Some(a) = s
            .get("args")
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            rule["args"] = a.clone();
        }
        rules.push(rule);
    }
    out.insert("syscalls".into(), Value::Array(rules));
    let out = Value::Object(out);
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(out.clone())
        .map_err(|e| bad(format!("{e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::spec::DEFAULT_CAPS;
    use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

    fn caps(extra: &[&str]) -> Vec<String> {
        DEFAULT_CAPS
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    }

    fn parse(v: &Value) -> LinuxSeccomp {
        serde_json::from_value(v.clone()).expect("a valid LinuxSeccomp")
    }

    /// The rules naming `name`: (action, errno, args as (index, op, value)).
    type Rule = (
        LinuxSeccompAction,
        Option<u32>,
        Vec<(usize, LinuxSeccompOperator, u64)>,
    );
    fn rules_for(s: &LinuxSeccomp, name: &str) -> Vec<Rule> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .map(|r| {
                (
                    r.action(),
                    r.errno_ret(),
                    r.args()
                        .iter()
                        .flatten()
                        .map(|a| (a.index(), a.op(), a.value()))
                        .collect(),
                )
            })
            .collect()
    }

    fn unconditionally_allowed(s: &LinuxSeccomp, name: &str) -> bool {
        rules_for(s, name)
            .iter()
            .any(|(a, _, args)| *a == LinuxSeccompAction::ScmpActAllow && args.is_empty())
    }

    #[test]
    fn default_caps_allow_the_ordinary_and_deny_the_rest() {
        let v = profile(&caps(&[]), "amd64");
        let s = parse(&v);
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        for ok in ["read", "write", "execve", "arch_prctl", "chroot", "ptrace"] {
            assert!(unconditionally_allowed(&s, ok), "{ok}");
        }
        // clone only without namespace flags; clone3 says ENOSYS.
        assert_eq!(
            rules_for(&s, "clone"),
            [(
                LinuxSeccompAction::ScmpActAllow,
                None,
                vec![(0, LinuxSeccompOperator::ScmpCmpMaskedEq, 0x7e02_0000)]
            )]
        );
        assert_eq!(
            rules_for(&s, "clone3"),
            [(LinuxSeccompAction::ScmpActErrno, Some(38), vec![])]
        );
        for denied in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "bpf",
            "keyctl",
            "add_key",
            "request_key",
            "userfaultfd",
            "io_uring_setup",
            "kexec_load",
            "open_by_handle_at",
            "init_module",
            "reboot",
            "process_vm_readv",
            "settimeofday",
        ] {
            assert!(rules_for(&s, denied).is_empty(), "{denied}");
        }
        for never in NEVER {
            assert!(rules_for(&s, never).is_empty(), "{never}");
        }
        // socket: everything but AF_ALG (38) and AF_VSOCK (40).
        let sock = rules_for(&s, "socket");
        let allows = |af: u64| {
            sock.iter().any(|(_, _, args)| {
                args.iter().all(|(_, op, v)| match op {
                    LinuxSeccompOperator::ScmpCmpLt => af < *v,
                    LinuxSeccompOperator::ScmpCmpEq => af == *v,
                    LinuxSeccompOperator::ScmpCmpGt => af > *v,
                    _ => false,
                })
            })
        };
        for af in [1, 2, 10, 16, 17, 39, 41, 45] {
            assert!(allows(af), "{af}");
        }
        assert!(!allows(38) && !allows(40));
        // personality: five personas, nothing else.
        assert_eq!(rules_for(&s, "personality").len(), 5);
    }

    #[test]
    fn capabilities_unlock_their_calls() {
        let s = parse(&profile(&caps(&["CAP_SYS_ADMIN"]), "amd64"));
        for ok in [
            "mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf",
        ] {
            assert!(unconditionally_allowed(&s, ok), "{ok}");
        }
        // No conditional clone rule and no ENOSYS for clone3 beside the open ones.
        assert_eq!(rules_for(&s, "clone").len(), 1);
        assert_eq!(rules_for(&s, "clone3").len(), 1);
        assert!(rules_for(&s, "keyctl").is_empty());

        let s = parse(&profile(
            &caps(&["CAP_SYS_PTRACE", "CAP_SYS_TIME"]),
            "amd64",
        ));
        for ok in ["process_vm_readv", "kcmp", "userfaultfd", "clock_settime"] {
            assert!(unconditionally_allowed(&s, ok), "{ok}");
        }
        assert!(rules_for(&s, "mount").is_empty());
        // Dropping CAP_SYS_CHROOT takes chroot away.
        let without: Vec<String> = caps(&[])
            .into_iter()
            .filter(|c| c != "CAP_SYS_CHROOT")
            .collect();
        assert!(rules_for(&parse(&profile(&without, "amd64")), "chroot").is_empty());
    }

    #[test]
    fn other_architectures() {
        let v = profile(&caps(&[]), "arm64");
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        let s = parse(&v);
        assert!(rules_for(&s, "arch_prctl").is_empty());
        assert!(unconditionally_allowed(&s, "set_tls"));
        assert_eq!(profile(&caps(&[]), "x86_64"), profile(&caps(&[]), "amd64"));
        // s390x keeps clone's flags in the second argument.
        let s = parse(&profile(&caps(&[]), "s390x"));
        assert_eq!(rules_for(&s, "clone")[0].2[0].0, 1);
        // Unknown: common rules, native architecture only.
        assert!(profile(&caps(&[]), "sparc64")
            .get("architectures")
            .is_none());
    }

    #[test]
    fn no_name_is_listed_twice_in_the_unconditional_groups() {
        let mut all: Vec<&str> = ALWAYS.iter().flat_map(|g| g.iter().copied()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        for never in NEVER {
            assert!(!all.contains(never), "{never}");
            for (_, names) in BY_CAPABILITY {
                assert!(!names.contains(never), "{never}");
            }
        }
    }

    #[test]
    fn security_options_choose_the_profile() {
        let c = caps(&[]);
        let builtin = for_container(&[], false, &c).expect("default");
        assert_eq!(builtin, Some(profile(&c, host_arch())));
        let o = |s: &str| vec![s.to_string()];
        assert_eq!(
            for_container(&o("seccomp=unconfined"), false, &c).expect("unconfined"),
            None
        );
        assert_eq!(
            for_container(&o("seccomp:unconfined"), false, &c).expect("unconfined"),
            None
        );
        assert_eq!(
            for_container(&o("seccomp=builtin"), false, &c).expect("builtin"),
            builtin
        );
        // Privileged: none, whatever was asked.
        assert_eq!(for_container(&[], true, &c).expect("privileged"), None);
        assert_eq!(
            for_container(&o("seccomp=builtin"), true, &c).expect("privileged"),
            None
        );
        assert!(for_container(&o("seccomp=relative.json"), false, &c).is_err());
        assert!(for_container(&o("seccomp={not json"), false, &c).is_err());
        assert!(for_container(&o("seccomp=/nonexistent/berth.json"), false, &c).is_err());
        assert!(for_container(&o("seccomp=/dev"), false, &c).is_err());
    }

    /// A profile in Docker's format, as the docker CLI sends it or as a file.
    fn user_profile() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                { "architecture": "SCMP_ARCH_X86_64",
                  "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
                { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"] }
            ],
            "syscalls": [
                { "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW",
                  "args": [], "comment": "", "includes": {}, "excludes": {} },
                { "name": "getpid", "action": "SCMP_ACT_ALLOW", "args": null },
                { "names": ["mount"], "action": "SCMP_ACT_ALLOW",
                  "includes": { "caps": ["CAP_SYS_ADMIN"] } },
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 2114060288, "valueTwo": 0,
                             "op": "SCMP_CMP_MASKED_EQ" }],
                  "excludes": { "caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"] } },
                { "names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
                  "includes": { "arches": ["amd64", "x32"] } },
                { "names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
                  "includes": { "minKernel": "4.8" } },
                { "names": ["futex_waitv"], "action": "SCMP_ACT_ALLOW",
                  "includes": { "minKernel": "99.0" } },
                { "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 }
            ]
        })
    }

    #[test]
    fn docker_format_profiles_convert() {
        let c = caps(&[]);
        let v =
            from_docker_format(&user_profile(), &c, "amd64", "6.1.0-18-amd64").expect("converts");
        let s = parse(&v);
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert!(unconditionally_allowed(&s, "read"));
        assert!(unconditionally_allowed(&s, "getpid"));
        assert!(unconditionally_allowed(&s, "arch_prctl"));
        assert!(unconditionally_allowed(&s, "ptrace"));
        assert!(rules_for(&s, "futex_waitv").is_empty());
        assert!(rules_for(&s, "mount").is_empty());
        assert_eq!(rules_for(&s, "clone")[0].2.len(), 1);
        assert_eq!(
            rules_for(&s, "mkdir"),
            [(LinuxSeccompAction::ScmpActErrno, Some(13), vec![])]
        );
        // With CAP_SYS_ADMIN on arm64.
        let v = from_docker_format(&user_profile(), &caps(&["CAP_SYS_ADMIN"]), "arm64", "6.1")
            .expect("converts");
        let s = parse(&v);
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        assert!(unconditionally_allowed(&s, "mount"));
        assert!(rules_for(&s, "clone").is_empty());
        assert!(rules_for(&s, "arch_prctl").is_empty());
        // An OCI document passes through as it is.
        let oci = profile(&c, "amd64");
        assert_eq!(
            from_docker_format(&oci, &c, "amd64", "6.1").expect("oci"),
            oci
        );
        // Mistakes are named.
        for (doc, what) in [
            (json!([]), "object"),
            (json!({"syscalls": []}), "defaultAction"),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}),
                "action",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_NOPE", "syscalls": []}),
                "seccomp profile",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_WHAT"}]}]}),
                "seccomp profile",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                       "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}),
                "archMap",
            ),
        ] {
            let e = from_docker_format(&doc, &c, "amd64", "6.1").expect_err(what);
            assert!(e.to_string().contains(what), "{e} / {what}");
        }
    }

    #[test]
    fn a_profile_file_is_read_and_converted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("berth-profile.json");
        std::fs::write(&path, user_profile().to_string()).expect("write");
        let opt = vec![format!("seccomp={}", path.display())];
        let v = for_container(&opt, false, &caps(&[]))
            .expect("read")
            .expect("a profile");
        assert!(unconditionally_allowed(&parse(&v), "getpid"));
        // The docker CLI sends the file's text instead of its name.
        let opt = vec![format!("seccomp={}", user_profile())];
        assert_eq!(
            for_container(&opt, false, &caps(&[])).expect("inline"),
            Some(v)
        );
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(kernel_version("4.8"), Some((4, 8)));
        assert_eq!(kernel_version("5"), Some((5, 0)));
        assert_eq!(kernel_version("x"), None);
        assert!((4, 8) < (4, 14) && (4, 14) < (5, 0));
    }

    /// The facts against Docker's published profile, when the reference copy is on this
    /// machine: every call Docker allows for a capability set is allowed here the same way, but
    /// for Berth's documented differences.
    #[test]
    fn facts_agree_with_dockers_profile() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/docker-default-seccomp.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: {} is not on this machine", path.display());
            return;
        };
        let doc: Value = serde_json::from_str(&text).expect("json");
        // Stricter on purpose: see the module doc.
        let stricter = [
            "io_uring_enter",
            "io_uring_register",
            "io_uring_setup",
            "socket",
        ];
        for extra in [
            &[][..],
            &["CAP_SYS_ADMIN"],
            &["CAP_SYS_PTRACE", "CAP_SYS_NICE", "CAP_SYS_TIME"],
            &[
                "CAP_SYS_MODULE",
                "CAP_SYS_BOOT",
                "CAP_SYS_PACCT",
                "CAP_SYS_RAWIO",
                "CAP_SYS_TTY_CONFIG",
                "CAP_SYSLOG",
                "CAP_DAC_READ_SEARCH",
            ],
        ] {
            let c = caps(extra);
            let theirs = parse(&from_docker_format(&doc, &c, "amd64", "6.1").expect("docker"));
            let ours = parse(&profile(&c, "amd64"));
            for rule in theirs.syscalls().iter().flatten() {
                for name in rule.names() {
                    if stricter.contains(&name.as_str()) {
                        continue;
                    }
                    let mut want = rules_for(&theirs, name);
                    let mut got = rules_for(&ours, name);
                    want.sort_by_key(|r| format!("{r:?}"));
                    got.sort_by_key(|r| format!("{r:?}"));
                    // Several groups may allow the same name: compare the distinct rules.
                    want.dedup();
                    got.dedup();
                    assert_eq!(got, want, "{name} with {extra:?}");
                }
            }
            assert_eq!(theirs.architectures(), ours.architectures());
        }
    }
}
