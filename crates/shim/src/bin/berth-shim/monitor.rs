//! The monitor: creates the container, serves `ctl.sock` and the attach sockets, reaps, and
//! records the exit.
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_runtime::sys;
use berth_shim::protocol::{self, stream};
use berth_shim::{AttachHello, ExecSpec, ExitInfo, Request, Response, Task};

use crate::io::{pump, Hub, JsonLog, Stdin};
use crate::rootfs;
use crate::runtime::{self, Reaper, Runtime};

/// Shared between the serving threads and the reaper.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    rt: Arc<dyn Runtime>,
    reaper: Arc<Reaper>,
    init_pid: i32,
    hub: Arc<Hub>,
    stdin: Arc<Stdin>,
    master: Option<File>,
    exit: Mutex<Option<ExitInfo>>,
    exit_cv: Condvar,
    execs: Mutex<HashMap<String, Arc<Exec>>>,
    /// Control connections being served (the shim lingers until they are answered).
    waiting: Mutex<usize>,
}

#[derive(Debug)]
struct Exec {
    spec: ExecSpec,
    hub: Arc<Hub>,
    stdin: Arc<Stdin>,
    state: Mutex<ExecState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct ExecState {
    /// The process's side of its stdio until it starts.
    child_stdio: Option<[File; 3]>,
    /// Our side of its stdout/stderr until it starts.
    our_out: Option<(File, File)>,
    console: Option<PathBuf>,
    master: Option<File>,
    pid: Option<i32>,
    started: bool,
    exit: Option<ExitInfo>,
}

/// Deletes a half-set-up container.
#[derive(Debug)]
struct DeleteOnDrop {
    rt: Arc<dyn Runtime>,
    armed: bool,
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.rt.delete();
        }
    }
}

/// A created container and its sockets.
#[derive(Debug)]
pub struct Monitor {
    shared: Arc<Shared>,
    rootfs: PathBuf,
    pumps: Vec<JoinHandle<()>>,
    ctl: UnixListener,
    attach: UnixListener,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn pipe() -> Result<(File, File), String> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("pipe: {e}"))?;
    Ok((File::from(r), File::from(w)))
}

fn null() -> Result<File, String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))
}

fn listen(path: &Path) -> Result<UnixListener, String> {
    let _ = std::fs::remove_file(path);
    let l = berth_shim::client::with_short_path(path, |p| UnixListener::bind(p))
        .map_err(|e| format!("bind {}: {e}", path.display()))?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Ok(l)
}

/// Accept one console connection and receive the pty master the runtime sends over it.
fn accept_master(l: UnixListener) -> JoinHandle<Option<File>> {
    std::thread::spawn(move || {
        let (s, _) = l.accept().ok()?;
        let fd = OwnedFd::from(s);
        let mut buf = [0u8; 4096];
        let (_, master) = sys::recv_fd(std::os::fd::AsFd::as_fd(&fd), &mut buf).ok()?;
        master.map(File::from)
    })
}

impl Monitor {
    /// Mount the rootfs and create the container (its process waits at the exec FIFO).
    pub fn setup(dir: PathBuf, task: Task) -> Result<Monitor, String> {
        let rootfs = rootfs::root_path(&task.bundle)?;
        let reaper = Arc::new(Reaper::default());
        let rt = runtime::for_task(&task, &dir, reaper.clone());
        // What a shim killed with its container left behind (a host crash, kill -9): the
        // runtime's state, the container's processes and cgroup, the rootfs mount.
        if rt.exists() {
            eprintln!(
                "removing a stale container {} left by a previous shim",
                task.id
            );
            let _ = rt.delete();
        }
        rootfs::unmount_all(&rootfs);
        if !task.rootfs.is_empty() {
            rootfs::mount_all(&rootfs, &task.rootfs)?;
        }
        if let Some(u) = &task.user {
            if let Err(e) = set_user(&task.bundle, &rootfs, u) {
                rootfs::unmount_all(&rootfs);
                return Err(e);
            }
        }
        match Self::create(dir.clone(), task, &rootfs, rt, reaper) {
            Ok(m) => Ok(m),
            Err(e) => {
                rootfs::unmount_all(&rootfs);
                for name in [protocol::CTL_SOCK, protocol::ATTACH_SOCK, "console.sock"] {
                    let _ = std::fs::remove_file(dir.join(name));
                }
                Err(e)
            }
        }
    }

    fn create(
        dir: PathBuf,
        task: Task,
        rootfs: &Path,
        rt: Arc<dyn Runtime>,
        reaper: Arc<Reaper>,
    ) -> Result<Monitor, String> {
        let log = match &task.log {
            Some(l) => Some(JsonLog::open(l).map_err(|e| format!("open log: {e}"))?),
            None => None,
        };
        let hub = Arc::new(Hub::new(task.tty, log));
        let mut console = None;
        let mut master_thread = None;
        // The container's stdio, and ours.
        let (child_in, child_out, child_err, our_in, our_out, our_err);
        if task.tty {
            let path = dir.join("console.sock");
            master_thread = Some(accept_master(listen(&path)?));
            console = Some(path);
            (child_in, child_out, child_err) = (null()?, null()?, null()?);
            (our_in, our_out, our_err) = (None, None, None);
        } else {
            let (r, w) = pipe()?;
            (child_out, our_out) = (w, Some(r));
            let (r, w) = pipe()?;
            (child_err, our_err) = (w, Some(r));
            if task.open_stdin {
                let (r, w) = pipe()?;
                (child_in, our_in) = (r, Some(w));
            } else {
                (child_in, our_in) = (null()?, None);
            }
        }
        // Sockets first: a failure here leaves no container behind.
        let ctl = listen(&dir.join(protocol::CTL_SOCK))?;
        let attach = listen(&dir.join(protocol::ATTACH_SOCK))?;
        let created = rt.create(
            &task.bundle,
            console.as_deref(),
            [&child_in, &child_out, &child_err],
        );
        drop((child_in, child_out, child_err));
        let init_pid = created?;
        // From here a failure must not leave the created container waiting at its FIFO.
        let mut guard = DeleteOnDrop {
            rt: rt.clone(),
            armed: true,
        };
        loopback_up(init_pid);
        let master = match master_thread {
            Some(t) => {
                let m = t.join().ok().flatten();
                if let Some(p) = &console {
                    let _ = std::fs::remove_file(p);
                }
                if m.is_none() {
                    return Err("the runtime sent no terminal".into());
                }
                m
            }
            None => None,
        };
        let mut pumps = Vec::new();
        if let Some(m) = &master {
            let r = m.try_clone().map_err(|e| format!("dup master: {e}"))?;
            pumps.push(pump(r, stream::STDOUT, hub.clone()));
        }
        if let Some(o) = our_out {
            pumps.push(pump(o, stream::STDOUT, hub.clone()));
        }
        if let Some(e) = our_err {
            pumps.push(pump(e, stream::STDERR, hub.clone()));
        }
        let stdin_w = match (&master, our_in) {
            (Some(m), _) if task.open_stdin => {
                Some(m.try_clone().map_err(|e| format!("dup master: {e}"))?)
            }
            (_, w) => w,
        };
        let stdin = Stdin::new(stdin_w, task.stdin_once);
        guard.armed = false;
        Ok(Monitor {
            shared: Arc::new(Shared {
                init_pid,
                dir,
                rt,
                reaper,
                hub,
                stdin,
                master,
                exit: Mutex::new(None),
                exit_cv: Condvar::new(),
                execs: Mutex::new(HashMap::new()),
                waiting: Mutex::new(0),
            }),
            rootfs: rootfs.to_path_buf(),
            pumps,
            ctl,
            attach,
        })
    }

    pub fn init_pid(&self) -> i32 {
        self.shared.init_pid
    }

    /// Serve until the container has exited and been cleaned up; then exit the process.
    pub fn run(self) -> ! {
        let Monitor {
            shared,
            rootfs,
            pumps,
            ctl,
            attach,
        } = self;
        shared.reaper.activate();
        {
            let sh = shared.clone();
            std::thread::spawn(move || {
                for c in ctl.incoming().flatten() {
                    let sh = sh.clone();
                    if let Ok(mut w) = sh.waiting.lock() {
                        *w += 1;
                    }
                    std::thread::spawn(move || {
                        serve_ctl(&sh, c);
                        if let Ok(mut w) = sh.waiting.lock() {
                            *w = w.saturating_sub(1);
                        }
                    });
                }
            });
        }
        {
            let sh = shared.clone();
            std::thread::spawn(move || {
                for c in attach.incoming().flatten() {
                    accept_attach(c, &sh.hub, &sh.stdin);
                }
            });
        }
        // Reap everything (we are the subreaper); INIT's end ends the shim.
        let init_status = loop {
            match sys::waitpid(-1, 0) {
                Ok(Some((pid, status))) if pid == shared.init_pid => break status,
                Ok(Some((pid, status))) => shared.reaper.deliver(pid, status),
                Ok(None) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        shared.reaper.deactivate();
        let finished_at_ns = now_ns();
        let oom_killed = shared.rt.oom_count().map(|n| n > 0).unwrap_or(false);
        // Output still in the pipes belongs before the exit (processes outside a private pid
        // namespace may hold them open: do not wait for those forever).
        join_within(pumps, Duration::from_secs(5));
        shared.hub.close();
        shared.stdin.close();
        let info = ExitInfo {
            code: sys::exit_code(init_status),
            finished_at_ns,
            oom_killed,
        };
        let _ = berth_runtime::state::write_atomic(
            &shared.dir.join(protocol::EXIT_FILE),
            &serde_json::to_vec(&info).unwrap_or_default(),
        );
        if let Err(e) = shared.rt.delete() {
            eprintln!("delete container: {e}");
        }
        rootfs::unmount_all(&rootfs);
        if let Ok(mut x) = shared.exit.lock() {
            *x = Some(info);
        }
        shared.exit_cv.notify_all();
        // No new connections; then answer every request already in (a `wait` sent just as
        // the container exited must get its answer, not a reset), with a grace period for
        // connections still in the listen backlog.
        for name in [protocol::CTL_SOCK, protocol::ATTACH_SOCK] {
            let _ = std::fs::remove_file(shared.dir.join(name));
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut idle_since = Instant::now();
        while Instant::now() < deadline {
            if shared.waiting.lock().map(|w| *w).unwrap_or(0) > 0 {
                idle_since = Instant::now();
            } else if idle_since.elapsed() > Duration::from_millis(50) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::process::exit(0)
    }
}

/// A container with a network namespace of its own gets its loopback interface up, as Docker
/// does (a new namespace starts with `lo` down).
fn loopback_up(pid: i32) {
    use std::os::unix::fs::MetadataExt;
    let theirs = format!("/proc/{pid}/ns/net");
    let same = match (
        std::fs::metadata(&theirs),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => true,
    };
    if same {
        return;
    }
    let r =
        std::fs::File::open(&theirs).and_then(|f| sys::loopback_up(std::os::fd::AsFd::as_fd(&f)));
    if let Err(e) = r {
        eprintln!("warning: bring up lo in the container's network namespace: {e}");
    }
}

/// Resolve `--user` in the mounted rootfs and write the ids into the bundle's config.json.
fn set_user(bundle: &Path, rootfs: &Path, spec: &str) -> Result<(), String> {
    let ids = crate::users::resolve(rootfs, spec)?;
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| format!("read config.json: {e}"))?;
    let mut v: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| format!("config.json: {e}"))?;
    crate::users::apply(&mut v["process"], &ids);
    berth_runtime::state::write_atomic(&path, &serde_json::to_vec(&v).unwrap_or_default())
        .map_err(|e| e.to_string())
}

fn join_within(handles: Vec<JoinHandle<()>>, limit: Duration) {
    let deadline = Instant::now() + limit;
    for h in handles {
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
}

/// An attach connection: its hello line, then output to it and input from it.
fn accept_attach(c: UnixStream, hub: &Arc<Hub>, stdin: &Arc<Stdin>) {
    // The hello line is read a byte at a time: input the client sends right behind it (the
    // daemon forwards a user's piped stdin at once) must reach the process, not a read buffer.
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut line = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    loop {
        match (&c).read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) if line.len() < 4096 => line.push(byte[0]),
            _ => return,
        }
    }
    let _ = c.set_read_timeout(None);
    let hello: AttachHello = serde_json::from_slice(&line).unwrap_or_default();
    // The acknowledgement tells the client it is attached: anything the process writes from
    // now on reaches it (a daemon starts the container only after this line).
    if (&c).write_all(protocol::ATTACH_ACK).is_err() {
        return;
    }
    if hello.stdout || hello.stderr {
        if let Ok(w) = c.try_clone() {
            hub.add(w, hello);
        }
    }
    if hello.stdin && stdin.is_open() {
        stdin.feed_from(c);
    }
}

fn serve_ctl(sh: &Arc<Shared>, c: UnixStream) {
    let mut line = String::new();
    let Ok(rc) = c.try_clone() else { return };
    if BufReader::new(rc).read_line(&mut line).is_err() {
        return;
    }
    let resp = match serde_json::from_str::<Request>(&line) {
        Ok(req) => handle(sh, req),
        Err(e) => Response::err(format!("bad request: {e}")),
    };
    let mut text = serde_json::to_vec(&resp).unwrap_or_default();
    text.push(b'\n');
    let mut c = c;
    let _ = c.write_all(&text);
}

fn handle(sh: &Arc<Shared>, req: Request) -> Response {
    let rt = &sh.rt;
    let ok = Response::default;
    let r = |x: Result<(), String>| match x {
        Ok(()) => ok(),
        Err(e) => Response::err(e),
    };
    match req {
        Request::Status => match rt.status() {
            Ok(s) => Response {
                pid: Some(sh.init_pid),
                status: Some(s),
                ..ok()
            },
            Err(e) => Response::err(e),
        },
        Request::Start => r(rt.start()),
        Request::Kill { signal, all } => r(rt.kill(signal, all)),
        Request::Pause => r(rt.pause()),
        Request::Resume => r(rt.resume()),
        Request::Pids => match rt.pids() {
            Ok(p) => Response {
                pids: Some(p),
                ..ok()
            },
            Err(e) => Response::err(e),
        },
        Request::Stats => match rt.stats() {
            Ok(v) => Response {
                value: Some(v),
                ..ok()
            },
            Err(e) => Response::err(e),
        },
        Request::Update { resources } => {
            match serde_json::from_value::<oci_spec::runtime::LinuxResources>(resources) {
                Ok(res) => match rt.update(&res) {
                    Ok(w) => Response {
                        warnings: w,
                        ..ok()
                    },
                    Err(e) => Response::err(e),
                },
                Err(e) => Response::err(format!("resources: {e}")),
            }
        }
        Request::Resize {
            height,
            width,
            exec,
        } => {
            let ws = rustix::termios::Winsize {
                ws_row: height,
                ws_col: width,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let res = match exec {
                None => sh
                    .master
                    .as_ref()
                    .map(|m| rustix::termios::tcsetwinsize(m, ws)),
                Some(x) => {
                    let e = sh.execs.lock().ok().and_then(|m| m.get(&x).cloned());
                    let st = e.as_ref().and_then(|e| e.state.lock().ok());
                    st.and_then(|s| {
                        s.master
                            .as_ref()
                            .map(|m| rustix::termios::tcsetwinsize(m, ws))
                    })
                }
            };
            match res {
                Some(Ok(())) => ok(),
                Some(Err(e)) => Response::err(format!("resize: {e}")),
                None => Response::err("the process has no terminal"),
            }
        }
        Request::Wait => {
            let mut g = match sh.exit.lock() {
                Ok(g) => g,
                Err(_) => return Response::err("shim state poisoned"),
            };
            while g.is_none() {
                g = match sh.exit_cv.wait(g) {
                    Ok(g) => g,
                    Err(_) => return Response::err("shim state poisoned"),
                };
            }
            let exit = *g;
            drop(g);
            Response { exit, ..ok() }
        }
        Request::ExecPrepare { exec } => match exec_prepare(sh, *exec) {
            Ok(()) => ok(),
            Err(e) => Response::err(e),
        },
        Request::ExecStart { id: x } => match exec_start(sh, &x) {
            Ok(pid) => Response {
                pid: Some(pid),
                ..ok()
            },
            Err(e) => Response::err(e),
        },
        Request::ExecWait { id: x } => {
            let Some(e) = sh.execs.lock().ok().and_then(|m| m.get(&x).cloned()) else {
                return Response::err(format!("no such exec: {x}"));
            };
            let Ok(mut st) = e.state.lock() else {
                return Response::err("shim state poisoned");
            };
            while st.exit.is_none() {
                st = match e.cv.wait(st) {
                    Ok(s) => s,
                    Err(_) => return Response::err("shim state poisoned"),
                };
            }
            Response {
                exit: st.exit,
                pid: st.pid,
                ..ok()
            }
        }
    }
}

fn exec_prepare(sh: &Arc<Shared>, spec: ExecSpec) -> Result<(), String> {
    if spec.id.is_empty() || !spec.id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("bad exec id {:?}", spec.id));
    }
    let tty = spec.process.terminal().unwrap_or(false);
    let mut st = ExecState::default();
    let mut stdin_w = None;
    if tty {
        st.console = Some(sh.dir.join(format!("exec-{}.console", spec.id)));
        st.child_stdio = Some([null()?, null()?, null()?]);
    } else {
        let (or, ow) = pipe()?;
        let (er, ew) = pipe()?;
        let cin = if spec.open_stdin {
            let (r, w) = pipe()?;
            stdin_w = Some(w);
            r
        } else {
            null()?
        };
        st.child_stdio = Some([cin, ow, ew]);
        st.our_out = Some((or, er));
    }
    let l = listen(&sh.dir.join(protocol::exec_sock(&spec.id)))?;
    let e = Arc::new(Exec {
        hub: Arc::new(Hub::new(tty, None)),
        stdin: if tty && spec.open_stdin {
            Stdin::pending(true)
        } else {
            Stdin::new(stdin_w, true)
        },
        spec,
        state: Mutex::new(st),
        cv: Condvar::new(),
    });
    {
        let e = e.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                accept_attach(c, &e.hub, &e.stdin);
            }
        });
    }
    sh.execs
        .lock()
        .map_err(|_| "shim state poisoned".to_string())?
        .insert(e.spec.id.clone(), e);
    Ok(())
}

fn exec_start(sh: &Arc<Shared>, x: &str) -> Result<i32, String> {
    let e = sh
        .execs
        .lock()
        .ok()
        .and_then(|m| m.get(x).cloned())
        .ok_or_else(|| format!("no such exec: {x}"))?;
    let (stdio, console, our_out) = {
        let mut st = e.state.lock().map_err(|_| "shim state poisoned")?;
        if st.started {
            return Err(format!("exec {x} has already started"));
        }
        st.started = true;
        (st.child_stdio.take(), st.console.clone(), st.our_out.take())
    };
    let stdio = stdio.ok_or("exec has no stdio")?;
    let pfile = sh.dir.join(format!("exec-{x}.json"));
    let mut process = serde_json::to_value(&e.spec.process).unwrap_or_default();
    if let Some(u) = &e.spec.user {
        let root = PathBuf::from(format!("/proc/{}/root", sh.init_pid));
        let ids = crate::users::resolve(&root, u)?;
        crate::users::apply(&mut process, &ids);
    }
    berth_runtime::state::write_atomic(&pfile, &serde_json::to_vec(&process).unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let master_thread = match &console {
        Some(p) => Some(accept_master(listen(p)?)),
        None => None,
    };
    let started = sh.rt.exec(
        &pfile,
        console.as_deref(),
        stdio,
        &sh.dir.join(format!("exec-{x}")),
    );
    let _ = std::fs::remove_file(&pfile);
    let master = match (&started, master_thread, &console) {
        // A failed exec may have sent no terminal: wake the accepting thread with a connection
        // of our own (it then gets no fd) rather than leave it waiting.
        (Err(_), Some(t), Some(c)) => {
            let _ = berth_shim::client::with_short_path(c, |p| UnixStream::connect(p));
            let _ = t.join();
            None
        }
        (_, t, _) => t.and_then(|t| t.join().ok().flatten()),
    };
    if let Some(c) = &console {
        let _ = std::fs::remove_file(c);
    }
    let pid = match started {
        Ok(pid) => pid,
        Err(msg) => {
            finish_exec(&e, None, 126, Vec::new());
            return Err(msg);
        }
    };
    let mut pumps = Vec::new();
    if let Some(m) = &master {
        if let Ok(r) = m.try_clone() {
            pumps.push(pump(r, stream::STDOUT, e.hub.clone()));
        }
        if e.spec.open_stdin {
            // Input of a tty exec goes through its pty.
            if let Ok(w) = m.try_clone() {
                e.stdin.set(w);
            }
        }
    }
    if let Some((o, er)) = our_out {
        pumps.push(pump(o, stream::STDOUT, e.hub.clone()));
        pumps.push(pump(er, stream::STDERR, e.hub.clone()));
    }
    if let Ok(mut st) = e.state.lock() {
        st.pid = Some(pid);
        if st.master.is_none() {
            st.master = master;
        }
    }
    let sh2 = sh.clone();
    let e2 = e.clone();
    std::thread::spawn(move || {
        let status = sh2.reaper.wait(pid);
        finish_exec(&e2, Some(pid), sys::exit_code(status), pumps);
    });
    Ok(pid)
}

fn finish_exec(e: &Arc<Exec>, pid: Option<i32>, code: i32, pumps: Vec<JoinHandle<()>>) {
    join_within(pumps, Duration::from_secs(5));
    e.hub.close();
    e.stdin.close();
    if let Ok(mut st) = e.state.lock() {
        st.exit = Some(ExitInfo {
            code,
            finished_at_ns: now_ns(),
            oom_killed: false,
        });
        if pid.is_some() {
            st.pid = pid;
        }
    }
    e.cv.notify_all();
}
