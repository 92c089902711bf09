//! berth-shim as the daemon drives it: task file, pid on stdout, attach, start, wait, exec, tty,
//! logs, the overlay rootfs, and nothing left behind.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_shim::protocol::Task;
use berth_shim::{AttachHello, ExecSpec, LogSpec, MountSpec, Request, ShimClient};
use serde_json::json;

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: this test needs root (CI runs as root)");
            return;
        }
    };
}

fn fixture_rootfs() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixture-busybox.sh");
    let out = Command::new("bash").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A temp root with a bundle, a runtime root and a shim dir; removes all of it on drop.
struct Env {
    dir: PathBuf,
    tag: String,
    id: String,
}

impl Env {
    fn new(args: &[&str], tty: bool) -> (Env, Task) {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("berth-test-{}-{n}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["bundle/rootfs", "shim", "state"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let mut spec = berth_runtime::defaults::spec();
        spec["process"]["terminal"] = json!(tty);
        spec["process"]["args"] = json!(args);
        spec["root"]["readonly"] = json!(false);
        spec["linux"]["cgroupsPath"] = json!(format!("{tag}/c"));
        std::fs::write(dir.join("bundle/config.json"), spec.to_string()).unwrap();
        let id = format!("bth-{n}");
        let task = Task {
            id: id.clone(),
            bundle: dir.join("bundle"),
            runtime_root: dir.join("state"),
            rootfs: Vec::new(),
            tty,
            open_stdin: false,
            stdin_once: false,
            log: Some(LogSpec {
                path: dir.join("log.json"),
                max_size: 0,
                max_file: 1,
            }),
            user: None,
            runtime: None,
        };
        (Env { dir, tag, id }, task)
    }

    fn copy_rootfs(&self) {
        let st = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", fixture_rootfs().display()))
            .arg(self.dir.join("bundle/rootfs"))
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Write the task and run the shim: the container's pid, or the shim's error.
    fn start_shim(&self, task: &Task) -> Result<i32, String> {
        std::fs::write(
            self.dir.join("shim/task.json"),
            serde_json::to_vec(task).unwrap(),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_berth-shim"))
            .arg(self.dir.join("shim"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        match v["pid"].as_i64() {
            Some(p) if out.status.success() => Ok(p as i32),
            _ => Err(format!("{v} {}", String::from_utf8_lossy(&out.stderr))),
        }
    }

    fn client(&self) -> ShimClient {
        ShimClient::new(self.dir.join("shim"))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let c = self.client();
        let _ = c.call(&Request::Kill {
            signal: 9,
            all: true,
        });
        // The shim exits once the container is gone; give it a moment.
        for _ in 0..200 {
            if !self.dir.join("shim/ctl.sock").exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.join("bundle/rootfs"))
            .output();
        let _ = berth_runtime::container::delete(&self.dir.join("state"), &self.id, true);
        if let Ok(out) = Command::new("find")
            .args(["/sys/fs/cgroup", "-depth", "-type", "d", "-name", &self.tag])
            .output()
        {
            for d in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("find")
                    .args([d, "-depth", "-type", "d", "-delete"])
                    .output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Read Docker's multiplexed frames until EOF: (stdout, stderr).
fn demux(mut s: UnixStream) -> (String, String) {
    let mut all = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.read_to_end(&mut all).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + 8 <= all.len() {
        let len = u32::from_be_bytes([all[i + 4], all[i + 5], all[i + 6], all[i + 7]]) as usize;
        let body = &all[i + 8..(i + 8 + len).min(all.len())];
        match all[i] {
            1 => out.extend_from_slice(body),
            2 => err.extend_from_slice(body),
            x => panic!("bad stream byte {x}"),
        }
        i += 8 + len;
    }
    assert_eq!(i, all.len(), "trailing bytes in the stream");
    (
        String::from_utf8_lossy(&out).into(),
        String::from_utf8_lossy(&err).into(),
    )
}

const BOTH: AttachHello = AttachHello {
    stdin: false,
    stdout: true,
    stderr: true,
};

#[test]
fn runs_attaches_logs_and_reports_the_exit() {
    need_root!();
    let (env, task) = Env::new(
        &["sh", "-c", "echo out; echo err >&2; echo more; exit 7"],
        false,
    );
    env.copy_rootfs();
    let pid = env.start_shim(&task).unwrap();
    assert!(pid > 0);
    // The shim has detached: the container's init is not our child but the shim's.
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = ppid
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, std::process::id() as i32);
    let c = env.client();
    assert_eq!(
        c.call(&Request::Status).unwrap().status.as_deref(),
        Some("created")
    );
    let s = c.attach(None, BOTH).unwrap();
    c.call(&Request::Start).unwrap();
    let (out, err) = demux(s);
    assert_eq!(out, "out\nmore\n");
    assert_eq!(err, "err\n");
    let exit = c.call(&Request::Wait).unwrap().exit.unwrap();
    assert_eq!(exit.code, 7);
    assert!(!exit.oom_killed);
    assert_eq!(c.exit_info().map(|e| e.code), Some(7));
    let log = std::fs::read_to_string(env.dir.join("log.json")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    // Order between the two streams is not defined (two pipes), within one it is.
    let of = |stream: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["stream"] == stream)
            .map(|l| l["log"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(of("stdout"), ["out\n", "more\n"]);
    assert_eq!(of("stderr"), ["err\n"]);
    assert!(lines
        .iter()
        .all(|l| l["time"].as_str().unwrap().ends_with('Z')));
    // Everything is gone: the shim, the runtime's state, the sockets.
    for _ in 0..200 {
        if !env.dir.join("shim/ctl.sock").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!env.dir.join("shim/ctl.sock").exists());
    assert!(!env.dir.join("state").join(&env.id).exists());
    let shim_alive = || {
        std::fs::read_to_string(format!("/proc/{ppid}/comm"))
            .map(|c| c.trim() == "berth-shim")
            .unwrap_or(false)
    };
    for _ in 0..200 {
        if !shim_alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!shim_alive(), "the shim outlived its container");
}

#[test]
fn exec_runs_beside_init_with_its_own_streams_and_code() {
    need_root!();
    let (env, task) = Env::new(&["sleep", "30"], false);
    env.copy_rootfs();
    env.start_shim(&task).unwrap();
    let c = env.client();
    c.call(&Request::Start).unwrap();
    let mut process: oci_spec::runtime::Process =
        serde_json::from_value(berth_runtime::defaults::spec()["process"].clone()).unwrap();
    process.set_terminal(Some(false));
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "cat /proc/1/comm; echo e >&2; exit 5".into(),
    ]));
    let exec = ExecSpec {
        id: "x1".into(),
        process,
        open_stdin: false,
        user: None,
    };
    c.call(&Request::ExecPrepare {
        exec: Box::new(exec),
    })
    .unwrap();
    let s = c.attach(Some("x1"), BOTH).unwrap();
    let pid = c
        .call(&Request::ExecStart { id: "x1".into() })
        .unwrap()
        .pid
        .unwrap();
    assert!(pid > 0);
    let (out, err) = demux(s);
    assert_eq!(out, "sleep\n");
    assert_eq!(err, "e\n");
    assert_eq!(
        c.call(&Request::ExecWait { id: "x1".into() })
            .unwrap()
            .exit
            .unwrap()
            .code,
        5
    );
    // A missing binary is an error at start.
    let mut p2: oci_spec::runtime::Process =
        serde_json::from_value(berth_runtime::defaults::spec()["process"].clone()).unwrap();
    p2.set_terminal(Some(false));
    p2.set_args(Some(vec!["/nope".into()]));
    c.call(&Request::ExecPrepare {
        exec: Box::new(ExecSpec {
            id: "x2".into(),
            process: p2,
            open_stdin: false,
            user: None,
        }),
    })
    .unwrap();
    let e = c.call(&Request::ExecStart { id: "x2".into() }).unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
    // The container is still running; killing it ends the shim with 128+9.
    assert_eq!(
        c.call(&Request::Status).unwrap().status.as_deref(),
        Some("running")
    );
    c.call(&Request::Kill {
        signal: 9,
        all: false,
    })
    .unwrap();
    assert_eq!(c.call(&Request::Wait).unwrap().exit.unwrap().code, 137);
}

#[test]
fn a_tty_container_takes_input_and_echoes() {
    need_root!();
    let (env, mut task) = Env::new(&["sh"], true);
    task.open_stdin = true;
    task.stdin_once = true;
    env.copy_rootfs();
    env.start_shim(&task).unwrap();
    let c = env.client();
    let mut s = c
        .attach(
            None,
            AttachHello {
                stdin: true,
                stdout: true,
                stderr: true,
            },
        )
        .unwrap();
    c.call(&Request::Resize {
        height: 40,
        width: 100,
        exec: None,
    })
    .unwrap();
    c.call(&Request::Start).unwrap();
    s.write_all(b"stty size; echo $((6*7)); exit 3\n").unwrap();
    let mut all = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("40 100"), "{text}");
    assert!(text.contains("42"), "{text}");
    assert_eq!(c.call(&Request::Wait).unwrap().exit.unwrap().code, 3);
}

#[test]
fn the_rootfs_is_an_overlay_and_is_unmounted_after_exit() {
    need_root!();
    let (env, mut task) = Env::new(
        &[
            "sh",
            "-c",
            "echo hi > /tmp/new; cat /etc/hostname-missing 2>/dev/null; ls /bin/busybox",
        ],
        false,
    );
    for d in ["upper", "work"] {
        std::fs::create_dir_all(env.dir.join(d)).unwrap();
    }
    task.rootfs = vec![MountSpec {
        kind: "overlay".into(),
        source: "overlay".into(),
        options: vec![
            format!("lowerdir={}", fixture_rootfs().display()),
            format!("upperdir={}", env.dir.join("upper").display()),
            format!("workdir={}", env.dir.join("work").display()),
        ],
        cwd: None,
    }];
    env.start_shim(&task).unwrap();
    let c = env.client();
    let s = c.attach(None, BOTH).unwrap();
    c.call(&Request::Start).unwrap();
    let (out, _) = demux(s);
    assert_eq!(out, "/bin/busybox\n");
    assert_eq!(c.call(&Request::Wait).unwrap().exit.unwrap().code, 0);
    assert_eq!(
        std::fs::read_to_string(env.dir.join("upper/tmp/new")).unwrap(),
        "hi\n"
    );
    assert!(
        !fixture_rootfs().join("tmp/new").exists(),
        "wrote into the lower layer"
    );
    for _ in 0..200 {
        if !env.dir.join("shim/ctl.sock").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&env.dir.join("bundle/rootfs").display().to_string()),
        "rootfs still mounted"
    );
}

#[test]
fn a_failing_create_is_reported_and_leaves_nothing() {
    need_root!();
    let (env, task) = Env::new(&["/no/such/binary"], false);
    env.copy_rootfs();
    let e = env.start_shim(&task).unwrap_err();
    assert!(e.contains("no such file") || e.contains("not found"), "{e}");
    assert!(!env.dir.join("shim/ctl.sock").exists());
    assert!(!env.dir.join("state").join(&env.id).exists());
}

#[test]
fn input_sent_right_behind_the_hello_reaches_the_process() {
    need_root!();
    let (env, mut task) = Env::new(&["tr", "a-z", "A-Z"], false);
    task.open_stdin = true;
    task.stdin_once = true;
    env.copy_rootfs();
    env.start_shim(&task).unwrap();
    let c = env.client();
    // Hello and input in one write, as a daemon forwarding a piped stdin may produce.
    let path = env.dir.join("shim").join(berth_shim::ATTACH_SOCK);
    let mut s = berth_shim::client::connect(&path).unwrap();
    s.write_all(b"{\"stdin\":true,\"stdout\":true,\"stderr\":true}\nshout\n")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut ack = [0u8; 3];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(&ack, berth_shim::ATTACH_ACK);
    c.call(&Request::Start).unwrap();
    let (out, _) = demux(s);
    assert_eq!(out, "SHOUT\n");
    assert_eq!(c.call(&Request::Wait).unwrap().exit.unwrap().code, 0);
}
