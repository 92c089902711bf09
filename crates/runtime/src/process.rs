//! The process stages. The caller clones `berth:[2:INIT]` (or `berth:[2:EXEC]` for `exec`) and
//! talks to it over a SOCK_SEQPACKET pair with [`Msg`]s:
//!
//! ```text
//! caller                                   child
//!   clone ──────────────────────────────▶  waits for Go
//!   cgroup, id maps, oom_score_adj
//!   Go ─────────────────────────────────▶  joins namespaces, hostname, sysctls, mounts, console
//!                    ◀──────────────────── HooksReady   (only if prestart/createRuntime hooks)
//!   runs hooks; HooksDone ──────────────▶  createContainer hooks, pivot_root, masks, cwd,
//!                                          rlimits, no_new_privs, seccomp, capabilities, user
//!                    ◀──────────────────── Ready  (or Error(text), then exit)
//!   records state, exits (create)          blocks opening the exec FIFO until `start`,
//!                                          startContainer hooks, execve
//! ```
//! Everything the child needs is computed by the caller before the clone (spec parsing, seccomp
//! compilation), so the child does no allocation-heavy or fallible parsing work.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hook, Process};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use serde::{Deserialize, Serialize};

use crate::caps::CapSets;
use crate::error::{IoContext, Result, RuntimeError};
use crate::rootfs::{self, RootfsPlan};
use crate::seccomp::SeccompProgram;
use crate::sys;

/// Messages on the sync socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    Go,
    HooksReady,
    HooksDone,
    Ready,
    Error(String),
}

pub fn send(sock: BorrowedFd<'_>, m: &Msg) -> Result<()> {
    let data = serde_json::to_vec(m).map_err(|e| RuntimeError::Other(e.to_string()))?;
    rustix::net::send(sock, &data, rustix::net::SendFlags::NOSIGNAL)
        .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
        .ctx(|| "sync socket send".into())?;
    Ok(())
}

/// Receive one message; `None` when the peer closed the socket (exited or exec'd).
pub fn recv(sock: BorrowedFd<'_>) -> Result<Option<Msg>> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rustix::net::recv(sock, &mut buf, rustix::net::RecvFlags::empty()) {
            Ok((0, _)) => return Ok(None),
            Ok((n, _)) => {
                return serde_json::from_slice(&buf[..n])
                    .map(Some)
                    .map_err(|e| RuntimeError::Other(format!("sync socket: {e}")))
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(io::Error::from_raw_os_error(e.raw_os_error()))
                    .ctx(|| "sync socket recv".into())
            }
        }
    }
}

/// The user process, fully resolved by the caller.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// The PATH used to look up `args[0]` (from `env`, else the default).
    pub path_var: String,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: u32,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    pub rlimits: Vec<(u32, u64, u64)>,
    pub no_new_privs: bool,
    pub caps: CapSets,
    pub seccomp: Option<SeccompProgram>,
    pub apparmor: Option<String>,
    pub selinux: Option<String>,
    pub oom_score_adj: Option<i32>,
    /// Extra fds (3..3+n) passed through to the process.
    pub preserve_fds: u32,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ProcessConfig {
    pub fn from_spec(p: &Process, seccomp: Option<SeccompProgram>) -> Result<Self> {
        let cs = |s: &str, field: &str| {
            CString::new(s).map_err(|_| RuntimeError::spec(field, "contains a NUL byte"))
        };
        let args = p
            .args()
            .iter()
            .flatten()
            .map(|a| cs(a, "process.args"))
            .collect::<Result<Vec<_>>>()?;
        let env_strs: Vec<String> = p.env().clone().unwrap_or_default();
        let env = env_strs
            .iter()
            .map(|e| cs(e, "process.env"))
            .collect::<Result<Vec<_>>>()?;
        let path_var = env_strs
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
            .to_string();
        let mut caps = match p.capabilities() {
            Some(c) => CapSets::from_spec(c)
                .map_err(|e| RuntimeError::spec("process.capabilities", e.to_string()))?,
            None => CapSets::default(),
        };
        let ignored = caps.drop_unraisable_ambient();
        if !ignored.is_empty() {
            crate::warn(&format!(
                "ignoring ambient capabilities not also inheritable and permitted: {}",
                ignored.join(", ")
            ));
        }
        let rlimits = p
            .rlimits()
            .iter()
            .flatten()
            .map(|r| (rlimit_resource(r.typ()), r.soft(), r.hard()))
            .collect();
        let user = p.user();
        Ok(ProcessConfig {
            args,
            env,
            path_var,
            cwd: p.cwd().clone(),
            uid: user.uid(),
            gid: user.gid(),
            groups: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022),
            terminal: p.terminal().unwrap_or(false),
            console_size: p
                .console_size()
                .as_ref()
                .map(|b| (b.height() as u16, b.width() as u16)),
            rlimits,
            no_new_privs: p.no_new_privileges().unwrap_or(false),
            caps,
            seccomp,
            apparmor: p.apparmor_profile().clone().filter(|s| !s.is_empty()),
            selinux: p.selinux_label().clone().filter(|s| !s.is_empty()),
            oom_score_adj: p.oom_score_adj(),
            preserve_fds: 0,
        })
    }
}

fn rlimit_resource(t: oci_spec::runtime::PosixRlimitType) -> u32 {
    use oci_spec::runtime::PosixRlimitType as R;
    match t {
        R::RlimitCpu => libc::RLIMIT_CPU,
        R::RlimitFsize => libc::RLIMIT_FSIZE,
        R::RlimitData => libc::RLIMIT_DATA,
        R::RlimitStack => libc::RLIMIT_STACK,
        R::RlimitCore => libc::RLIMIT_CORE,
        R::RlimitRss => libc::RLIMIT_RSS,
        R::RlimitNproc => libc::RLIMIT_NPROC,
        R::RlimitNofile => libc::RLIMIT_NOFILE,
        R::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        R::RlimitAs => libc::RLIMIT_AS,
        R::RlimitLocks => libc::RLIMIT_LOCKS,
        R::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        R::RlimitNice => libc::RLIMIT_NICE,
        R::RlimitRtprio => libc::RLIMIT_RTPRIO,
        R::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Everything INIT needs.
#[derive(Debug)]
pub struct InitConfig {
    pub rootfs: RootfsPlan,
    pub joins: Vec<(libc::c_int, OwnedFd)>,
    pub new_user: bool,
    pub new_uts: bool,
    pub new_mnt: bool,
    /// Unshared after the caller has placed INIT in its cgroup, so the namespace's root is the
    /// container's cgroup.
    pub new_cgroupns: bool,
    pub root_mapped: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub sysctls: Vec<(String, String)>,
    pub process: ProcessConfig,
    pub create_container_hooks: Vec<Hook>,
    pub start_container_hooks: Vec<Hook>,
    pub want_runtime_hooks: bool,
    /// The exec FIFO (create/start), opened `O_PATH` by the runtime before the clone (INIT may
    /// not be able to reach the state directory); `None` executes at once.
    pub fifo: Option<OwnedFd>,
    pub console_socket: Option<OwnedFd>,
    pub mount_label: Option<String>,
    /// State JSON for hooks run by the child.
    pub hook_state: Vec<u8>,
}

/// Everything an exec'd process needs.
#[derive(Debug)]
pub struct ExecConfig {
    pub joins: Vec<(libc::c_int, OwnedFd)>,
    /// `/proc/<init>/root`, entered after joining the mount namespace.
    pub root: OwnedFd,
    pub process: ProcessConfig,
    pub console_socket: Option<OwnedFd>,
}

/// Run INIT: never returns. Reports failures on `sync` and exits 1.
pub fn init_main(cfg: InitConfig, sync: OwnedFd) -> ! {
    sys::set_name(c"berth:[2:INIT]");
    let r = init_setup(&cfg, sync.as_fd());
    let e = match r {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if READY_SENT.load(std::sync::atomic::Ordering::Relaxed) {
        // The runtime that created us is gone: the container's stderr is the only witness.
        let _ = rustix::io::write(
            rustix::stdio::stderr(),
            format!("berth-runc: container init: {e}\n").as_bytes(),
        );
    } else {
        let _ = send(sync.as_fd(), &Msg::Error(e.to_string()));
    }
    sys::exit_now(1)
}

/// Set once INIT has told the runtime it is ready: later failures have no one to report to.
static READY_SENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn wait_for(sync: BorrowedFd<'_>, want: Msg) -> Result<()> {
    match recv(sync)? {
        Some(m) if m == want => Ok(()),
        Some(m) => Err(RuntimeError::Other(format!(
            "sync: expected {want:?}, got {m:?}"
        ))),
        None => Err(RuntimeError::Other("sync: runtime went away".into())),
    }
}

enum Never {}

fn init_setup(cfg: &InitConfig, sync: BorrowedFd<'_>) -> Result<Never> {
    // Die with the runtime while being set up; cleared before reporting Ready.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    // Not dumpable until exec: nothing in the container can open our /proc files.
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);
    wait_for(sync, Msg::Go)?;
    if cfg.new_user && cfg.root_mapped {
        sys::setresgid(0).ctx(|| "setresgid(0) in the user namespace".into())?;
        sys::setresuid(0).ctx(|| "setresuid(0) in the user namespace".into())?;
    }
    for (nstype, fd) in &cfg.joins {
        sys::setns(fd.as_fd(), *nstype).ctx(|| format!("join namespace {nstype:#x}"))?;
    }
    // Our cgroups as the host sees them (for the cgroup mount), before a new cgroupns hides it.
    let own_cgroup =
        std::fs::read_to_string("/proc/self/cgroup").ctx(|| "read /proc/self/cgroup".into())?;
    if cfg.new_cgroupns {
        sys::unshare(libc::CLONE_NEWCGROUP).ctx(|| "create cgroup namespace".into())?;
    }
    if let Some(h) = &cfg.hostname {
        if !cfg.new_uts {
            return Err(RuntimeError::Setup(
                "unable to set hostname without a private UTS namespace".into(),
            ));
        }
        sys::sethostname(h).ctx(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = &cfg.domainname {
        if !cfg.new_uts {
            return Err(RuntimeError::Setup(
                "unable to set domainname without a private UTS namespace".into(),
            ));
        }
        sys::setdomainname(d).ctx(|| format!("setdomainname {d:?}"))?;
    }
    for (k, v) in &cfg.sysctls {
        rootfs::write_sysctl(k, v)?;
    }
    if !cfg.new_mnt {
        return Err(RuntimeError::Setup(
            "a private mount namespace is required".into(),
        ));
    }
    sys::umask(0);
    let fifo = cfg.fifo.as_ref();
    let actx = rootfs::ApplyCtx {
        in_userns: cfg.new_user,
        own_cgroup: &own_cgroup,
        mount_label: cfg.mount_label.as_deref(),
    };
    let root = rootfs::prepare(&cfg.rootfs, &actx)?;
    let console = if cfg.process.terminal {
        Some(open_console(
            root.as_fd(),
            &cfg.process,
            cfg.console_socket.as_ref(),
            true,
        )?)
    } else {
        None
    };
    if cfg.want_runtime_hooks {
        send(sync, &Msg::HooksReady)?;
        wait_for(sync, Msg::HooksDone)?;
    }
    crate::hooks::run_all(
        "createContainer",
        &cfg.create_container_hooks,
        &cfg.hook_state,
    )?;
    rootfs::pivot(&cfg.rootfs, &root)?;
    drop(root);
    rootfs::finish(&cfg.rootfs)?;
    // PID 1 of the container leads its own session, as with runc.
    let _ = sys::setsid();
    let exe = finalize_process(&cfg.process, console.as_ref())?;
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0);
    send(sync, &Msg::Ready)?;
    READY_SENT.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(fifo) = fifo {
        // Blocks until `start` opens the FIFO for reading.
        let w = rustix::fs::open(
            sys::fd_path(fifo).as_c_str(),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
        .ctx(|| "open exec fifo".into())?;
        rustix::io::write(&w, b"0")
            .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
            .ctx(|| "write exec fifo".into())?;
    }
    crate::hooks::run_all(
        "startContainer",
        &cfg.start_container_hooks,
        &cfg.hook_state,
    )?;
    Err(exec_user(&cfg.process, &exe))
}

/// Run EXEC: join the container, set up the process, report Ready, exec. Never returns.
pub fn exec_main(cfg: ExecConfig, sync: OwnedFd) -> ! {
    sys::set_name(c"berth:[2:EXEC]");
    let r = exec_setup(&cfg, sync.as_fd());
    let e = match r {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = send(sync.as_fd(), &Msg::Error(e.to_string()));
    sys::exit_now(1)
}

fn exec_setup(cfg: &ExecConfig, sync: BorrowedFd<'_>) -> Result<Never> {
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);
    wait_for(sync, Msg::Go)?;
    // Namespaces the host owns (a network namespace made by the daemon) cannot be joined from
    // inside the container's user namespace: join what we can first, the user namespace next,
    // and then the namespaces that it owns (as runc does).
    let mut later = Vec::new();
    for (nstype, fd) in cfg.joins.iter().filter(|(t, _)| *t != libc::CLONE_NEWUSER) {
        if sys::setns(fd.as_fd(), *nstype).is_err() {
            later.push((*nstype, fd));
        }
    }
    for (nstype, fd) in cfg.joins.iter().filter(|(t, _)| *t == libc::CLONE_NEWUSER) {
        sys::setns(fd.as_fd(), *nstype).ctx(|| "join user namespace".into())?;
    }
    for (nstype, fd) in later {
        sys::setns(fd.as_fd(), nstype).ctx(|| format!("join namespace {nstype:#x}"))?;
    }
    sys::fchdir(cfg.root.as_fd()).ctx(|| "enter the container root".into())?;
    sys::chroot(c".").ctx(|| "chroot into the container root".into())?;
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
    .ctx(|| "open /".into())?;
    let console = if cfg.process.terminal {
        Some(open_console(
            root.as_fd(),
            &cfg.process,
            cfg.console_socket.as_ref(),
            false,
        )?)
    } else {
        None
    };
    if console.is_some() {
        sys::setsid().ctx(|| "setsid".into())?;
    }
    let exe = finalize_process(&cfg.process, console.as_ref())?;
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0);
    send(sync, &Msg::Ready)?;
    Err(exec_user(&cfg.process, &exe))
}

/// Create a pty inside the container's devpts, pass the master to the console socket, and
/// (for INIT) bind the slave onto /dev/console. Returns the slave.
fn open_console(
    root: BorrowedFd<'_>,
    p: &ProcessConfig,
    socket: Option<&OwnedFd>,
    bind_console: bool,
) -> Result<OwnedFd> {
    let socket = socket.ok_or_else(|| {
        RuntimeError::Setup("process.terminal is set but no --console-socket was given".into())
    })?;
    let master = rustix::fs::openat2(
        root,
        "dev/pts/ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
    .ctx(|| "open the container's /dev/pts/ptmx".into())?;
    let slave = sys::open_pty_peer(master.as_fd()).ctx(|| "open pty peer".into())?;
    if let Some((rows, cols)) = p.console_size {
        let _ = sys::set_winsize(master.as_raw_fd(), rows, cols);
    }
    if bind_console {
        rootfs::setup_console(root, slave.as_fd())?;
    }
    let name = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd()))
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_else(|_| b"/dev/console".to_vec());
    sys::send_fd(socket.as_fd(), &name, master.as_fd())
        .ctx(|| "send pty master to the console socket".into())?;
    Ok(slave)
}

/// Shared tail of INIT and EXEC: the executable, cwd, rlimits, terminal, security, identity.
fn finalize_process(p: &ProcessConfig, console: Option<&OwnedFd>) -> Result<CString> {
    // Mark every fd the process was not given close-on-exec here, before any seccomp filter is
    // loaded: a profile need not allow close_range(2) (runtime-tools' default profile does not,
    // and then every container failed with "close fds: Operation not permitted"). Every fd
    // opened from here until execve is O_CLOEXEC.
    let first = 3 + p.preserve_fds;
    sys::cloexec_from(first).map_err(|e| RuntimeError::Setup(format!("close fds: {e}")))?;
    for fd in 3..first {
        let _ = sys::set_cloexec(fd as i32, false);
    }
    let exe = lookup_executable(p)?;
    std::env::set_current_dir(&p.cwd)
        .ctx(|| format!("chdir to cwd ({}) set in config.json", p.cwd.display()))?;
    // A cwd reached through a leaked host fd would not resolve from the new root.
    match std::env::current_dir() {
        Ok(d) if d.is_absolute() && !d.as_os_str().as_bytes().starts_with(b"(unreachable)") => {}
        _ => {
            return Err(RuntimeError::Setup(format!(
                "cwd {} resolves outside the container root",
                p.cwd.display()
            )))
        }
    }
    for (res, soft, hard) in &p.rlimits {
        sys::setrlimit(*res, *soft, *hard).ctx(|| format!("setrlimit {res}"))?;
    }
    if let Some(slave) = console {
        sys::ioctl_int(slave.as_raw_fd(), libc::TIOCSCTTY, 0)
            .ctx(|| "set controlling terminal".into())?;
        for fd in 0..3 {
            sys::dup2(slave.as_raw_fd(), fd).ctx(|| "dup pty to stdio".into())?;
        }
    }
    if let Some(a) = &p.apparmor {
        crate::lsm::apply_apparmor(a)?;
    }
    if let Some(l) = &p.selinux {
        crate::lsm::apply_selinux(l)?;
    }
    if p.no_new_privs {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).ctx(|| "set no_new_privs".into())?;
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we have it.
    if let (Some(prog), false) = (&p.seccomp, p.no_new_privs) {
        crate::seccomp::load(prog).map_err(|e| RuntimeError::Setup(format!("seccomp: {e}")))?;
    }
    crate::caps::drop_bounding(&p.caps)
        .map_err(|e| RuntimeError::Setup(format!("capabilities: {e}")))?;
    crate::caps::set_keep_caps(true)
        .map_err(|e| RuntimeError::Setup(format!("capabilities: {e}")))?;
    sys::setgroups(&p.groups).ctx(|| format!("setgroups {:?}", p.groups))?;
    sys::setresgid(p.gid).ctx(|| format!("setresgid {}", p.gid))?;
    sys::setresuid(p.uid).ctx(|| format!("setresuid {}", p.uid))?;
    crate::caps::set_keep_caps(false)
        .map_err(|e| RuntimeError::Setup(format!("capabilities: {e}")))?;
    crate::caps::apply(&p.caps).map_err(|e| RuntimeError::Setup(format!("capabilities: {e}")))?;
    if let (Some(prog), true) = (&p.seccomp, p.no_new_privs) {
        crate::seccomp::load(prog).map_err(|e| RuntimeError::Setup(format!("seccomp: {e}")))?;
    }
    sys::umask(p.umask);
    Ok(exe)
}

/// Find `args[0]` as execve would, inside the (already entered) container root, and report a
/// missing or non-executable file with Go's wording (Docker maps it to exit codes 127/126).
fn lookup_executable(p: &ProcessConfig) -> Result<CString> {
    let arg0 = p
        .args
        .first()
        .ok_or_else(|| RuntimeError::spec("process.args", "must not be empty"))?;
    let name = arg0.to_string_lossy().into_owned();
    let check = |path: &Path| -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(path)?;
        if m.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        if m.permissions().mode() & 0o111 == 0 {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(())
    };
    if name.contains('/') {
        let path = if Path::new(&name).is_absolute() {
            PathBuf::from(&name)
        } else {
            p.cwd.join(&name)
        };
        return match check(&path) {
            Ok(()) => Ok(arg0.clone()),
            Err(e) => Err(RuntimeError::Setup(format!(
                "exec: \"{name}\": stat {name}: {}",
                errno_text(&e)
            ))),
        };
    }
    let mut denied = None;
    for dir in p.path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(&name);
        match check(&cand) {
            Ok(()) => return sys::cpath(&cand).ctx(String::new),
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => denied = Some(cand),
            Err(_) => {}
        }
    }
    if let Some(d) = denied {
        return Err(RuntimeError::Setup(format!(
            "exec: \"{name}\": stat {}: permission denied",
            d.display()
        )));
    }
    Err(RuntimeError::Setup(format!(
        "exec: \"{name}\": executable file not found in $PATH"
    )))
}

fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "no such file or directory".into(),
        Some(libc::EACCES) => "permission denied".into(),
        Some(libc::EISDIR) => "is a directory".into(),
        Some(libc::ENOTDIR) => "not a directory".into(),
        _ => e.to_string(),
    }
}

/// Reset signals and execve (fds were marked close-on-exec by `finalize_process`, before
/// seccomp). Returns on failure.
fn exec_user(p: &ProcessConfig, exe: &CString) -> RuntimeError {
    sys::reset_signal_dispositions();
    sys::unblock_all_signals();
    let e = sys::execve(exe, &p.args, &p.env);
    RuntimeError::Setup(format!(
        "exec: \"{}\": {}",
        exe.to_string_lossy(),
        errno_text(&e)
    ))
}

/// Re-execute the running binary from a read-only, detached clone of itself (once), so that no
/// process in a container can reopen our executable for writing through /proc/<pid>/exe
/// (CVE-2019-5736). Costs one execve; a no-op when already protected or not privileged.
pub fn protect_executable() {
    let Ok(exe) = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    if sys::fstatvfs_flags(exe.as_fd())
        .map(|f| f & libc::ST_RDONLY != 0)
        .unwrap_or(true)
    {
        return;
    }
    if std::env::var_os("BERTH_EXE_PROTECTED").is_some() {
        // We were re-executed but the clone is not read-only: do not loop.
        return;
    }
    let Ok(tree) = sys::open_tree(
        rustix::fs::CWD,
        c"/proc/self/exe",
        (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint,
    ) else {
        return;
    };
    if sys::mount_setattr(tree.as_fd(), false, 0x1 /* MOUNT_ATTR_RDONLY */, 0).is_err() {
        return;
    }
    let Ok(f) = rustix::fs::open(
        sys::fd_path(&tree).as_c_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let argv: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut s = k.as_bytes().to_vec();
            s.push(b'=');
            s.extend_from_slice(v.as_bytes());
            CString::new(s).ok()
        })
        .collect();
    envp.push(c"BERTH_EXE_PROTECTED=1".to_owned());
    // Only returns on failure, in which case we carry on unprotected rather than fail.
    let _ = sys::fexecve(f.as_fd(), &argv, &envp);
}
