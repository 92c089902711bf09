//! `berth-shim <dir>`: the monitor of one container (see the crate docs for the protocol).
//!
//! Stages: the parent process forks the monitor and exits with its setup result (so the daemon
//! knows whether create worked); the monitor mounts the rootfs, creates the container while it is
//! still single-threaded, then serves its sockets from threads while the main thread reaps.
//! `berth-shim exec-helper <runtime-root> <id> <process.json> <result.json> [console-socket]`
//! runs one exec in
//! a fresh single-threaded process (the runtime forks, which a multi-threaded shim must not do
//! itself); the exec'd process is re-parented to the shim, its subreaper.
#![forbid(unsafe_code)]

mod io;
mod monitor;
mod rootfs;
mod runtime;
mod users;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_runtime::sys;
use berth_shim::protocol::{self, Task};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("exec-helper") => exec_helper(&args[2..]),
        Some(dir) if args.len() == 2 => shim(PathBuf::from(dir)),
        _ => {
            eprintln!("usage: berth-shim <shim-dir> | berth-shim exec-helper <root> <id> <process.json> <result.json> [console-socket]");
            std::process::exit(2)
        }
    }
}

fn exec_helper(a: &[String]) -> ! {
    let (root, id, pfile, result) = match a {
        [r, i, p, out, ..] => (Path::new(r), i.as_str(), Path::new(p), Path::new(out)),
        _ => {
            eprintln!("exec-helper: missing arguments");
            std::process::exit(2)
        }
    };
    let r = (|| -> Result<i32, String> {
        let data = std::fs::read(pfile).map_err(|e| format!("read {}: {e}", pfile.display()))?;
        let process: oci_spec::runtime::Process =
            serde_json::from_slice(&data).map_err(|e| format!("process: {e}"))?;
        let opts = berth_runtime::container::ExecOpts {
            console_socket: a.get(4).map(PathBuf::from),
            pid_file: None,
            detach: true,
            preserve_fds: 0,
        };
        berth_runtime::container::exec(root, id, &process, &opts).map_err(|e| e.to_string())
    })();
    // The answer goes to a file: stdio is the exec's own.
    let line = match &r {
        Ok(pid) => serde_json::json!({ "pid": pid }),
        Err(e) => serde_json::json!({ "error": e }),
    };
    let _ = berth_runtime::state::write_atomic(result, line.to_string().as_bytes());
    std::process::exit(if r.is_ok() { 0 } else { 1 })
}

fn shim(dir: PathBuf) -> ! {
    let task: Task = match std::fs::read(dir.join(protocol::TASK_FILE))
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::from_slice(&d).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            println!("{}", serde_json::json!({ "error": format!("task: {e}") }));
            std::process::exit(1)
        }
    };
    let (report_r, report_w) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            println!("{}", serde_json::json!({ "error": format!("pipe: {e}") }));
            std::process::exit(1)
        }
    };
    match sys::clone_fork(0) {
        Ok(sys::Forked::Parent(_)) => {
            drop(report_w);
            // One line: the container's init keeps a copy of the pipe until it execs, so
            // reading to EOF would wait for `start`.
            let mut s = String::new();
            let _ = std::io::BufRead::read_line(
                &mut std::io::BufReader::new(std::fs::File::from(report_r)),
                &mut s,
            );
            let s = s.trim();
            if s.is_empty() {
                println!(
                    "{}",
                    serde_json::json!({ "error": "shim died during setup (see shim.log)" })
                );
                std::process::exit(1)
            }
            // The daemon may be gone (killed during the start): no panic on the closed pipe;
            // it re-adopts or stops this shim when it is back.
            let _ = writeln!(std::io::stdout(), "{s}");
            let ok = serde_json::from_str::<serde_json::Value>(s)
                .map(|v| v.get("pid").is_some())
                .unwrap_or(false);
            std::process::exit(if ok { 0 } else { 1 })
        }
        Ok(sys::Forked::Child) => {}
        Err(e) => {
            println!("{}", serde_json::json!({ "error": format!("fork: {e}") }));
            std::process::exit(1)
        }
    }
    drop(report_r);
    sys::set_name(c"berth-shim");
    let _ = sys::setsid();
    let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    detach_stdio(&dir);
    // The runtime's warnings go to our log: during create fds 0-2 are the container's.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(protocol::SHIM_LOG))
    {
        berth_runtime::set_warning_sink(Box::new(move |m: &str| {
            let _ = writeln!(f, "warning: {m}");
        }));
    }
    let mut report = std::fs::File::from(report_w);
    match monitor::Monitor::setup(dir.clone(), task) {
        Ok(m) => {
            let _ = writeln!(report, "{}", serde_json::json!({ "pid": m.init_pid() }));
            drop(report);
            // Setup (spec parsing, seccomp compilation) is done: return its heap.
            sys::malloc_trim();
            m.run()
        }
        Err(e) => {
            eprintln!("setup failed: {e}");
            let _ = writeln!(report, "{}", serde_json::json!({ "error": e }));
            std::process::exit(1)
        }
    }
}

/// stdin and stdout to /dev/null, stderr to the shim's log.
fn detach_stdio(dir: &Path) {
    let null: Option<OwnedFd> = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .ok()
        .map(OwnedFd::from);
    if let Some(n) = &null {
        let _ = rustix::stdio::dup2_stdin(n);
        let _ = rustix::stdio::dup2_stdout(n);
    }
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(protocol::SHIM_LOG))
    {
        let _ = rustix::stdio::dup2_stderr(&f);
    }
}
