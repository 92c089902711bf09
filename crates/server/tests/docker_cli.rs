//! Black-box: the stock `docker` CLI against a real berthd on a temp root and socket.
//! Each test runs its own berthd (several side by side) and cleans up even when it fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Berthd;

#[test]
fn run_prints_output_and_exit_codes_follow_docker() {
    need_root!();
    let b = Berthd::start();
    let (code, out, err) = b.d(&["run", "--rm", "busybox", "echo", "hello from berth"]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    assert_eq!(out, "hello from berth\n");
    let (code, out, err) = b.d(&[
        "run",
        "--name",
        "t1",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "out\n");
    assert!(err.contains("err\n"), "{err}");
    // --rm removed the first one; t1 stays, exited with 3.
    let (_, ps, _) = b.d(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(ps.lines().count(), 1, "{ps}");
    assert!(ps.starts_with("t1 Exited (3) "), "{ps}");
    // Name conflict: 125 and Docker's text.
    let (code, _, err) = b.d(&["run", "--name", "t1", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("is already in use by container"), "{err}");
    // A missing executable: 127.
    let (code, _, err) = b.d(&["run", "--rm", "busybox", "/nonexistent"]);
    assert_eq!(code, 127, "{err}");
    // An unknown image names itself.
    let (code, _, err) = b.d(&["run", "--rm", "nosuchimage:1"]);
    assert_eq!(code, 125);
    assert!(err.contains("nosuchimage"), "{err}");
    // logs after exit keep both streams apart.
    let o = b.run(&["logs", "t1"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
}

#[test]
fn detached_container_lifecycle_inspect_stop_rm() {
    need_root!();
    let b = Berthd::start();
    let (code, id, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "sl",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(id.trim().len(), 64);
    let (_, st, _) = b.d(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Running}} {{.Name}}",
        "sl",
    ]);
    assert_eq!(st.trim(), "running true /sl");
    // The default log driver is recorded (docker-py's run reads it to return the output).
    let (_, lt, _) = b.d(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "sl"]);
    assert_eq!(lt.trim(), "json-file");
    let (_, ps, _) = b.d(&["ps", "--format", "{{.Names}}|{{.Status}}|{{.Command}}"]);
    assert!(ps.starts_with("sl|Up "), "{ps}");
    // rm of a running container needs -f.
    let (code, _, err) = b.d(&["rm", "sl"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Stop the container before attempting removal"),
        "{err}"
    );
    let (code, _, err) = b.d(&["stop", "-t", "5", "sl"]);
    assert_eq!(code, 0, "{err}");
    let (_, st, _) = b.d(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "sl",
    ]);
    assert_eq!(st.trim(), "exited 0", "the TERM trap ran");
    let (_, logs, _) = b.d(&["logs", "sl"]);
    assert_eq!(logs, "started\n");
    // start again, kill, rm.
    assert_eq!(b.d(&["start", "sl"]).0, 0);
    assert_eq!(b.d(&["kill", "sl"]).0, 0);
    let (_, code, _) = b.d(&["wait", "sl"]);
    assert_eq!(code.trim(), "137");
    assert_eq!(b.d(&["rm", "sl"]).0, 0);
    let (_, ps, _) = b.d(&["ps", "-aq"]);
    assert!(ps.trim().is_empty(), "{ps}");
    let (code, _, err) = b.d(&["inspect", "sl"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("no such"), "{err}");
}

#[test]
fn stdin_is_piped_with_dash_i() {
    need_root!();
    let b = Berthd::start();
    let mut c = b
        .docker()
        .args(["run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut i = c.stdin.take().unwrap();
        i.write_all(b"shout\n").unwrap();
    }
    let o = c.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "SHOUT\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success());
}

#[test]
fn containers_survive_a_daemon_crash() {
    need_root!();
    let mut b = Berthd::start();
    let (code, _, err) = b.d(&["run", "-d", "--name", "keep", "busybox", "sleep", "300"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 5",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, pid, _) = b.d(&["inspect", "-f", "{{.State.Pid}}", "keep"]);
    let pid: i32 = pid.trim().parse().unwrap();
    b.crash();
    // While berthd is down: one container keeps running, the other exits.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with the daemon"
    );
    b.spawn();
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "keep"]);
    assert_eq!(st.trim(), format!("running {pid}"));
    let (_, st, _) = b.d(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "short",
    ]);
    assert_eq!(
        st.trim(),
        "exited 5",
        "the exit while berthd was down is recorded"
    );
    // The re-adopted container is still under control.
    let (code, _, err) = b.d(&["rm", "-f", "keep"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists() || {
            std::thread::sleep(Duration::from_millis(300));
            !Path::new(&format!("/proc/{pid}")).exists()
        }
    );
}

#[test]
fn api_errors_and_negotiation() {
    need_root!();
    let b = Berthd::start();
    let (code, out, _) = b.d(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "1.41 1.24");
    // Unsupported fields are refused by name, not ignored.
    let (code, _, err) = b.d(&["run", "--rm", "--device", "/dev/null", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("Devices"), "{err}");
    // User names resolve in the image's own passwd and group files.
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--user",
        "nobody",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "65534\n65534\n");
    let (code, _, err) = b.d(&["run", "--rm", "--user", "ghost", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("unable to find user ghost"), "{err}");
    // Limits reach the container's cgroup.
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--memory",
        "64m",
        "--pids-limit",
        "33",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "67108864\n33\n");
    // Docker's default capabilities, and --cap-drop ALL.
    let (_, out, _) = b.d(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(out.trim(), "CapEff:\t00000000a80425fb");
    let (_, out, _) = b.d(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(out.trim(), "CapEff:\t0000000000000000");
}

#[test]
fn exec_runs_beside_the_container() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&["run", "-d", "--name", "e1", "busybox", "sleep", "300"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = b.d(&[
        "exec",
        "e1",
        "sh",
        "-c",
        "echo hi; cat /proc/1/comm; exit 4",
    ]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, "hi\nsleep\n");
    let (code, out, _) = b.d(&[
        "exec",
        "-u",
        "1000:1000",
        "-w",
        "/tmp",
        "-e",
        "FOO=bar",
        "e1",
        "sh",
        "-c",
        "id -u; pwd; echo $FOO",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out, "1000\n/tmp\nbar\n");
    let (_, out, _) = b.d(&["exec", "-u", "nobody", "e1", "id", "-u"]);
    assert_eq!(out.trim(), "65534");
    let (code, out, err) = b.d(&["exec", "e1", "/nope"]);
    assert_eq!(code, 127, "{out}{err}");
    assert!(format!("{out}{err}").contains("no such file or directory"));
    // -d returns at once; the process runs on.
    let (code, _, _) = b.d(&[
        "exec",
        "-d",
        "e1",
        "sh",
        "-c",
        "sleep 0.3; touch /tmp/detached",
    ]);
    assert_eq!(code, 0);
    std::thread::sleep(Duration::from_millis(800));
    let (_, out, _) = b.d(&["exec", "e1", "ls", "/tmp"]);
    assert!(out.contains("detached"), "{out}");
    // exec in a stopped container is refused.
    assert_eq!(b.d(&["kill", "e1"]).0, 0);
    let _ = b.d(&["wait", "e1"]);
    let (code, _, err) = b.d(&["exec", "e1", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn pause_top_stats_rename_update_and_images() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "o1",
        "busybox",
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = b.d(&["top", "o1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("UID") && out.contains("while true"),
        "{out}"
    );
    assert_eq!(b.d(&["pause", "o1"]).0, 0);
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "o1"]);
    assert_eq!(st.trim(), "paused true");
    let (code, _, err) = b.d(&["pause", "o1"]);
    assert_ne!(code, 0);
    assert!(err.contains("already paused"), "{err}");
    assert_eq!(b.d(&["unpause", "o1"]).0, 0);
    let (code, out, err) = b.d(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "o1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("o1 "), "{out}");
    assert_eq!(b.d(&["rename", "o1", "o2"]).0, 0);
    let (code, _, err) = b.d(&["update", "--memory", "32m", "--memory-swap", "64m", "o2"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = b.d(&[
        "exec",
        "o2",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(out.trim(), "33554432");
    // Images: in use → conflict; tag, history, save, rmi.
    let (code, _, err) = b.d(&["rmi", "busybox"]);
    assert_ne!(code, 0);
    assert!(err.contains("conflict"), "{err}");
    assert_eq!(b.d(&["tag", "busybox", "bb:2"]).0, 0);
    let (_, out, _) = b.d(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        out.contains("bb:2") && out.contains("busybox:latest"),
        "{out}"
    );
    let (_, out, _) = b.d(&["rmi", "bb:2"]);
    assert_eq!(out.trim(), "Untagged: bb:2");
    let (code, out, _) = b.d(&["history", "--format", "{{.Comment}}", "busybox"]);
    assert_eq!(code, 0);
    assert!(out.contains("Imported from -"), "{out}");
    let save = b.run(&["save", "busybox"]);
    assert!(save.status.success());
    let listing = Command::new("tar")
        .arg("-t")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut t| {
            use std::io::Write;
            t.stdin.take().map(|mut i| i.write_all(&save.stdout));
            t.wait_with_output()
        })
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(names.contains("manifest.json"), "{names}");
    assert_eq!(b.d(&["rm", "-f", "o2"]).0, 0);
    let (code, out, _) = b.d(&["rmi", "busybox"]);
    assert_eq!(code, 0);
    assert!(out.contains("Deleted: sha256:"), "{out}");
}

#[test]
fn restart_policies_follow_docker() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "rf",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "ra",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    assert_eq!(code, 0, "{err}");
    // 100 ms, then 200 ms of back-off: both retries are done well within 3 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "rf"]);
        if st.trim() == "exited 2" || Instant::now() > deadline {
            assert_eq!(st.trim(), "exited 2", "on-failure:2 restarts exactly twice");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "rf"]);
    assert_eq!(st.trim(), "exited 2");
    let (_, logs, _) = b.d(&["logs", "rf"]);
    assert_eq!(logs, "run\nrun\nrun\n");
    // always: restarted again and again until stopped by hand; then it stays down.
    let (_, n, _) = b.d(&["inspect", "-f", "{{.RestartCount}}", "ra"]);
    assert!(n.trim().parse::<i64>().unwrap_or(0) >= 1, "{n}");
    assert_eq!(b.d(&["stop", "ra"]).0, 0);
    std::thread::sleep(Duration::from_millis(1500));
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}}", "ra"]);
    assert_eq!(st.trim(), "exited");
    // --rm and --restart conflict.
    let (code, _, err) = b.d(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("--restart and --rm"), "{err}");
}

#[test]
fn loopback_is_up_in_a_private_network_namespace() {
    need_root!();
    let b = Berthd::start();
    for net in ["none", "default"] {
        let (code, out, err) = b.d(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "sh",
            "-c",
            "cat /sys/class/net/lo/flags; httpd -p 127.0.0.1:8080 -h /etc; wget -qO- http://127.0.0.1:8080/group | head -1",
        ]);
        assert_eq!(code, 0, "{net}: {err}");
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(
            l.first().copied(),
            Some("0x9"),
            "{net}: lo is not up: {out}"
        );
        assert_eq!(l.get(1).copied(), Some("root:x:0:"), "{net}: {out}");
    }
}

#[test]
fn events_replay_prune_and_log_rotation() {
    need_root!();
    let b = Berthd::start();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (code, _, err) = b.d(&["run", "--name", "ev", "--label", "k=v", "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
    // --until a moment ahead: the replay ends there (until in the future waits for it).
    let t1 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    // Replay of what happened, filtered, ending at --until.
    let (code, out, err) = b.d(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &t1.to_string(),
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.k}}",
    ]);
    assert_eq!(code, 0, "{err}");
    let actions: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with(" ev v"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(actions, ["create", "start", "die"], "{out}");
    // Prune removes stopped containers only, and honours label filters.
    let (code, _, _) = b.d(&["run", "-d", "--name", "up", "busybox", "sleep", "300"]);
    assert_eq!(code, 0);
    let (code, _, _) = b.d(&[
        "create", "--name", "other", "--label", "k=w", "busybox", "true",
    ]);
    assert_eq!(code, 0);
    let (code, out, err) = b.d(&["container", "prune", "-f", "--filter", "label=k=v"]);
    assert_eq!(code, 0, "{err}");
    let ids: Vec<&str> = out.lines().filter(|l| l.len() == 64).collect();
    assert_eq!(ids.len(), 1, "{out}");
    let (_, names, _) = b.d(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["other", "up"]);
    // json-file rotation: max-size and max-file keep the newest lines within the limit.
    let (code, _, err) = b.d(&[
        "run",
        "--name",
        "rot",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, logs, _) = b.d(&["logs", "rot"]);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.last().copied(), Some("line-399"));
    assert!(
        lines.len() < 400,
        "nothing was rotated away: {} lines",
        lines.len()
    );
    let (_, path, _) = b.d(&["inspect", "-f", "{{.LogPath}}", "rot"]);
    let size = std::fs::metadata(path.trim())
        .map(|m| m.len())
        .unwrap_or(u64::MAX);
    assert!(size <= 2048, "log file is {size} bytes");
}

#[test]
fn attach_with_logs_replays_what_was_written() {
    need_root!();
    let b = Berthd::start();
    let (code, id, err) = b.d(&["run", "-d", "busybox", "sh", "-c", "echo early; sleep 300"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    std::thread::sleep(Duration::from_millis(500));
    // What docker-compose sends: logs=1 (here without stream, so the reply ends after them).
    let mut s = std::os::unix::net::UnixStream::connect(b.sock()).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST /v1.41/containers/{id}/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let body_at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&all[body_at..], b"\x01\x00\x00\x00\x00\x00\x00\x06early\n");
}

#[test]
fn diff_and_system_df() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&[
        "run",
        "--name",
        "d1",
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/new; rm /etc/group; echo y >> /etc/passwd",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = b.d(&["diff", "d1"]);
    assert_eq!(code, 0, "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "A /tmp/new",
            "C /etc",
            "C /etc/passwd",
            "C /tmp",
            "D /etc/group"
        ],
        "{out}"
    );
    let (code, out, err) = b.d(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Images 1 1"), "{out}");
    assert!(out.contains("Containers 1 0"), "{out}");
}

#[test]
fn commit_makes_an_image_that_runs_with_its_new_cmd() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo committed > /greeting; rm /etc/group",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, id, err) = b.d(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/greeting\"]",
        "-c",
        "ENV WHO=berth",
        "-m",
        "a message",
        "c1",
        "mine:v1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let (code, out, err) = b.d(&["run", "--rm", "mine:v1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "committed\n");
    let (_, out, _) = b.d(&[
        "run",
        "--rm",
        "mine:v1",
        "sh",
        "-c",
        "echo $WHO; ls /etc/group 2>&1 || true",
    ]);
    assert!(out.starts_with("berth\n"), "{out}");
    assert!(
        out.contains("No such file"),
        "the deletion is in the layer: {out}"
    );
    let (_, hist, _) = b.d(&["history", "--format", "{{.Comment}}", "mine:v1"]);
    assert_eq!(hist.lines().next(), Some("a message"));
    // A running container is committed while paused, and keeps running.
    let (code, _, _) = b.d(&[
        "run",
        "-d",
        "--name",
        "c2",
        "busybox",
        "sh",
        "-c",
        "echo live > /f; sleep 300",
    ]);
    assert_eq!(code, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.d(&["commit", "c2", "mine:v2"]).0, 0);
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}}", "c2"]);
    assert_eq!(st.trim(), "running");
    let (_, out, _) = b.d(&["run", "--rm", "mine:v2", "cat", "/f"]);
    assert_eq!(out, "live\n");
}

#[test]
fn export_of_running_and_stopped_containers() {
    need_root!();
    let b = Berthd::start();
    let list = |out: &[u8]| -> Vec<String> {
        let t = Command::new("tar")
            .arg("-t")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut t| {
                use std::io::Write;
                t.stdin.take().map(|mut i| i.write_all(out));
                t.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&t.stdout)
            .lines()
            .map(|l| l.trim_start_matches("./").to_string())
            .collect()
    };
    let (code, _, err) = b.d(&[
        "run",
        "--name",
        "x1",
        "busybox",
        "sh",
        "-c",
        "echo a > /made; rm /etc/group",
    ]);
    assert_eq!(code, 0, "{err}");
    let out = b.run(&["export", "x1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = list(&out.stdout);
    assert!(names.iter().any(|n| n == "made"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "a deleted file was exported"
    );
    assert!(
        !names.iter().any(|n| n.contains(".wh.")),
        "whiteouts leaked: {names:?}"
    );
    let (code, _, _) = b.d(&[
        "run",
        "-d",
        "--name",
        "x2",
        "busybox",
        "sh",
        "-c",
        "echo b > /live; sleep 300",
    ]);
    assert_eq!(code, 0);
    std::thread::sleep(Duration::from_millis(300));
    let out = b.run(&["export", "x2"]);
    assert!(out.status.success());
    assert!(list(&out.stdout).iter().any(|n| n == "live"));
    // No mount is left by the export of the stopped one.
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains("/export "), "export mount left behind");
}

#[test]
fn abandoned_stats_and_event_streams_leave_nothing_behind() {
    need_root!();
    let b = Berthd::start();
    let (code, id, err) = b.d(&["run", "-d", "busybox", "sleep", "300"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    let pid = b.child.as_ref().map(|c| c.id()).unwrap();
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // Warm up once so lazily opened files are counted in the baseline.
    let _ = b.run(&["stats", "--no-stream", &id]);
    std::thread::sleep(Duration::from_millis(300));
    let before = fds();
    let mut streams = Vec::new();
    use std::io::{Read, Write};
    for i in 0..100 {
        let mut s = std::os::unix::net::UnixStream::connect(b.sock()).unwrap();
        let path = if i % 2 == 0 {
            format!("/v1.41/containers/{id}/stats?stream=1")
        } else {
            "/v1.41/events".to_string()
        };
        write!(s, "GET {path} HTTP/1.1\r\nHost: berth\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        streams.push(s);
    }
    assert!(fds() >= before + 100, "the streams are open");
    drop(streams);
    // Each stream notices its client is gone (the stats ones within their one-second tick).
    let deadline = Instant::now() + Duration::from_secs(10);
    while fds() > before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        fds() <= before + 2,
        "fds: {} before, {} after",
        before,
        fds()
    );
}

#[test]
fn init_is_pid_1_reaps_and_forwards_signals() {
    need_root!();
    let b = Berthd::start();
    // berth-init is PID 1, the command its child; the exit code passes through.
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '; exit 5",
    ]);
    assert_eq!(code, 5, "{err}\n{}", b.log());
    assert_eq!(
        out.trim(),
        "/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr '\\0' ' '; exit 5"
    );
    // Orphans are reaped: no zombie stays behind a background child that exits.
    let (code, out, _) = b.d(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "sh -c 'sleep 0.1 &' ; sleep 0.5; ps -o stat,comm | grep -c '^Z' || true",
    ]);
    assert_eq!((code, out.trim()), (0, "0"));
    // docker stop's SIGTERM reaches a shell that as PID 1 would ignore it: quick exit, 143.
    b.d(&[
        "run", "-d", "--init", "--name", "ini", "busybox", "sleep", "100",
    ]);
    let t = std::time::Instant::now();
    let (code, _, err) = b.d(&["stop", "-t", "20", "ini"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "SIGTERM was not forwarded"
    );
    let (_, out, _) = b.d(&["inspect", "-f", "{{.State.ExitCode}} {{.Path}}", "ini"]);
    assert_eq!(out.trim(), "143 sleep");
    b.d(&["rm", "ini"]);
}

#[test]
fn a_stopped_daemon_exits_at_once_and_leaves_containers_running() {
    need_root!();
    let mut b = Berthd::start();
    let (code, _, err) = b.d(&["run", "-d", "--name", "stays", "busybox", "sleep", "300"]);
    assert_eq!(code, 0, "{err}");
    let mut child = b.child.take().unwrap();
    let t = Instant::now();
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let _ = child.wait();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "berthd took {:?} to stop",
        t.elapsed()
    );
    b.spawn();
    let (_, out, _) = b.d(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(out.trim(), "stays running");
}

/// `docker run -it` in a real terminal (tmux): ctrl-p ctrl-q detaches and the container keeps
/// running; `--detach-keys` takes another sequence; exec -it detaches the same way.
#[test]
fn detach_keys_leave_the_container_running() {
    need_root!();
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "CI installs tmux");
        eprintln!("skipped: tmux missing");
        return;
    }
    let b = Berthd::start();
    let session = format!("berth-test-{}-tmux", std::process::id());
    struct Tmux(String);
    impl Drop for Tmux {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .status();
        }
    }
    let sock = b.sock().display().to_string();
    let cfg = b.dir.join("docker-config").display().to_string();
    let start = |cmd: &str| {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &session])
            .stderr(Stdio::null())
            .status();
        let full = format!(
            "DOCKER_HOST=unix://{sock} DOCKER_CONFIG={cfg} {cmd}; echo EXITED=$?; sleep 60"
        );
        assert!(Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "120",
                "-y",
                "30",
                &full
            ])
            .status()
            .unwrap()
            .success());
    };
    let _guard = Tmux(session.clone());
    let pane = || {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let p = pane();
            if p.contains(what) {
                return p;
            }
            assert!(Instant::now() < deadline, "waiting for {what:?}:\n{p}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let keys = |k: &[&str]| {
        let mut a = vec!["send-keys", "-t", &session];
        a.extend_from_slice(k);
        Command::new("tmux").args(&a).status().unwrap();
    };
    start("docker run -it --name dk1 busybox sh");
    keys(&["echo attached-$((6*7))", "Enter"]);
    wait_for("attached-42");
    keys(&["C-p", "C-q"]);
    let p = wait_for("EXITED=");
    assert!(p.contains("EXITED=0"), "{p}");
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}}", "dk1"]);
    assert_eq!(st.trim(), "running");
    // Another sequence, through exec -it.
    start("docker exec -it --detach-keys ctrl-a,x dk1 sh");
    keys(&["echo in-exec-$((6*7))", "Enter"]);
    wait_for("in-exec-42");
    keys(&["C-a", "x"]);
    wait_for("EXITED=");
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}}", "dk1"]);
    assert_eq!(st.trim(), "running");
    b.d(&["rm", "-f", "dk1"]);
}

#[test]
fn event_filters_and_commit_comments() {
    need_root!();
    let b = Berthd::start();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let (code, _, err) = b.d(&[
        "run", "-d", "--name", "ev1", "--label", "team=a", "busybox", "sleep", "60",
    ]);
    assert_eq!(code, 0, "{err}");
    b.d(&["pause", "ev1"]);
    b.d(&["unpause", "ev1"]);
    b.d(&["rename", "ev1", "ev2"]);
    let (code, _, err) = b.d(&["commit", "-m", "a message", "ev2", "committed:1"]);
    assert_eq!(code, 0, "{err}");
    let (_, c, _) = b.d(&["image", "inspect", "-f", "{{.Comment}}", "committed:1"]);
    assert_eq!(c.trim(), "a message");
    // The CLI sends --until in whole seconds (as with dockerd): let this second pass.
    std::thread::sleep(Duration::from_millis(1100));
    let ev = |filters: &[&str]| {
        let mut a = vec![
            "events",
            "--since",
            &since,
            "--until",
            "0s",
            "--format",
            "{{.Action}}",
        ];
        for f in filters {
            a.extend(["--filter", f]);
        }
        b.d(&a).1
    };
    assert_eq!(ev(&["event=pause"]), "pause\n");
    assert_eq!(ev(&["event=rename"]), "rename\n");
    let labelled = ev(&["label=team=a", "event=start"]);
    assert_eq!(labelled, "start\n");
    assert_eq!(ev(&["label=team=b"]), "");
    b.d(&["rm", "-f", "ev2"]);
}

#[test]
fn image_and_volume_events() {
    need_root!();
    let b = Berthd::start();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    b.d(&["tag", "busybox", "evtag:1"]);
    b.d(&["rmi", "evtag:1"]);
    let (code, _, err) = b.d(&["run", "--rm", "-v", "evvol:/v", "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(1100));
    let (_, ev, _) = b.d(&[
        "events",
        "--since",
        &since,
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--filter",
        "type=volume",
        "--filter",
        "type=network",
        "--format",
        "{{.Type}} {{.Action}} {{index .Actor.Attributes \"name\"}}",
    ]);
    let lines: Vec<&str> = ev.lines().collect();
    assert!(lines.contains(&"image tag evtag:1"), "{ev}");
    assert!(lines.contains(&"image untag evtag:1"), "{ev}");
    assert!(lines.iter().any(|l| l.starts_with("volume create")), "{ev}");
    assert!(lines.iter().any(|l| l.starts_with("volume mount")), "{ev}");
    assert!(
        lines.iter().any(|l| l.starts_with("volume unmount")),
        "{ev}"
    );
    assert!(lines.contains(&"network connect bridge"), "{ev}");
    assert!(lines.contains(&"network disconnect bridge"), "{ev}");
}

#[test]
fn a_memory_hog_shows_in_stats() {
    need_root!();
    let b = Berthd::start();
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "hog",
        "--shm-size",
        "128m",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=48 2>/dev/null; sleep 60",
    ]);
    assert_eq!(code, 0, "{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = b.d(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "hog"]);
        // "49.2MiB / 7.6GiB"
        let used = out.split('/').next().unwrap_or("").trim().to_string();
        let mib = if let Some(v) = used.strip_suffix("MiB") {
            v.parse::<f64>().unwrap_or(0.0)
        } else if let Some(v) = used.strip_suffix("GiB") {
            v.parse::<f64>().unwrap_or(0.0) * 1024.0
        } else {
            0.0
        };
        if mib >= 48.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stats never showed the 48 MiB: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    b.d(&["rm", "-f", "hog"]);
}

/// berthd killed with -9 in the middle of create, start, stop and rm, again and again: once it is
/// back and every container is removed, none of them left a mount, a cgroup, a shim process or a
/// namespace handle, and a container that was running before the storm still runs.
#[test]
fn a_daemon_killed_mid_lifecycle_leaks_nothing() {
    need_root!();
    let mut b = Berthd::start();
    let (code, _, err) = b.d(&["run", "-d", "--name", "survivor", "busybox", "sleep", "300"]);
    assert_eq!(code, 0, "{err}");
    let ops: [&[&str]; 4] = [
        &["create", "busybox", "sleep", "300"],
        &["run", "-d", "busybox", "sleep", "300"],
        &["stop", "-t", "1", "victim"],
        &["rm", "-f", "victim"],
    ];
    for round in 0..8u64 {
        // Something to stop and remove in the later phases.
        let _ = b.d(&["rm", "-f", "victim"]);
        let (code, _, err) = b.d(&["run", "-d", "--name", "victim", "busybox", "sleep", "300"]);
        assert_eq!(code, 0, "{err}");
        let op = ops[(round % 4) as usize];
        let mut child = b
            .docker()
            .args(op)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(15 + 23 * round));
        b.crash();
        let _ = child.wait();
        b.spawn();
    }
    let (_, st, _) = b.d(&["inspect", "-f", "{{.State.Status}}", "survivor"]);
    assert_eq!(
        st.trim(),
        "running",
        "the survivor kept running through the crashes"
    );
    let (_, ids, _) = b.d(&["ps", "-aq"]);
    for id in ids.split_whitespace() {
        let (code, _, err) = b.d(&["rm", "-f", id]);
        assert_eq!(code, 0, "{err}");
    }
    let root = b.dir.display().to_string();
    let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root))
        .map(String::from)
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    // A shim lingers a moment after its container is removed (in-flight requests).
    let deadline = Instant::now() + Duration::from_secs(5);
    let left = loop {
        let shims = Command::new("pgrep")
            .args(["-f", &format!("{root}/run/shims/")])
            .output()
            .unwrap();
        let left = String::from_utf8_lossy(&shims.stdout).into_owned();
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let detail = left
        .split_whitespace()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(left, "", "shims left:\n{detail}\n{}", b.log());
    let cgroups = Command::new("find")
        .args([
            "/sys/fs/cgroup",
            "-mindepth",
            "2",
            "-maxdepth",
            "6",
            "-type",
            "d",
            "-path",
            &format!("*/{}/*", b.tag),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cgroups.stdout),
        "",
        "container cgroups left"
    );
    let handles: Vec<_> = std::fs::read_dir(b.dir.join("run/netns"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(handles.is_empty(), "namespace handles left: {handles:?}");
}
