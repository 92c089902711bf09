//! berth-runc's lifecycle verbs as a caller (containerd, a person) sees them.
mod common;

use common::Bundle;
use serde_json::json;

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "echo hello; echo oops >&2; exit 3"]);
    let (code, out, err) = b.run("c1");
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out, "hello\n");
    assert!(err.contains("oops"), "{err}");
    // run deletes the container afterwards: no state, no cgroup.
    assert!(b.state_of("c1").is_null());
    assert!(
        b.leftover_cgroups().is_empty(),
        "{:?}",
        b.leftover_cgroups()
    );
}

#[test]
fn killed_by_a_signal_reports_128_plus_signal() {
    need_root!();
    let mut b = Bundle::new();
    // PID 1 of a pid namespace ignores SIGKILL sent from inside it, so the signal comes from
    // outside, through `kill`, while `run` waits in the foreground.
    b.args(&["sleep", "30"]);
    b.write("c1");
    let dir = b.dir.display().to_string();
    let mut run = b
        .cmd()
        .args(["run", "-b", &dir, "c1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn run: {e}"));
    for _ in 0..500 {
        if b.state_of("c1")["status"] == "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(b.runc(&["kill", "c1", "KILL"]).status.success());
    let st = run.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(st.code(), Some(137));
    assert!(b.state_of("c1").is_null(), "run deletes what it made");
}

#[test]
fn create_start_state_kill_delete() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b.write("c1");
    let dir = b.dir.display().to_string();
    let pidfile = b.dir.join("pid");
    let out = b.runc(&[
        "create",
        "-b",
        &dir,
        "--pid-file",
        &pidfile.display().to_string(),
        "c1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = b.state_of("c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "c1");
    assert_eq!(
        st["ociVersion"].as_str().map(|v| v.starts_with("1.")),
        Some(true)
    );
    let pid = st["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap_or_default(),
        pid.to_string()
    );
    // A second create with the same id is refused with runc's text.
    let dup = b.runc(&["create", "-b", &dir, "c1"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("container with id exists: c1"));
    // The process has not started yet: INIT is still ours, not sleep.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_ne!(comm.trim(), "sleep");

    assert!(b.runc(&["start", "c1"]).status.success());
    assert_eq!(b.state_of("c1")["status"], "running");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "sleep");
    // start twice is an error.
    assert!(!b.runc(&["start", "c1"]).status.success());
    // delete without force refuses a running container.
    let d = b.runc(&["delete", "c1"]);
    assert!(!d.status.success());
    assert!(
        String::from_utf8_lossy(&d.stderr).contains("not stopped"),
        "{}",
        String::from_utf8_lossy(&d.stderr)
    );

    assert!(b.runc(&["kill", "c1", "KILL"]).status.success());
    for _ in 0..200 {
        if b.state_of("c1")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(b.state_of("c1")["status"], "stopped");
    assert!(b.runc(&["delete", "c1"]).status.success());
    let gone = b.runc(&["state", "c1"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("container does not exist"));
    assert!(b.leftover_cgroups().is_empty());
}

#[test]
fn list_shows_containers_and_json() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b.write("a1");
    let dir = b.dir.display().to_string();
    assert!(b.runc(&["run", "-d", "-b", &dir, "a1"]).status.success());
    let out = b.runc(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v[0]["id"], "a1");
    assert_eq!(v[0]["status"], "running");
    let q = b.runc(&["list", "-q"]);
    assert_eq!(String::from_utf8_lossy(&q.stdout), "a1\n");
    let ps = b.runc(&["ps", "--format", "json", "a1"]);
    let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).unwrap_or_default();
    assert_eq!(pids, vec![v[0]["pid"].as_i64().unwrap_or(-1)]);
}

#[test]
fn exec_joins_the_running_container() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["hostname"] = json!("exec-host");
    b.args(&["sleep", "30"]);
    b.write("e1");
    let dir = b.dir.display().to_string();
    assert!(b.runc(&["run", "-d", "-b", &dir, "e1"]).status.success());
    let out = b.runc(&[
        "exec",
        "e1",
        "sh",
        "-c",
        "hostname; cat /proc/1/comm; exit 7",
    ]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "exec-host\nsleep\n");
    // env, cwd and user flags
    let out = b.runc(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "65534:65534",
        "e1",
        "sh",
        "-c",
        "echo $FOO; pwd; id -u",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "bar\n/tmp\n65534\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A missing executable is a clear error.
    let out = b.runc(&["exec", "e1", "/nonexistent"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such file or directory"), "{err}");
    // exec with --process
    let p = json!({"args": ["sh", "-c", "echo from-process-json"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]});
    let pf = b.dir.join("process.json");
    std::fs::write(&pf, p.to_string()).unwrap_or_default();
    let out = b.runc(&["exec", "--process", &pf.display().to_string(), "e1"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from-process-json\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_executable_fails_create_with_gos_wording() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["nosuchcmd"]);
    let (code, _, err) = b.run("m1");
    assert_ne!(code, 0);
    assert!(
        err.contains("exec: \\\"nosuchcmd\\\": executable file not found in $PATH")
            || err.contains("executable file not found in $PATH"),
        "{err}"
    );
    assert!(b.state_of("m1").is_null());
    assert!(b.leftover_cgroups().is_empty());
}

#[test]
fn pause_and_resume_freeze_the_container() {
    need_root!();
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "while true; do sleep 0.01; done"]);
    b.write("p1");
    let dir = b.dir.display().to_string();
    assert!(b.runc(&["run", "-d", "-b", &dir, "p1"]).status.success());
    assert!(b.runc(&["pause", "p1"]).status.success());
    assert_eq!(b.state_of("p1")["status"], "paused");
    let pid = b.state_of("p1")["pid"].as_i64().unwrap_or(0);
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = st
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    assert!(state == "D" || state == "S", "frozen task state {state}");
    assert!(b.runc(&["resume", "p1"]).status.success());
    assert_eq!(b.state_of("p1")["status"], "running");
    assert!(!b.runc(&["resume", "p1"]).status.success());
}

#[test]
fn hooks_run_at_their_points_with_the_state() {
    need_root!();
    let mut b = Bundle::new();
    let log = b.dir.join("hooks.log");
    let l = log.display().to_string();
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo {name} \"$s\" >> {l}")]});
    b.spec["hooks"] = json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    b.args(&["true"]);
    let (code, _, err) = b.run("h1");
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        vec!["prestart", "createRuntime", "poststart", "poststop"],
        "{text}"
    );
    let first: serde_json::Value = serde_json::from_str(
        text.lines()
            .next()
            .unwrap_or("")
            .split_once(' ')
            .map(|x| x.1)
            .unwrap_or(""),
    )
    .unwrap_or_default();
    assert_eq!(first["id"], "h1");
    assert!(first["pid"].as_i64().unwrap_or(0) > 0);
}

#[test]
fn a_failing_hook_fails_create_and_leaves_nothing() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    b.args(&["true"]);
    let (code, _, err) = b.run("h2");
    assert_ne!(code, 0);
    assert!(err.contains("createRuntime"), "{err}");
    assert!(b.state_of("h2").is_null());
    assert!(b.leftover_cgroups().is_empty());
}

#[test]
fn bad_config_names_the_field_and_leaves_nothing() {
    need_root!();
    let mut b = Bundle::new();
    b.spec["process"]["user"]["uid"] = json!("root");
    let (code, _, err) = b.run("bad");
    assert_eq!(code, 1);
    assert!(err.contains("process.user.uid"), "{err}");
    assert!(!b.state.join("bad").exists());
    let mut b = Bundle::new();
    b.spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "bogus"}]);
    let (_, _, err) = b.run("bad2");
    assert!(err.contains("linux.namespaces"), "{err}");
    let mut b = Bundle::new();
    b.spec["process"]["capabilities"]["bounding"] = json!(["CAP_NOPE"]);
    let (_, _, err) = b.run("bad3");
    assert!(err.contains("capabilities"), "{err}");
    let mut b = Bundle::new();
    b.spec["linux"]["resources"] = json!({"cpu": {"cpus": "not-a-list"}});
    let (code, _, err) = b.run("bad4");
    assert_ne!(code, 0);
    assert!(err.contains("cpus"), "{err}");
    assert!(
        b.leftover_cgroups().is_empty(),
        "{:?}",
        b.leftover_cgroups()
    );
    assert!(!b.state.join("bad4").exists());
}
