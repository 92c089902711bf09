//! The OCI runtime behind one container: the runtime library linked into the shim
//! ([`Linked`], the runtime named `berth`) or another runtime's binary ([`External`]: runc,
//! crun, berth-runc) driven through its command line as containerd's runc shim does. The
//! monitor sees only [`Runtime`].
//!
//! External runtimes: `<rt> [args] --root <root> --log <file> --log-format json <command>`.
//! `create --bundle <b> --pid-file <f> [--console-socket <s>] <id>` runs with the container's
//! stdio as its own (runc and crun pass it through to the container's init) and exits once the
//! init waits for `start`; the init is re-parented to the shim, the child subreaper. Errors are
//! read from the per-call JSON log. Statistics and OOM counts come from the cgroup the spec
//! names, read with the runtime library's cgroup code (the runtime binary ran in the shim's
//! cgroup, so a relative `cgroupsPath` resolves the same way).
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use berth_runtime::{container, sys};
use berth_shim::ExternalRuntime;
use oci_spec::runtime::LinuxResources;

/// Collects exit statuses. Before the monitor's reaper loop runs, a waiter reaps its own child;
/// afterwards the loop reaps everything (the shim is a subreaper) and hands statuses over.
#[derive(Debug, Default)]
pub struct Reaper {
    active: AtomicBool,
    reaped: Mutex<HashMap<i32, i32>>,
    cv: Condvar,
}

impl Reaper {
    /// From now on the monitor's loop calls `waitpid(-1)`.
    pub fn activate(&self) {
        self.active.store(true, Ordering::SeqCst);
    }

    /// The loop has ended (the init is gone): waiters reap their own children again.
    pub fn deactivate(&self) {
        // Under the lock: a waiter between its check and its wait cannot miss this.
        let g = self.reaped.lock();
        self.active.store(false, Ordering::SeqCst);
        drop(g);
        self.cv.notify_all();
    }

    /// A status the loop reaped.
    pub fn deliver(&self, pid: i32, status: i32) {
        if let Ok(mut r) = self.reaped.lock() {
            r.insert(pid, status);
        }
        self.cv.notify_all();
    }

    /// The wait status of child `pid` (-1 if it cannot be had).
    pub fn wait(&self, pid: i32) -> i32 {
        let Ok(mut r) = self.reaped.lock() else {
            return -1;
        };
        loop {
            if let Some(s) = r.remove(&pid) {
                return s;
            }
            if !self.active.load(Ordering::SeqCst) {
                drop(r);
                return match sys::waitpid(pid, 0) {
                    Ok(Some((_, s))) => s,
                    _ => -1,
                };
            }
            r = match self.cv.wait(r) {
                Ok(r) => r,
                Err(_) => return -1,
            };
        }
    }
}

/// The operations the monitor needs, on one container.
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// The runtime knows a container with this ID (one left behind by a previous shim).
    fn exists(&self) -> bool;
    /// Create the container from `bundle` with `stdio` (or a terminal sent over `console`); it
    /// waits for [`Runtime::start`]. The init's pid.
    fn create(
        &self,
        bundle: &Path,
        console: Option<&Path>,
        stdio: [&File; 3],
    ) -> Result<i32, String>;
    fn start(&self) -> Result<(), String>;
    /// The OCI state's `status`.
    fn status(&self) -> Result<String, String>;
    fn kill(&self, signal: i32, all: bool) -> Result<(), String>;
    /// Delete the container (killing what is left of it).
    fn delete(&self) -> Result<(), String>;
    fn pause(&self) -> Result<(), String>;
    fn resume(&self) -> Result<(), String>;
    fn pids(&self) -> Result<Vec<i32>, String>;
    fn stats(&self) -> Result<serde_json::Value, String>;
    /// New resources for the running container; warnings.
    fn update(&self, res: &LinuxResources) -> Result<Vec<String>, String>;
    /// OOM kills recorded in the container's memory cgroup.
    fn oom_count(&self) -> Option<u64>;
    /// Start the process described in `process_file` (OCI `process` JSON) in the container,
    /// with `stdio` or a terminal over `console`; its pid (a child of the shim once running).
    /// `scratch` is a path prefix for temporary files.
    fn exec(
        &self,
        process_file: &Path,
        console: Option<&Path>,
        stdio: [File; 3],
        scratch: &Path,
    ) -> Result<i32, String>;
}

/// The runtime for `task`: `runtime_root` is that runtime's state root.
pub fn for_task(task: &berth_shim::Task, dir: &Path, reaper: Arc<Reaper>) -> Arc<dyn Runtime> {
    match &task.runtime {
        None => Arc::new(Linked {
            root: task.runtime_root.clone(),
            id: task.id.clone(),
            reaper,
        }),
        Some(rt) => Arc::new(External {
            rt: rt.clone(),
            root: task.runtime_root.clone(),
            id: task.id.clone(),
            dir: dir.to_path_buf(),
            bundle: task.bundle.clone(),
            reaper,
            seq: AtomicU64::new(0),
        }),
    }
}

/// The runtime library, in this process (and in `exec-helper` processes for execs).
#[derive(Debug)]
pub struct Linked {
    root: PathBuf,
    id: String,
    reaper: Arc<Reaper>,
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

impl Runtime for Linked {
    fn exists(&self) -> bool {
        container::load(&self.root, &self.id).is_ok()
    }

    fn create(
        &self,
        bundle: &Path,
        console: Option<&Path>,
        stdio: [&File; 3],
    ) -> Result<i32, String> {
        // The runtime gives INIT the caller's fds 0-2: put the container's there for the call.
        let saved: Vec<std::os::fd::OwnedFd> = [
            rustix::stdio::stdin(),
            rustix::stdio::stdout(),
            rustix::stdio::stderr(),
        ]
        .into_iter()
        .filter_map(|fd| rustix::io::fcntl_dupfd_cloexec(fd, 10).ok())
        .collect();
        if saved.len() != 3 {
            return Err("cannot save the shim's stdio".into());
        }
        let _ = rustix::stdio::dup2_stdin(stdio[0]);
        let _ = rustix::stdio::dup2_stdout(stdio[1]);
        let _ = rustix::stdio::dup2_stderr(stdio[2]);
        let opts = container::CreateOpts {
            bundle: bundle.to_path_buf(),
            pid_file: None,
            console_socket: console.map(Path::to_path_buf),
            no_pivot: false,
            preserve_fds: 0,
        };
        let created = container::create(&self.root, &self.id, &opts);
        let _ = rustix::stdio::dup2_stdin(&saved[0]);
        let _ = rustix::stdio::dup2_stdout(&saved[1]);
        let _ = rustix::stdio::dup2_stderr(&saved[2]);
        created.map(|c| c.pid).map_err(s)
    }

    fn start(&self) -> Result<(), String> {
        container::start(&self.root, &self.id).map_err(s)
    }

    fn status(&self) -> Result<String, String> {
        let st = container::oci_state(&self.root, &self.id).map_err(s)?;
        Ok(serde_json::to_value(&st)
            .ok()
            .and_then(|v| v["status"].as_str().map(String::from))
            .unwrap_or_default())
    }

    fn kill(&self, signal: i32, all: bool) -> Result<(), String> {
        container::kill(&self.root, &self.id, signal, all).map_err(s)
    }

    fn delete(&self) -> Result<(), String> {
        container::delete(&self.root, &self.id, true).map_err(s)
    }

    fn pause(&self) -> Result<(), String> {
        container::pause(&self.root, &self.id).map_err(s)
    }

    fn resume(&self) -> Result<(), String> {
        container::resume(&self.root, &self.id).map_err(s)
    }

    fn pids(&self) -> Result<Vec<i32>, String> {
        container::pids(&self.root, &self.id).map_err(s)
    }

    fn stats(&self) -> Result<serde_json::Value, String> {
        container::stats(&self.root, &self.id).map_err(s)
    }

    fn update(&self, res: &LinuxResources) -> Result<Vec<String>, String> {
        container::update(&self.root, &self.id, res).map_err(s)
    }

    fn oom_count(&self) -> Option<u64> {
        container::oom_count(&self.root, &self.id).ok()
    }

    fn exec(
        &self,
        process_file: &Path,
        console: Option<&Path>,
        stdio: [File; 3],
        scratch: &Path,
    ) -> Result<i32, String> {
        // The runtime forks, which this multi-threaded process must not: a fresh helper does it.
        let result = scratch.with_extension("result");
        let exe = std::env::current_exe().map_err(|e| format!("shim binary: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("exec-helper")
            .arg(&self.root)
            .arg(&self.id)
            .arg(process_file)
            .arg(&result);
        if let Some(c) = console {
            cmd.arg(c);
        }
        let [cin, cout, cerr] = stdio;
        let child = cmd
            .stdin(cin)
            .stdout(cout)
            .stderr(cerr)
            .spawn()
            .map_err(|e| format!("run exec helper: {e}"))?;
        let helper = child.id() as i32;
        drop(cmd);
        // The reaper collects the helper; its answer is in the result file.
        let _ = self.reaper.wait(helper);
        let answer: serde_json::Value = std::fs::read(&result)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        let _ = std::fs::remove_file(&result);
        match answer["pid"].as_i64() {
            Some(pid) => Ok(pid as i32),
            None => Err(answer["error"]
                .as_str()
                .unwrap_or("exec failed")
                .to_string()),
        }
    }
}

/// Another OCI runtime's binary.
#[derive(Debug)]
pub struct External {
    rt: ExternalRuntime,
    root: PathBuf,
    id: String,
    /// The shim directory (per-call logs and pid files).
    dir: PathBuf,
    bundle: PathBuf,
    reaper: Arc<Reaper>,
    seq: AtomicU64,
}

/// The error a runtime logged (runc and crun: JSON lines with `level` and `msg`), else its
/// last line.
pub fn logged_error(log: &str) -> Option<String> {
    let mut last_json = None;
    let mut last_line = None;
    for line in log.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => {
                let level = v["level"].as_str().unwrap_or_default();
                if matches!(level, "error" | "fatal" | "panic") {
                    if let Some(m) = v["msg"].as_str() {
                        last_json = Some(m.to_string());
                    }
                }
            }
            _ => last_line = Some(line.to_string()),
        }
    }
    last_json.or(last_line)
}

/// A `cgroupsPath` as the runtime library's persisted cgroup (see `berth_runtime::cgroup`).
fn persisted_cgroup(path: &str, creator: String) -> serde_json::Value {
    let p = path.trim_matches('/');
    let kind = if path.starts_with('/') {
        "Absolute"
    } else {
        "Relative"
    };
    serde_json::json!({ "path": { kind: p }, "creator_cgroup": creator })
}

impl External {
    /// Run `<rt> [args] --root … --log … <args>`; its stdout. `stdio` replaces pipes for
    /// create and exec (the runtime passes it to the container's process).
    fn run(
        &self,
        args: &[OsString],
        input: Option<&[u8]>,
        stdio: Option<[File; 3]>,
    ) -> Result<Vec<u8>, String> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let log = self.dir.join(format!("runtime-{n}.log"));
        let mut cmd = Command::new(&self.rt.path);
        // In the shim directory: sockets there are passed by their names (see `console`).
        cmd.current_dir(&self.dir)
            .args(&self.rt.args)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&log)
            .arg("--log-format")
            .arg("json")
            .args(args);
        let piped = stdio.is_none();
        match stdio {
            Some([i, o, e]) => {
                cmd.stdin(i).stdout(o).stderr(e);
            }
            None => {
                let err = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .map_err(|e| format!("{}: {e}", log.display()))?;
                cmd.stdin(if input.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(err);
            }
        }
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "run runtime {} ({}): {e}",
                self.rt.name,
                self.rt.path.display()
            )
        })?;
        drop(cmd);
        if let (Some(data), Some(mut w)) = (input, child.stdin.take()) {
            let _ = w.write_all(data);
        }
        let mut out = Vec::new();
        if piped {
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_end(&mut out);
            }
        }
        let status = self.reaper.wait(child.id() as i32);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        if status != -1 && sys::exit_code(status) == 0 {
            return Ok(out);
        }
        let what = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        Err(match logged_error(&text) {
            Some(m) => format!("{} {what}: {m}", self.rt.name),
            None => format!(
                "{} {what} failed with exit code {}",
                self.rt.name,
                sys::exit_code(status)
            ),
        })
    }

    fn cmd(&self, words: &[&str]) -> Result<Vec<u8>, String> {
        let mut a: Vec<OsString> = words.iter().map(OsString::from).collect();
        a.push(OsString::from(&self.id));
        self.run(&a, None, None)
    }

    /// A socket path as the runtime should dial it: the name alone when it is in the shim
    /// directory (the runtime's working directory), since full paths under a long exec root
    /// exceed `sun_path` and a runtime cannot be asked to dial through `/proc/self/fd`.
    fn console(&self, path: &Path) -> OsString {
        match (path.parent(), path.file_name()) {
            (Some(d), Some(name)) if d == self.dir => name.to_os_string(),
            _ => path.as_os_str().to_os_string(),
        }
    }

    fn read_pid(path: &Path) -> Result<i32, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("pid file: {e}"))?;
        let _ = std::fs::remove_file(path);
        text.trim()
            .parse()
            .map_err(|_| format!("pid file {}: {text:?}", path.display()))
    }

    fn cgroup(&self) -> Option<berth_runtime::cgroup::Cgroup> {
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.bundle.join("config.json")).ok()?).ok()?;
        let path = spec["linux"]["cgroupsPath"].as_str()?;
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        berth_runtime::cgroup::Cgroup::from_json(Some(&persisted_cgroup(path, own)))
    }
}

impl Runtime for External {
    fn exists(&self) -> bool {
        self.cmd(&["state"]).is_ok()
    }

    fn create(
        &self,
        bundle: &Path,
        console: Option<&Path>,
        stdio: [&File; 3],
    ) -> Result<i32, String> {
        let pid_file = self.dir.join("init.pid");
        let mut a: Vec<OsString> = vec!["create".into(), "--bundle".into(), bundle.into()];
        a.extend(["--pid-file".into(), pid_file.clone().into()]);
        if let Some(c) = console {
            a.extend(["--console-socket".into(), self.console(c)]);
        }
        a.push(OsString::from(&self.id));
        let dup = |f: &File| f.try_clone().map_err(|e| format!("dup stdio: {e}"));
        self.run(
            &a,
            None,
            Some([dup(stdio[0])?, dup(stdio[1])?, dup(stdio[2])?]),
        )?;
        Self::read_pid(&pid_file)
    }

    fn start(&self) -> Result<(), String> {
        self.cmd(&["start"]).map(drop)
    }

    fn status(&self) -> Result<String, String> {
        let out = self.cmd(&["state"])?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| format!("{} state: {e}", self.rt.name))?;
        Ok(v["status"].as_str().unwrap_or_default().to_string())
    }

    fn kill(&self, signal: i32, all: bool) -> Result<(), String> {
        let mut a: Vec<OsString> = vec!["kill".into()];
        if all {
            a.push("--all".into());
        }
        a.extend([OsString::from(&self.id), signal.to_string().into()]);
        self.run(&a, None, None).map(drop)
    }

    fn delete(&self) -> Result<(), String> {
        self.cmd(&["delete", "--force"]).map(drop)
    }

    fn pause(&self) -> Result<(), String> {
        self.cmd(&["pause"]).map(drop)
    }

    fn resume(&self) -> Result<(), String> {
        self.cmd(&["resume"]).map(drop)
    }

    fn pids(&self) -> Result<Vec<i32>, String> {
        let out = self.cmd(&["ps", "--format", "json"])?;
        let v: Option<Vec<i32>> =
            serde_json::from_slice(&out).map_err(|e| format!("{} ps: {e}", self.rt.name))?;
        Ok(v.unwrap_or_default())
    }

    fn stats(&self) -> Result<serde_json::Value, String> {
        self.cgroup()
            .ok_or_else(|| format!("container {} has no cgroup", self.id))?
            .stats()
            .map_err(s)
    }

    fn update(&self, res: &LinuxResources) -> Result<Vec<String>, String> {
        let data = serde_json::to_vec(res).map_err(s)?;
        let a: Vec<OsString> = vec![
            "update".into(),
            "--resources".into(),
            "-".into(),
            OsString::from(&self.id),
        ];
        self.run(&a, Some(&data), None).map(|_| Vec::new())
    }

    fn oom_count(&self) -> Option<u64> {
        self.cgroup()?.oom_kill_count().ok()
    }

    fn exec(
        &self,
        process_file: &Path,
        console: Option<&Path>,
        stdio: [File; 3],
        scratch: &Path,
    ) -> Result<i32, String> {
        let pid_file = scratch.with_extension("pid");
        let mut a: Vec<OsString> = vec!["exec".into(), "--process".into(), process_file.into()];
        a.extend([
            "--pid-file".into(),
            pid_file.clone().into(),
            "--detach".into(),
        ]);
        if let Some(c) = console {
            a.extend(["--console-socket".into(), self.console(c)]);
        }
        a.push(OsString::from(&self.id));
        self.run(&a, None, Some(stdio))?;
        Self::read_pid(&pid_file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_from_the_json_log() {
        let runc = "{\"level\":\"warning\",\"msg\":\"w\",\"time\":\"t\"}\n\
                    {\"level\":\"error\",\"msg\":\"container does not exist\",\"time\":\"t\"}\n";
        assert_eq!(
            logged_error(runc).as_deref(),
            Some("container does not exist")
        );
        assert_eq!(
            logged_error("plain words\n").as_deref(),
            Some("plain words")
        );
        assert_eq!(logged_error(""), None);
    }

    #[test]
    fn cgroup_paths_become_the_librarys_record() {
        let v = persisted_cgroup("tag/abc", "0::/\n".into());
        assert_eq!(v["path"]["Relative"], "tag/abc");
        let v = persisted_cgroup("/berth/abc", String::new());
        assert_eq!(v["path"]["Absolute"], "berth/abc");
    }
}
