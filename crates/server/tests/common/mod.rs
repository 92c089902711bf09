//! Harness of the black-box tests: a real berthd on a temp root and socket per test, driven
//! with the stock `docker` CLI, with the busybox base imported; everything it made is removed on
//! drop, also when the test fails.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[macro_export]
macro_rules! need_root {
    () => {
        if !$crate::common::is_root() {
            eprintln!("skipped: this test needs root (CI runs as root)");
            return;
        }
    };
}

pub fn fixture_rootfs() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixture-busybox.sh");
    let out = Command::new("bash").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub struct Berthd {
    pub dir: PathBuf,
    pub tag: String,
    pub child: Option<Child>,
}

impl Berthd {
    pub fn start() -> Berthd {
        Self::start_with(&[])
    }

    /// A berthd with more flags (`--add-runtime`, `--config-file` …); restart it with
    /// [`Berthd::spawn_with`] and the same flags.
    pub fn start_with(extra: &[&str]) -> Berthd {
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
        d.spawn_with(extra);
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

    pub fn sock(&self) -> PathBuf {
        self.dir.join("berthd.sock")
    }

    /// This berthd's own default bridge (so berthds side by side never share one) and with it
    /// its own nftables table `inet berth-<bridge>`.
    pub fn bridge(&self) -> String {
        let n = self
            .tag
            .rsplit('d')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        format!("bthd{:x}x{n}", std::process::id())
    }

    /// This test process's block of addresses: 10.X.B.0/19 (X, B from the pid).
    fn block() -> (u32, u32) {
        let pid = std::process::id();
        (100 + pid % 100, (pid / 100 % 8) * 32)
    }

    /// A /24 for the default bridge, distinct per test process and berthd.
    pub fn bip(&self) -> String {
        let (x, b) = Self::block();
        let n = self
            .tag
            .rsplit('d')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        format!("10.{x}.{}.1/24", b + n % 16)
    }

    /// Where this berthd's user networks take their subnets: 16 /24s of the process's block,
    /// so test daemons running side by side never pick the same subnet.
    pub fn pools(&self) -> String {
        let (x, b) = Self::block();
        format!("base=10.{x}.{}.0/20,size=24", b + 16)
    }

    pub fn spawn(&mut self) {
        self.spawn_with(&[])
    }

    pub fn spawn_with(&mut self, extra: &[&str]) {
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
            .arg("--bridge")
            .arg(self.bridge())
            .arg("--bip")
            .arg(self.bip())
            .arg("--default-address-pool")
            .arg(self.pools())
            // Name lookups the daemon does not answer go to a loopback address where nothing
            // listens: tests never send DNS traffic out of the host.
            .arg("--dns")
            .arg("127.0.0.9")
            .arg("--shim")
            .arg(shim)
            .args(extra)
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default()
    }

    /// SIGKILL berthd (the containers' shims live on).
    pub fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .env_remove("DOCKER_CONTEXT");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.docker()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// (exit code, stdout, stderr)
    pub fn d(&self, args: &[&str]) -> (i32, String, String) {
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
            let _ = self.run(&["rm", "-f", "-v", id]);
        }
        let (_, nets, _) = self.d(&["network", "ls", "-q", "--filter", "type=custom"]);
        for id in nets.split_whitespace() {
            let _ = self.run(&["network", "rm", id]);
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
        // The default bridge and this instance's nftables table.
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args([
                "delete",
                "table",
                "inet",
                &format!("berth-{}", self.bridge()),
            ])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
