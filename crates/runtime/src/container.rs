//! The verbs of the runtime: create, start, state, kill, delete, exec, pause, resume, ps.
//! Each takes the state root (`--root`) and a container id; all state lives in `<root>/<id>/`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use rustix::fs::{Mode, OFlags};

use crate::cgroup::Cgroup;
use crate::error::{IoContext, Result, RuntimeError};
use crate::namespaces::{self, NsPlan};
use crate::process::{self, ExecConfig, InitConfig, Msg, ProcessConfig};
use crate::state::{self, OciState, Saved, StateDir, Status};
use crate::sys::{self, Forked};

/// Options of `create` (and `run`).
#[derive(Debug, Default, Clone)]
pub struct CreateOpts {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
}

fn io_err(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Connect to a console socket given on the command line.
fn connect_console(path: &Path) -> Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // A path longer than sun_path is reached through /proc/self/fd/<dir>/<name>.
    let s = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if path.as_os_str().as_bytes().len() >= 100 => {
            let d = rustix::fs::open(
                dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(io_err)
            .ctx(|| format!("open {}", dir.display()))?;
            let short = sys::fd_path(&d);
            let short = Path::new(std::ffi::OsStr::from_bytes(short.as_bytes())).join(name);
            std::os::unix::net::UnixStream::connect(&short)
        }
        _ => std::os::unix::net::UnixStream::connect(path),
    }
    .ctx(|| format!("connect console socket {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    state::write_atomic(path, pid.to_string().as_bytes())
}

/// The JSON of an OCI state, for hooks.
fn hook_state(id: &str, status: Status, pid: i32, bundle: &Path, spec: &Spec) -> Vec<u8> {
    let v = serde_json::json!({
        "ociVersion": "1.2.0",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// A created container, as returned by [`create`].
#[derive(Debug)]
pub struct Created {
    pub pid: i32,
}

/// `create`: set everything up and leave INIT waiting for `start`.
pub fn create(root: &Path, id: &str, opts: &CreateOpts) -> Result<Created> {
    let bundle =
        std::fs::canonicalize(&opts.bundle).ctx(|| format!("bundle {}", opts.bundle.display()))?;
    let sd = StateDir::new(root, id)?;
    if sd.exists() {
        return Err(RuntimeError::Exists(id.to_string()));
    }
    let spec = crate::spec::load(&bundle)?;
    crate::spec::validate(&spec, &bundle, true)?;
    sd.create()?;
    // From here on, a failure removes everything that was made.
    let mut cleanup = Cleanup::new(sd.clone());
    let r = create_inner(&sd, &bundle, &spec, opts, &mut cleanup);
    match r {
        Ok(c) => {
            cleanup.disarm();
            Ok(c)
        }
        Err(e) => Err(e),
    }
}

/// Undo a half-made container: kill the child, remove its cgroup and state directory.
struct Cleanup {
    sd: StateDir,
    pid: Option<i32>,
    cgroup: Option<Cgroup>,
    armed: bool,
}

impl Cleanup {
    fn new(sd: StateDir) -> Self {
        Cleanup {
            sd,
            pid: None,
            cgroup: None,
            armed: true,
        }
    }
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        let _ = self.sd.remove();
    }
}

/// The directory below the state root where compiled seccomp programs are kept. Its name
/// starts with a dot, so `list` (which reads `<root>/<id>/state.json`) passes over it.
pub const SECCOMP_CACHE_DIR: &str = ".seccomp-cache";

/// The BPF program of a spec's `linux.seccomp`, reused from `<root>/.seccomp-cache` when the
/// same profile was compiled before: every container of an engine usually has one of a few
/// profiles, and compiling Docker's default one costs milliseconds per create and exec. The
/// directory is made 0700 and used only while it stays ours (see `seccomp::compile_cached`).
fn seccomp_program(
    sd: &StateDir,
    s: Option<&oci_spec::runtime::LinuxSeccomp>,
) -> Result<Option<crate::seccomp::SeccompProgram>> {
    let Some(s) = s else { return Ok(None) };
    let prog = match sd.dir.parent() {
        Some(root) => crate::seccomp::compile_cached(s, &root.join(SECCOMP_CACHE_DIR)),
        None => crate::seccomp::compile(s),
    };
    prog.map(Some)
        .map_err(|e| RuntimeError::spec("linux.seccomp", e.to_string()))
}

fn create_inner(
    sd: &StateDir,
    bundle: &Path,
    spec: &Spec,
    opts: &CreateOpts,
    cleanup: &mut Cleanup,
) -> Result<Created> {
    let id = &sd.id;
    let rootfs = crate::spec::rootfs(spec, bundle)?;
    let rootfs =
        std::fs::canonicalize(&rootfs).ctx(|| format!("root.path {}", rootfs.display()))?;
    let linux = spec.linux().as_ref();
    let ns = NsPlan::from_spec(spec)?;
    let plan = crate::rootfs::plan(spec, &rootfs, opts.no_pivot)?;
    let proc_spec = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::spec("process", "is required"))?;
    let seccomp = seccomp_program(sd, linux.and_then(|l| l.seccomp().as_ref()))?;
    let mut pcfg = ProcessConfig::from_spec(proc_spec, seccomp)?;
    pcfg.preserve_fds = opts.preserve_fds;
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();

    std::fs::write(
        sd.dir.join(state::CONFIG_FILE),
        serde_json::to_vec(spec).unwrap_or_default(),
    )
    .ctx(|| "save config".into())?;
    let fifo = sd.fifo();
    // 0622 like runc: INIT reopens it for writing after dropping to the container's user (and
    // possibly inside a user namespace); only this fd, opened here, leads to it.
    sys::mkfifo(&sys::cpath(&fifo).ctx(String::new)?, 0o622).ctx(|| "create exec fifo".into())?;
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .ctx(|| "chmod exec fifo".into())?;
    let fifo_fd: OwnedFd = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))
    .ctx(|| format!("open {}", fifo.display()))?;

    // The cgroup exists and is limited before the first instruction of the container runs.
    // Like runc, every container gets a device allow-list, whether or not the spec has one.
    let resources = Some(with_default_device_rules(
        linux
            .and_then(|l| l.resources().clone())
            .unwrap_or_default(),
        spec,
    ));
    let cg = Cgroup::create(
        linux.and_then(|l| l.cgroups_path().as_deref()),
        id,
        resources.as_ref(),
    )?;
    cleanup.cgroup = Some(cg.clone());

    let console_socket = match &opts.console_socket {
        Some(p) => Some(connect_console(p)?),
        None => None,
    };
    let joins = namespaces::open_joins(&ns.joins)?;
    // Joining a pid namespace only affects children: do it here, before the clone.
    let (pid_joins, joins): (Vec<_>, Vec<_>) = joins
        .into_iter()
        .partition(|(t, _)| *t == libc::CLONE_NEWPID);
    for (t, fd) in &pid_joins {
        sys::setns(fd.as_fd(), *t).ctx(|| "join pid namespace".into())?;
    }
    if ns.new_time {
        sys::unshare(libc::CLONE_NEWTIME).ctx(|| "create time namespace".into())?;
        write_time_offsets(spec)?;
    }
    // A new user namespace's root has no capability over namespaces the host owns: join them
    // here for the clone to inherit (this thread only), write their sysctls from here, and come
    // back after the clone.
    let mut sysctls: Vec<(String, String)> = linux
        .and_then(|l| l.sysctl().clone())
        .map(|m| {
            let mut v: Vec<_> = m.into_iter().collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    let (pre_joins, joins): (Vec<_>, Vec<_>) = joins
        .into_iter()
        .partition(|(t, _)| ns.new_user && PRE_JOINABLE.contains(t));
    let mut restore = Vec::new();
    for (t, fd) in &pre_joins {
        let own = own_namespace(*t)?;
        sys::setns(fd.as_fd(), *t).ctx(|| format!("join namespace {t:#x}"))?;
        restore.push((*t, own));
    }
    let restore = RestoreNs(restore);
    if !pre_joins.is_empty() {
        let joined = |t| pre_joins.iter().any(|(j, _)| *j == t);
        let (here, there): (Vec<_>, Vec<_>) = sysctls.into_iter().partition(|(k, _)| {
            (joined(libc::CLONE_NEWNET) && k.starts_with("net."))
                || (joined(libc::CLONE_NEWIPC) && is_ipc_sysctl(k))
        });
        for (k, v) in &here {
            crate::rootfs::write_sysctl(k, v)?;
        }
        sysctls = there;
    }
    let hooks = spec.hooks().as_ref();
    let prestart_hooks: Vec<_> = hooks.and_then(|h| h.prestart().clone()).unwrap_or_default();
    let create_runtime_hooks: Vec<_> = hooks
        .and_then(|h| h.create_runtime().clone())
        .unwrap_or_default();
    let cfg = InitConfig {
        rootfs: plan,
        joins,
        new_user: ns.new_user,
        new_uts: ns.has(LinuxNamespaceType::Uts),
        new_mnt: own_mount_ns(&ns)?,
        new_cgroupns: ns.clone_flags & libc::CLONE_NEWCGROUP != 0,
        root_mapped: namespaces::is_mapped(&uid_maps, 0) && namespaces::is_mapped(&gid_maps, 0),
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        sysctls,
        process: pcfg.clone(),
        create_container_hooks: hooks
            .and_then(|h| h.create_container().clone())
            .unwrap_or_default(),
        start_container_hooks: hooks
            .and_then(|h| h.start_container().clone())
            .unwrap_or_default(),
        want_runtime_hooks: !prestart_hooks.is_empty() || !create_runtime_hooks.is_empty(),
        fifo: Some(fifo_fd),
        console_socket,
        mount_label: mount_label(linux),
        hook_state: hook_state(id, Status::Created, 0, bundle, spec),
    };

    let (parent_sock, child_sock) = sys::seqpacket_pair().ctx(|| "socketpair".into())?;
    let pid = match sys::clone_fork(ns.clone_flags & !libc::CLONE_NEWCGROUP)
        .ctx(|| "clone container init".into())?
    {
        Forked::Child => {
            drop(parent_sock);
            process::init_main(cfg, child_sock)
        }
        Forked::Parent(pid) => pid,
    };
    restore.back()?;
    drop(child_sock);
    drop(cfg);
    cleanup.pid = Some(pid);

    cg.add_pid(pid)?;
    if ns.new_user {
        write_file(
            &format!("/proc/{pid}/uid_map"),
            &namespaces::id_map_text(&uid_maps),
        )?;
        write_file(
            &format!("/proc/{pid}/gid_map"),
            &namespaces::id_map_text(&gid_maps),
        )?;
    }
    if let Some(adj) = pcfg.oom_score_adj {
        write_file(&format!("/proc/{pid}/oom_score_adj"), &adj.to_string())?;
    }
    process::send(parent_sock.as_fd(), &Msg::Go)?;
    loop {
        match process::recv(parent_sock.as_fd())? {
            Some(Msg::HooksReady) => {
                // The (deprecated) prestart hooks see the state as "created", as the OCI
                // validation suite and crun have it; createRuntime hooks run while creating.
                let st = hook_state(id, Status::Created, pid, bundle, spec);
                crate::hooks::run_all("prestart", &prestart_hooks, &st)?;
                let st = hook_state(id, Status::Creating, pid, bundle, spec);
                crate::hooks::run_all("createRuntime", &create_runtime_hooks, &st)?;
                process::send(parent_sock.as_fd(), &Msg::HooksDone)?;
            }
            Some(Msg::Ready) => break,
            Some(Msg::Error(e)) => return Err(RuntimeError::Setup(e)),
            Some(m) => return Err(RuntimeError::Other(format!("unexpected message {m:?}"))),
            None => {
                let status = sys::waitpid(pid, 0).ok().flatten().map(|(_, s)| s);
                cleanup.pid = None;
                return Err(RuntimeError::Setup(format!(
                    "container init exited during setup (status {})",
                    status.map(sys::exit_code).unwrap_or(-1)
                )));
            }
        }
    }
    let (_, pid_start) = state::proc_stat(pid)
        .ok_or_else(|| RuntimeError::Setup("container init died after setup".into()))?;
    let saved = Saved {
        id: id.clone(),
        bundle: bundle.to_path_buf(),
        rootfs,
        pid,
        pid_start,
        created: state::rfc3339(SystemTime::now()),
        owner: String::new(),
        cgroup: Some(cg.to_json()),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        private_pid_ns: ns.clone_flags & libc::CLONE_NEWPID != 0,
    };
    sd.save(&saved)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(Created { pid })
}

/// Does the container get a mount namespace other than the runtime's? A new one, or one joined
/// by path (`linux.namespaces[].path`, as runtime-tools' linux_ns_path test does): INIT then sets
/// the rootfs up inside it, as runc and crun do. Joining our own is refused like having none.
fn own_mount_ns(ns: &NsPlan) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    if ns.clone_flags & libc::CLONE_NEWNS != 0 {
        return Ok(true);
    }
    let Some((_, path)) = ns
        .joins
        .iter()
        .find(|(t, _)| *t == LinuxNamespaceType::Mount)
    else {
        return Ok(false);
    };
    let theirs = std::fs::metadata(path).ctx(|| format!("namespace {}", path.display()))?;
    let ours = std::fs::metadata("/proc/self/ns/mnt").ctx(|| "/proc/self/ns/mnt".into())?;
    Ok((theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino()))
}

/// runc's rule: the devices the runtime itself creates (and those of `linux.devices`) stay
/// usable whatever the spec's device cgroup rules deny; their allow rules come last.
pub fn with_default_device_rules(
    mut res: oci_spec::runtime::LinuxResources,
    spec: &Spec,
) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType as T};
    // The cgroup plan starts from "deny all"; the spec's rules, then the defaults, follow.
    let mut rules = res.devices().clone().unwrap_or_default();
    let rule = |typ: T, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    rules.push(rule(T::C, None, None, "m"));
    rules.push(rule(T::B, None, None, "m"));
    for (ma, mi) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(rule(T::C, Some(ma), Some(mi), "rwm"));
    }
    rules.push(rule(T::C, Some(136), None, "rwm"));
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let typ = match d.typ() {
            T::B => T::B,
            T::P => continue,
            _ => T::C,
        };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    res.set_devices(Some(rules));
    res
}

/// `linux.mountLabel`, if it can be used: without SELinux the kernel refuses the `context=`
/// mount option (EINVAL on the /dev tmpfs), so the label is ignored with a warning, as crun does
/// (a process label is still refused by validation: it would run unconfined).
fn mount_label(linux: Option<&oci_spec::runtime::Linux>) -> Option<String> {
    let label = linux
        .and_then(|l| l.mount_label().clone())
        .filter(|l| !l.is_empty())?;
    if !crate::lsm::selinux_enabled() {
        crate::warn(&format!(
            "linux.mountLabel {label:?} ignored: SELinux is not enabled on this host"
        ));
        return None;
    }
    Some(label)
}

fn write_time_offsets(spec: &Spec) -> Result<()> {
    let offs = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    let mut text = String::new();
    for (clock, o) in offs {
        let name = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            other => {
                return Err(RuntimeError::spec(
                    format!("linux.timeOffsets.{other}"),
                    "only monotonic and boottime can be offset",
                ))
            }
        };
        text.push_str(&format!(
            "{name} {} {}\n",
            o.secs().unwrap_or(0),
            o.nanosecs().unwrap_or(0)
        ));
    }
    if !text.is_empty() {
        write_file("/proc/self/timens_offsets", &text)?;
    }
    Ok(())
}

fn write_file(path: &str, text: &str) -> Result<()> {
    std::fs::write(path, text).ctx(|| format!("write {path}"))
}

/// Load a container's saved state and its current status.
pub fn load(root: &Path, id: &str) -> Result<(StateDir, Saved, Status)> {
    let sd = StateDir::new(root, id)?;
    let saved = sd.load()?;
    let status = status_of(&sd, &saved);
    Ok((sd, saved, status))
}

fn status_of(sd: &StateDir, s: &Saved) -> Status {
    if !state::init_alive(s) {
        return Status::Stopped;
    }
    if sd.fifo().exists() {
        return Status::Created;
    }
    if Cgroup::from_json(s.cgroup.as_ref()).is_some_and(|c| c.is_frozen()) {
        return Status::Paused;
    }
    Status::Running
}

/// `state`.
pub fn oci_state(root: &Path, id: &str) -> Result<OciState> {
    let (_, s, status) = load(root, id)?;
    Ok(OciState {
        oci_version: "1.2.0".into(),
        id: s.id,
        status,
        pid: if status == Status::Stopped { 0 } else { s.pid },
        bundle: s.bundle,
        rootfs: s.rootfs,
        created: s.created,
        owner: s.owner,
        annotations: s.annotations,
    })
}

/// `start`: let a created container's INIT exec the user process.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let (sd, saved, status) = load(root, id)?;
    match status {
        Status::Created => {}
        Status::Stopped => {
            return Err(RuntimeError::InvalidState(
                "cannot start a container that has stopped".into(),
            ))
        }
        other => {
            return Err(RuntimeError::InvalidState(format!(
                "cannot start an already {other} container"
            )))
        }
    }
    // Read before the process runs: a process that exits at once can be reaped and its state
    // deleted (`--rm`) before this function gets to the poststart hooks.
    let spec = sd.load_config()?;
    let fifo = sd.fifo();
    let f = rustix::fs::open(
        &fifo,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err)
    .ctx(|| format!("open {}", fifo.display()))?;
    let mut buf = [0u8; 1];
    loop {
        let ev = sys::poll_one(f.as_fd(), libc::POLLIN, 100).ctx(|| "poll exec fifo".into())?;
        if ev & libc::POLLIN != 0 {
            match rustix::io::read(&f, &mut buf) {
                Ok(n) if n > 0 => break,
                Ok(_) | Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(io_err(e)).ctx(|| "read exec fifo".into()),
            }
        }
        if !state::init_alive(&saved) {
            let _ = std::fs::remove_file(&fifo);
            return Err(RuntimeError::InvalidState(
                "cannot start a container that has stopped".into(),
            ));
        }
    }
    let _ = std::fs::remove_file(&fifo);
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().clone()) {
        let st = hook_state(id, Status::Running, saved.pid, &saved.bundle, &spec);
        // The spec says a failing poststart hook is logged and does not stop the container, nor
        // the hooks after it.
        crate::hooks::run_all_warn("poststart", &h, &st);
    }
    Ok(())
}

/// Parse a signal as runc does: `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(s: &str) -> Result<libc::c_int> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(RuntimeError::Other(format!("invalid signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            if let Some(rest) = name.strip_prefix("RTMIN") {
                let off: i32 = rest.trim_start_matches('+').parse().unwrap_or(0);
                libc::SIGRTMIN() + off
            } else if let Some(rest) = name.strip_prefix("RTMAX") {
                let off: i32 = rest.trim_start_matches('-').parse().unwrap_or(0);
                libc::SIGRTMAX() - off
            } else {
                return Err(RuntimeError::Other(format!("unknown signal {s:?}")));
            }
        }
    };
    Ok(n)
}

/// `kill`.
pub fn kill(root: &Path, id: &str, sig: libc::c_int, all: bool) -> Result<()> {
    let (_, saved, status) = load(root, id)?;
    if all {
        if let Some(cg) = Cgroup::from_json(saved.cgroup.as_ref()) {
            return cg.kill_all(sig);
        }
    }
    if status == Status::Stopped {
        return Err(RuntimeError::InvalidState("container not running".into()));
    }
    sys::kill(saved.pid, sig).ctx(|| format!("kill {}", saved.pid))?;
    Ok(())
}

/// `delete`.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let sd = StateDir::new(root, id)?;
    let saved = match sd.load() {
        Ok(s) => s,
        Err(RuntimeError::NotFound(_)) if sd.dir.exists() => {
            // A directory without state: a create that died half-way. Remove it.
            return sd.remove();
        }
        Err(e) => return Err(e),
    };
    let status = status_of(&sd, &saved);
    let cg = Cgroup::from_json(saved.cgroup.as_ref());
    match status {
        Status::Stopped => {}
        Status::Created => {
            // A created container never ran: delete kills its INIT, as runc does.
            let _ = sys::kill(saved.pid, libc::SIGKILL);
            wait_gone(&saved, Duration::from_secs(5));
        }
        _ if force => {
            if let Some(cg) = &cg {
                let _ = cg.thaw();
                let _ = cg.kill_all(libc::SIGKILL);
            }
            let _ = sys::kill(saved.pid, libc::SIGKILL);
            wait_gone(&saved, Duration::from_secs(10));
        }
        other => {
            return Err(RuntimeError::InvalidState(format!(
                "cannot delete container {id} that is not stopped: {other}"
            )))
        }
    }
    if let Some(cg) = &cg {
        if !saved.private_pid_ns {
            // Without a pid namespace, children of INIT may outlive it: they go with the cgroup.
            let _ = cg.kill_all(libc::SIGKILL);
        }
        cg.destroy()?;
    }
    let spec = sd.load_config().ok();
    sd.remove()?;
    if let Some(spec) = spec {
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().clone()) {
            let st = hook_state(id, Status::Stopped, 0, &saved.bundle, &spec);
            crate::hooks::run_all_warn("poststop", &h, &st);
        }
    }
    Ok(())
}

fn wait_gone(saved: &Saved, limit: Duration) {
    let start = Instant::now();
    // Reap it if it is our child (run, or a create in this process).
    while state::init_alive(saved) && start.elapsed() < limit {
        let _ = sys::waitpid(saved.pid, libc::WNOHANG);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `pause`.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (_, saved, status) = load(root, id)?;
    if status != Status::Running && status != Status::Created {
        return Err(RuntimeError::InvalidState(format!(
            "container not running: {status}"
        )));
    }
    Cgroup::from_json(saved.cgroup.as_ref())
        .ok_or_else(|| RuntimeError::Cgroup("container has no cgroup".into()))?
        .freeze()
}

/// `resume`.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (_, saved, status) = load(root, id)?;
    if status != Status::Paused {
        return Err(RuntimeError::InvalidState("container not paused".into()));
    }
    Cgroup::from_json(saved.cgroup.as_ref())
        .ok_or_else(|| RuntimeError::Cgroup("container has no cgroup".into()))?
        .thaw()
}

/// `ps`: the host pids in the container's cgroup.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let (_, saved, _) = load(root, id)?;
    match Cgroup::from_json(saved.cgroup.as_ref()) {
        Some(cg) => cg.pids(),
        None => Ok(vec![saved.pid]),
    }
}

/// Every container id under the root.
pub fn list(root: &Path) -> Result<Vec<OciState>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).ctx(|| format!("read {}", root.display())),
    };
    for e in rd.flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        if let Ok(s) = oci_state(root, &id) {
            out.push(s);
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created));
    Ok(out)
}

/// Options of `exec`.
#[derive(Debug, Default)]
pub struct ExecOpts {
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
}

/// `exec`: run a process in a running container. Returns the pid; with `detach` false the caller
/// waits for it with [`wait_exit`].
pub fn exec(root: &Path, id: &str, p: &Process, opts: &ExecOpts) -> Result<i32> {
    let (sd, saved, status) = load(root, id)?;
    match status {
        Status::Running | Status::Created => {}
        Status::Paused => {
            return Err(RuntimeError::InvalidState(
                "cannot exec in a paused container".into(),
            ))
        }
        _ => {
            return Err(RuntimeError::InvalidState(
                "cannot exec in a stopped container".into(),
            ))
        }
    }
    crate::spec::validate_process(p, "process")?;
    let spec = sd.load_config()?;
    let seccomp = seccomp_program(
        &sd,
        spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
    )?;
    let mut pcfg = ProcessConfig::from_spec(p, seccomp)?;
    pcfg.preserve_fds = opts.preserve_fds;
    // The namespaces of INIT that differ from ours, in join order.
    let mut joins = Vec::new();
    for t in namespaces::JOIN_ORDER {
        let name = namespaces::proc_name(t);
        let theirs = format!("/proc/{}/ns/{name}", saved.pid);
        let same = match (
            std::fs::metadata(&theirs),
            std::fs::metadata(format!("/proc/self/ns/{name}")),
        ) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.ino() == b.ino() && a.dev() == b.dev()
            }
            (Err(_), _) => continue,
            _ => false,
        };
        if same {
            continue;
        }
        let fd = rustix::fs::open(
            theirs.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err)
        .ctx(|| format!("open {theirs}"))?;
        joins.push((namespaces::flag(t), fd));
    }
    let rootdir = format!("/proc/{}/root", saved.pid);
    let root_fd = rustix::fs::open(
        rootdir.as_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err)
    .ctx(|| format!("open {rootdir}"))?;
    if !state::init_alive(&saved) {
        return Err(RuntimeError::InvalidState(
            "cannot exec in a stopped container".into(),
        ));
    }
    let (pid_joins, joins): (Vec<_>, Vec<_>) = joins
        .into_iter()
        .partition(|(t, _)| *t == libc::CLONE_NEWPID);
    for (t, fd) in &pid_joins {
        sys::setns(fd.as_fd(), *t).ctx(|| "join pid namespace".into())?;
    }
    let console_socket = match &opts.console_socket {
        Some(p) => Some(connect_console(p)?),
        None => None,
    };
    let cfg = ExecConfig {
        joins,
        root: root_fd,
        process: pcfg.clone(),
        console_socket,
    };
    let (parent_sock, child_sock) = sys::seqpacket_pair().ctx(|| "socketpair".into())?;
    let pid = match sys::clone_fork(0).ctx(|| "fork exec process".into())? {
        Forked::Child => {
            drop(parent_sock);
            process::exec_main(cfg, child_sock)
        }
        Forked::Parent(pid) => pid,
    };
    drop(child_sock);
    drop(cfg);
    let fail = |e: RuntimeError| {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::waitpid(pid, 0);
        e
    };
    if let Some(cg) = Cgroup::from_json(saved.cgroup.as_ref()) {
        cg.add_pid(pid).map_err(fail)?;
    }
    if let Some(adj) = pcfg.oom_score_adj {
        write_file(&format!("/proc/{pid}/oom_score_adj"), &adj.to_string()).map_err(fail)?;
    }
    process::send(parent_sock.as_fd(), &Msg::Go).map_err(fail)?;
    match process::recv(parent_sock.as_fd()).map_err(fail)? {
        Some(Msg::Ready) => {}
        Some(Msg::Error(e)) => return Err(fail(RuntimeError::Setup(e))),
        other => {
            return Err(fail(RuntimeError::Setup(format!(
                "exec process failed during setup ({other:?})"
            ))))
        }
    }
    // The socket closes when the execve succeeds; an error after Ready arrives first.
    if let Ok(Some(Msg::Error(e))) = process::recv(parent_sock.as_fd()) {
        let _ = sys::waitpid(pid, 0);
        return Err(RuntimeError::Setup(e));
    }
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(pid)
}

/// Wait for a child process, forwarding the usual signals to it; returns its exit code.
pub fn wait_exit(pid: i32) -> Result<i32> {
    let forward = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
        libc::SIGCONT,
    ];
    let mut all = forward.to_vec();
    all.push(libc::SIGCHLD);
    sys::block_signals(&all);
    loop {
        if let Some((_, status)) = sys::waitpid(pid, libc::WNOHANG).ctx(|| format!("wait {pid}"))? {
            return Ok(sys::exit_code(status));
        }
        match sys::sigwait(&all, Some(200)).ctx(|| "sigwait".into())? {
            Some(s) if s != libc::SIGCHLD => {
                let _ = sys::kill(pid, s);
            }
            _ => {}
        }
    }
}

/// What `exec`'s flags change in the container's own process.
#[derive(Debug, Default, Clone)]
pub struct ExecOverrides {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries replacing same-named ones.
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// uid, gid, additional gids.
    pub user: Option<(u32, u32, Vec<u32>)>,
    pub tty: bool,
    /// Capability names added to bounding, effective and permitted.
    pub caps: Vec<String>,
    pub no_new_privs: bool,
}

/// Build a process for `exec` from command-line pieces over the container's own process.
pub fn exec_process_from_config(root: &Path, id: &str, o: ExecOverrides) -> Result<Process> {
    let ExecOverrides {
        args,
        env,
        cwd,
        user,
        tty,
        caps,
        no_new_privs,
    } = o;
    let sd = StateDir::new(root, id)?;
    let spec = sd.load_config()?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(args));
    let mut e = p.env().clone().unwrap_or_default();
    for kv in env {
        let key = kv.split('=').next().unwrap_or("").to_string();
        e.retain(|x| x.split('=').next() != Some(key.as_str()));
        e.push(kv);
    }
    p.set_env(Some(e));
    if let Some(c) = cwd {
        p.set_cwd(c);
    }
    if let Some((uid, gid, groups)) = user {
        let mut u = p.user().clone();
        u.set_uid(uid);
        u.set_gid(gid);
        u.set_additional_gids(if groups.is_empty() {
            None
        } else {
            Some(groups)
        });
        p.set_user(u);
    }
    p.set_terminal(Some(tty));
    if no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        for name in caps {
            let cap: oci_spec::runtime::Capability = serde_json::from_value(
                serde_json::Value::String(if name.to_ascii_uppercase().starts_with("CAP_") {
                    name.to_ascii_uppercase()
                } else {
                    format!("CAP_{}", name.to_ascii_uppercase())
                }),
            )
            .map_err(|_| RuntimeError::Other(format!("unknown capability {name:?}")))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, ef, pe) = (add(c.bounding()), add(c.effective()), add(c.permitted()));
            c.set_bounding(b);
            c.set_effective(ef);
            c.set_permitted(pe);
        }
        p.set_capabilities(Some(c));
    }
    Ok(p)
}

/// `run` in the foreground: create, start, wait, delete. Returns the container's exit code.
pub fn run(root: &Path, id: &str, opts: &CreateOpts, detach: bool) -> Result<i32> {
    let created = create(root, id, opts)?;
    if let Err(e) = start(root, id) {
        let _ = delete(root, id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = wait_exit(created.pid)?;
    delete(root, id, true)?;
    Ok(code)
}

/// The command line of a process, for `ps`-like output.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Raw fd of a process's pidfd, for callers that poll for exit.
pub fn pidfd(pid: i32) -> Result<OwnedFd> {
    sys::pidfd_open(pid).ctx(|| format!("pidfd_open {pid}"))
}

/// `update`: apply new resources to a running container; returns warnings.
pub fn update(
    root: &Path,
    id: &str,
    res: &oci_spec::runtime::LinuxResources,
) -> Result<Vec<String>> {
    let (_, saved, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(RuntimeError::InvalidState("container not running".into()));
    }
    let cg = Cgroup::from_json(saved.cgroup.as_ref())
        .ok_or_else(|| RuntimeError::Cgroup("container has no cgroup".into()))?;
    cg.update(res)
}

/// Statistics of a container's cgroup, as JSON.
pub fn stats(root: &Path, id: &str) -> Result<serde_json::Value> {
    let (_, saved, _) = load(root, id)?;
    let cg = Cgroup::from_json(saved.cgroup.as_ref())
        .ok_or_else(|| RuntimeError::Cgroup("container has no cgroup".into()))?;
    cg.stats()
}

/// How many times the kernel's OOM killer struck in the container's cgroup.
pub fn oom_count(root: &Path, id: &str) -> Result<u64> {
    let (_, saved, _) = load(root, id)?;
    let cg = Cgroup::from_json(saved.cgroup.as_ref())
        .ok_or_else(|| RuntimeError::Cgroup("container has no cgroup".into()))?;
    cg.oom_kill_count()
}

/// Namespaces the caller joins for a container that gets a new user namespace.
const PRE_JOINABLE: [libc::c_int; 3] = [libc::CLONE_NEWNET, libc::CLONE_NEWIPC, libc::CLONE_NEWUTS];

fn is_ipc_sysctl(k: &str) -> bool {
    k.starts_with("fs.mqueue.")
        || matches!(
            k,
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        )
}

fn own_namespace(t: libc::c_int) -> Result<OwnedFd> {
    let name = match t {
        libc::CLONE_NEWNET => "net",
        libc::CLONE_NEWIPC => "ipc",
        _ => "uts",
    };
    let path = format!("/proc/thread-self/ns/{name}");
    rustix::fs::open(
        path.as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))
    .ctx(|| format!("open {path}"))
}

/// The caller's own namespaces, rejoined by [`RestoreNs::back`] or on drop (error paths).
struct RestoreNs(Vec<(libc::c_int, OwnedFd)>);

impl RestoreNs {
    fn back(mut self) -> Result<()> {
        for (t, fd) in self.0.drain(..) {
            sys::setns(fd.as_fd(), t).ctx(|| format!("return to own namespace {t:#x}"))?;
        }
        Ok(())
    }
}

impl Drop for RestoreNs {
    fn drop(&mut self) {
        for (t, fd) in self.0.drain(..) {
            let _ = sys::setns(fd.as_fd(), t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("KILL").ok(), Some(libc::SIGKILL));
        assert_eq!(parse_signal("SIGTERM").ok(), Some(libc::SIGTERM));
        assert_eq!(parse_signal("9").ok(), Some(9));
        assert_eq!(parse_signal("sigusr1").ok(), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("RTMIN+1").ok(), Some(libc::SIGRTMIN() + 1));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }
}
