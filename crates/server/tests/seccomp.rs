//! Black-box: containers run under Berth's seccomp profile (crates/daemon/src/containers/spec/
//! seccomp.rs), with the stock `docker` CLI against a real berthd on a temp root and socket.
//! The harness is the one of docker_cli.rs.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

struct Berthd {
    dir: PathBuf,
    tag: String,
    child: Option<Child>,
}

impl Berthd {
    fn start() -> Berthd {
        assert!(
            Command::new("docker").arg("--version").output().is_ok(),
            "the docker CLI is missing (Debian: apt-get install docker.io)"
        );
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("berth-test-{}-d{n}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = Berthd {
            dir,
            tag,
            child: None,
        };
        d.spawn();
        // The base image, from Debian's busybox-static.
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(fixture_rootfs())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = d
            .docker()
            .args(["import", "-", "busybox:latest"])
            .stdin(tar.stdout.take().unwrap())
            .output()
            .unwrap();
        let _ = tar.wait();
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("berthd.sock")
    }

    fn spawn(&mut self) {
        let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
        let shim = berthd.with_file_name("berth-shim");
        assert!(
            shim.exists(),
            "{} missing: cargo build --workspace --bins first",
            shim.display()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("berthd.log"))
            .unwrap();
        let child = Command::new(berthd)
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("run"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .arg("--cgroup-parent")
            .arg(&self.tag)
            .arg("--shim")
            .arg(shim)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(self.sock()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not come up: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .env_remove("DOCKER_CONTEXT");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.docker()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// (exit code, stdout, stderr)
    fn d(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.run(args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if self.child.is_none() && std::os::unix::net::UnixStream::connect(self.sock()).is_err() {
            self.spawn();
        }
        let (_, ids, _) = self.d(&["ps", "-aq"]);
        for id in ids.split_whitespace() {
            let _ = self.run(&["rm", "-f", id]);
        }
        if let Some(mut c) = self.child.take() {
            // SAFETY-free: a polite stop by pid.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
        // Anything still mounted below the root (a test that failed half-way).
        if let Ok(m) = std::fs::read_to_string("/proc/self/mountinfo") {
            let root = self.dir.display().to_string();
            let mut points: Vec<&str> = m
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|p| p.starts_with(&root))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = Command::new("umount").args(["-l", p]).status();
            }
        }
        if let Ok(out) = Command::new("find")
            .args(["/sys/fs/cgroup", "-depth", "-type", "d", "-name", &self.tag])
            .output()
        {
            for d in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("find")
                    .args([d, "-depth", "-type", "d", "-delete"])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn seccomp_mode(b: &Berthd, extra: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "grep", "^Seccomp:", "/proc/self/status"]);
    let (code, out, err) = b.d(&args);
    assert_eq!(code, 0, "{extra:?}: {err}\n{}", b.log());
    out.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn containers_run_under_the_default_profile() {
    need_root!();
    let b = Berthd::start();
    // Mode 2: a filter is loaded.
    assert_eq!(seccomp_mode(&b, &[]), "2");

    // A user namespace needs no capability, so only the filter refuses it.
    let (code, _, err) = b.d(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /mnt && mount -t tmpfs t /mnt",
    ]);
    assert_ne!(code, 0, "mount worked without CAP_SYS_ADMIN");
    assert!(
        err.contains("denied") || err.contains("not permitted"),
        "{err}"
    );

    // Ordinary work is unaffected: fork (clone without namespace flags), exec, files, /proc,
    // time, sockets (wget gets its socket and fails to connect, whatever the network says).
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls / >/dev/null && cat /etc/passwd >/dev/null && date >/dev/null && ps >/dev/null \
         && (echo x | sed s/x/y/) && sleep 0.01 && echo ok; \
         wget -O- http://127.0.0.1:9/ 2>&1; true",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("y\nok\n"), "{out}");
    assert!(out.contains("can't connect to remote host"), "{out}");
    assert!(!out.contains("not permitted"), "{out}");

    // exec'd processes get the container's filter too.
    let (code, _, err) = b.d(&["run", "-d", "--name", "sc", "busybox", "sleep", "60"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = b.d(&["exec", "sc", "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.split_whitespace().nth(1), Some("2"), "{out}");
    let (code, _, err) = b.d(&["exec", "sc", "unshare", "-U", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    let _ = b.run(&["rm", "-f", "sc"]);

    // The runtime compiled the profile once and keeps it in a root-only cache below its state
    // root; every container above had the same capabilities, hence one entry.
    use std::os::unix::fs::PermissionsExt;
    let cache = b.dir.join("run/runtime/.seccomp-cache");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(mode(&entries[0]), 0o600);
}

#[test]
fn capabilities_options_and_privilege_change_the_profile() {
    need_root!();
    let b = Berthd::start();
    // CAP_SYS_ADMIN brings mount (and namespaces) back.
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /mnt && mount -t tmpfs t /mnt && grep -c ' /mnt tmpfs' /proc/mounts \
         && unshare -U true && echo unshared",
    ]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    assert_eq!(out, "1\nunshared\n");
    assert_eq!(seccomp_mode(&b, &["--cap-add", "SYS_ADMIN"]), "2");

    // Unconfined and privileged: no filter.
    assert_eq!(
        seccomp_mode(&b, &["--security-opt", "seccomp=unconfined"]),
        "0"
    );
    // --privileged asks for every capability, which capset refuses where the host's own
    // bounding set lacks some (unit tests cover that privileged renders no profile).
    let full = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l == "CapBnd:\t000001ffffffffff");
    if full {
        assert_eq!(seccomp_mode(&b, &["--privileged"]), "0");
    } else {
        eprintln!("--privileged not checked: this host's capability bounding set is not full");
    }
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    assert_eq!(code, 0, "{err}");

    // A profile file (the docker CLI sends its text), in Docker's format: allow everything
    // but mkdir.
    let profile = b.dir.join("berth-profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 1, "comment": "", "includes": {}, "excludes": {}}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "echo before; mkdir /berth-x",
    ]);
    assert_ne!(code, 0);
    assert_eq!(out, "before\n");
    assert!(err.contains("Operation not permitted"), "{err}");
    // A broken profile is refused at create, naming the problem.
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#).unwrap();
    let (code, _, err) = b.d(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("seccomp profile"), "{err}");
}
