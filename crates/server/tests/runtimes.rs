//! Black-box: containers on other OCI runtimes (`--add-runtime`, daemon.json `runtimes`,
//! `docker run --runtime`), driven by berth-shim through the runtime's command line, with the
//! stock `docker` CLI against a real berthd. runc is Debian's /usr/sbin/runc (registered by
//! berthd when present); crun runs where the host's cgroups let it (crun 1.8 refuses a hybrid
//! v1 host whose cgroup2 hierarchy has controllers, this VM: berthd must then report crun's
//! error).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::Berthd;

const RUNC: &str = "/usr/sbin/runc";
const CRUN: &str = "/usr/bin/crun";

/// crun 1.8 refuses hybrid cgroups with controllers on the v2 hierarchy.
fn crun_refuses_this_host() -> bool {
    !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        && std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .map(|c| !c.trim().is_empty())
            .unwrap_or(false)
}

/// Berth's own runc-compatible binary, built beside berthd.
fn berth_runc() -> String {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
        .with_file_name("berth-runc")
        .display()
        .to_string()
}

/// berthd flags adding crun and berth-runc (runc is registered by berthd itself).
fn add_flags() -> Vec<String> {
    vec![
        "--add-runtime".into(),
        format!("crun={CRUN}"),
        "--add-runtime".into(),
        format!("berth-runc={}", berth_runc()),
    ]
}

/// The external runtimes this host can test.
fn runtimes() -> Vec<&'static str> {
    let mut v = Vec::new();
    if Path::new(&berth_runc()).exists() {
        v.push("berth-runc");
    } else {
        eprintln!("berth-runc parts skipped: build it (cargo build --workspace --bins)");
    }
    if Path::new(RUNC).exists() {
        v.push("runc");
    } else {
        eprintln!("runc parts skipped: {RUNC} missing (apt-get install runc)");
    }
    if !Path::new(CRUN).exists() {
        eprintln!("crun parts skipped: {CRUN} missing (apt-get install crun)");
    } else if crun_refuses_this_host() {
        eprintln!("crun parts skipped: crun refuses this host's hybrid cgroups");
    } else {
        v.push("crun");
    }
    v
}

fn ok(b: &Berthd, args: &[&str]) -> String {
    let (code, out, err) = b.d(args);
    assert_eq!(code, 0, "docker {args:?}: {err}\n{}", b.log());
    out
}

/// Containers the runtime `name` itself lists in berthd's state root for it.
fn listed_by(b: &Berthd, name: &str, path: &str) -> String {
    let root = b.dir.join("run").join(format!("runtime-{name}"));
    let out = Command::new(path)
        .arg("--root")
        .arg(root)
        .args(["list", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_of(rt: &str) -> String {
    match rt {
        "crun" => CRUN.into(),
        "berth-runc" => berth_runc(),
        _ => RUNC.into(),
    }
}

fn exercise(b: &Berthd, rt: &str) {
    // Run, output, exit codes, stdin without a terminal.
    assert_eq!(
        ok(
            b,
            &["run", "--rm", "--runtime", rt, "busybox", "echo", "hi"]
        ),
        "hi\n"
    );
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "--runtime",
        rt,
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(code, 3, "{rt}: {err}");
    let out = b
        .docker()
        .args(["run", "-i", "--rm", "--runtime", rt, "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"x from stdin\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x from stdin\n");

    // A detached container: the runtime lists it, exec, a terminal, pause, stop with logs.
    let name = format!("on-{rt}");
    let id = ok(
        b,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--runtime",
            rt,
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo started; while true; do sleep 0.1; done",
        ],
    );
    let id = id.trim();
    assert!(
        listed_by(b, rt, &path_of(rt)).contains(id),
        "{rt} does not know {id}"
    );
    assert_eq!(
        ok(b, &["inspect", "-f", "{{.HostConfig.Runtime}}", &name]).trim(),
        rt
    );
    let (code, out, _) = b.d(&["exec", &name, "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!((code, out.as_str()), (4, "in-exec\n"));
    assert!(ok(b, &["exec", "-t", &name, "tty"]).starts_with("/dev/pts/"));
    ok(b, &["pause", &name]);
    assert_eq!(
        ok(b, &["inspect", "-f", "{{.State.Status}}", &name]).trim(),
        "paused"
    );
    // The container's processes are frozen: stopped in the freezer, not running.
    let top = ok(b, &["top", &name, "-o", "pid,stat"]);
    assert!(
        top.lines()
            .skip(1)
            .all(|l| l.contains('D') || l.contains('S')),
        "{top}"
    );
    ok(b, &["unpause", &name]);
    // update goes through the runtime's `update`; stats read the cgroup the spec names.
    ok(
        b,
        &["update", "--memory", "64m", "--memory-swap", "128m", &name],
    );
    let limit = ok(
        b,
        &[
            "exec",
            &name,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
        ],
    );
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    let mem = ok(
        b,
        &["stats", "--no-stream", "--format", "{{.MemUsage}}", &name],
    );
    assert!(mem.contains("/ 64MiB") && !mem.starts_with("0B"), "{mem}");
    assert!(ok(b, &["top", &name]).contains("sleep"));
    ok(b, &["stop", &name]);
    assert_eq!(
        ok(b, &["inspect", "-f", "{{.State.ExitCode}}", &name]).trim(),
        "7"
    );
    let logs = ok(b, &["logs", &name]);
    assert_eq!(logs, "started\ngot-term\n");
    assert!(!listed_by(b, rt, &path_of(rt)).contains(id), "left in {rt}");

    // kill.
    let k = format!("kill-{rt}");
    ok(
        b,
        &[
            "run",
            "-d",
            "--name",
            &k,
            "--runtime",
            rt,
            "busybox",
            "sleep",
            "60",
        ],
    );
    ok(b, &["kill", &k]);
    ok(b, &["wait", &k]);
    assert_eq!(
        ok(b, &["inspect", "-f", "{{.State.ExitCode}}", &k]).trim(),
        "137"
    );

    // The default bridge: the runtime joins the namespace the daemon made (its path is in the
    // spec), with the address and the gateway reachable.
    let bip = b.bip();
    let gw = bip.split('/').next().unwrap();
    let prefix = &gw[..gw.rfind('.').unwrap()];
    let out = ok(
        b,
        &[
            "run",
            "--rm",
            "--runtime",
            rt,
            "busybox",
            "sh",
            "-c",
            &format!("ip -4 addr show eth0; ping -c1 -W2 {gw} >/dev/null && echo gw-ok"),
        ],
    );
    assert!(out.contains(&format!("inet {prefix}.")), "{out}");
    assert!(out.contains("gw-ok"), "{out}");
}

#[test]
fn external_runtimes_run_exec_pause_stop_and_network() {
    need_root!();
    let rts = runtimes();
    if rts.is_empty() {
        return;
    }
    let flags = add_flags();
    let b = Berthd::start_with(&flags.iter().map(String::as_str).collect::<Vec<_>>());
    let info = ok(
        &b,
        &["info", "-f", "{{json .Runtimes}} {{.DefaultRuntime}}"],
    );
    for name in ["\"runc\"", "\"crun\"", "\"berth-runc\"", "\"berth\""] {
        assert!(info.contains(name), "{name} missing: {info}");
    }
    assert!(info.trim().ends_with(" berth"), "{info}");
    for rt in rts {
        exercise(&b, rt);
    }
    if Path::new(CRUN).exists() && crun_refuses_this_host() {
        let before = ok(&b, &["ps", "-aq"]);
        let (code, _, err) = b.d(&["run", "--rm", "--runtime", "crun", "busybox", "true"]);
        assert_eq!(code, 125);
        assert!(
            err.contains(
                "failed to create task for container: crun create: cgroups in hybrid mode"
            ),
            "{err}"
        );
        assert_eq!(
            ok(&b, &["ps", "-aq"]),
            before,
            "a failed crun container was left"
        );
    }
}

#[test]
fn an_unknown_runtime_is_dockers_error() {
    need_root!();
    let b = Berthd::start();
    for verb in ["run", "create"] {
        let (code, _, err) = b.d(&[verb, "--runtime", "nope", "busybox", "true"]);
        // docker run reports daemon errors with 125, docker create with 1.
        assert_eq!(code, if verb == "run" { 125 } else { 1 }, "{verb}");
        assert!(
            err.contains("Error response from daemon: unknown or invalid runtime name: nope"),
            "{err}"
        );
    }
    assert_eq!(ok(&b, &["ps", "-aq"]), "");
    // Without --runtime a container records the default, the linked runtime.
    ok(&b, &["create", "--name", "plain", "busybox", "true"]);
    assert_eq!(
        ok(&b, &["inspect", "-f", "{{.HostConfig.Runtime}}", "plain"]).trim(),
        "berth"
    );
}

#[test]
fn daemon_json_runtimes_and_default_runtime() {
    need_root!();
    if !Path::new(RUNC).exists() {
        eprintln!("skipped: {RUNC} missing (apt-get install runc)");
        return;
    }
    let dir = tempdir("json");
    let conf = dir.join("daemon.json");
    std::fs::write(
        &conf,
        format!(
            r#"{{"runtimes": {{"myrunc": {{"path": "{RUNC}", "runtimeArgs": ["--systemd-cgroup=false"]}}}}, "default-runtime": "myrunc"}}"#
        ),
    )
    .unwrap();
    let b = Berthd::start_with(&["--config-file", conf.to_str().unwrap()]);
    let info = ok(
        &b,
        &["info", "-f", "{{json .Runtimes}}|{{.DefaultRuntime}}"],
    );
    assert!(
        info.contains(
            r#""myrunc":{"path":"/usr/sbin/runc","runtimeArgs":["--systemd-cgroup=false"]}"#
        ),
        "{info}"
    );
    assert!(info.trim().ends_with("|myrunc"), "{info}");
    ok(&b, &["run", "-d", "--name", "dj", "busybox", "sleep", "60"]);
    assert_eq!(
        ok(&b, &["inspect", "-f", "{{.HostConfig.Runtime}}", "dj"]).trim(),
        "myrunc"
    );
    let id = ok(&b, &["inspect", "-f", "{{.Id}}", "dj"]);
    assert!(listed_by(&b, "myrunc", RUNC).contains(id.trim()));
    // The linked runtime stays available by name.
    assert_eq!(
        ok(
            &b,
            &[
                "run",
                "--rm",
                "--runtime",
                "berth",
                "busybox",
                "echo",
                "linked"
            ]
        ),
        "linked\n"
    );
    drop(b);

    // Wrong configurations stop berthd at start with the reason.
    let bad = |json: &str, extra: &[&str]| -> String {
        std::fs::write(&conf, json).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("--config-file")
            .arg(&conf)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("run"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("sock").display()))
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{json} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = bad(
        r#"{"runtimes": {"x": {"path": "/usr/sbin/runc", "runtimeType": "io.containerd.runc.v2"}}}"#,
        &[],
    );
    assert!(e.contains("runtimeType"), "{e}");
    let e = bad(r#"{"runtimes": {"x": {"path": "/nonexistent/rt"}}}"#, &[]);
    assert!(e.contains("runtime x: /nonexistent/rt not found"), "{e}");
    let e = bad(
        r#"{"runtimes": {"berth": {"path": "/usr/sbin/runc"}}}"#,
        &[],
    );
    assert!(e.contains("runtime name 'berth' is reserved"), "{e}");
    let e = bad(r#"{"default-runtime": "nope"}"#, &[]);
    assert!(e.contains("unknown or invalid runtime name: nope"), "{e}");
    let e = bad(
        r#"{"runtimes": {"x": {"path": "/usr/sbin/runc"}}}"#,
        &["--add-runtime", "y=/usr/sbin/runc"],
    );
    assert!(
        e.contains("specified both as a flag and in the configuration file: runtimes"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(format!("/tmp/berth-test-{}-rt-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_restarted_berthd_takes_back_external_runtime_containers() {
    need_root!();
    let rts = runtimes();
    if rts.is_empty() {
        return;
    }
    let flags = add_flags();
    let extra: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut b = Berthd::start_with(&extra);
    for rt in &rts {
        let name = format!("keep-{rt}");
        ok(
            &b,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--runtime",
                rt,
                "busybox",
                "sh",
                "-c",
                "trap 'exit 5' TERM; while true; do sleep 0.1; done",
            ],
        );
    }
    b.crash();
    b.spawn_with(&extra);
    for rt in &rts {
        let name = format!("keep-{rt}");
        assert_eq!(
            ok(&b, &["inspect", "-f", "{{.State.Status}}", &name]).trim(),
            "running"
        );
        assert_eq!(ok(&b, &["exec", &name, "echo", "back"]), "back\n");
        ok(&b, &["stop", &name]);
        assert_eq!(
            ok(&b, &["inspect", "-f", "{{.State.ExitCode}}", &name]).trim(),
            "5"
        );
    }
}

#[test]
fn update_keeps_the_default_devices_on_every_runtime() {
    need_root!();
    let flags = add_flags();
    let b = Berthd::start_with(&flags.iter().map(String::as_str).collect::<Vec<_>>());
    let mut all = vec!["berth"];
    all.extend(runtimes());
    for rt in all {
        let name = format!("upd-{rt}");
        ok(
            &b,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--runtime",
                rt,
                "busybox",
                "sleep",
                "60",
            ],
        );
        ok(
            &b,
            &["update", "--memory", "32m", "--memory-swap", "64m", &name],
        );
        // /dev/null still usable, a device outside the defaults still refused.
        let out = ok(
            &b,
            &[
                "exec",
                &name,
                "sh",
                "-c",
                "echo x > /dev/null && echo null-ok; mknod /tmp/k c 1 11; head -c1 /tmp/k 2>&1 >/dev/null; true",
            ],
        );
        assert!(out.contains("null-ok"), "{rt}: {out}");
        assert!(out.contains("Operation not permitted"), "{rt}: {out}");
        ok(&b, &["rm", "-f", &name]);
    }
}
