//! Harness for root integration tests of berth-runc: a bundle on a busybox rootfs in its own
//! `/tmp/berth-test-…` directory, a private state root, cgroups below the test's own cgroup
//! (relative cgroupsPath), and cleanup on drop even when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Skip (return None) with a message when not root.
#[macro_export]
macro_rules! need_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: this test needs root (CI runs as root)");
            return;
        }
    };
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| panic!("repo: {e}"))
}

/// The cached busybox rootfs made by scripts/fixture-busybox.sh.
pub fn fixture_rootfs() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("scripts/fixture-busybox.sh"))
        .output()
        .unwrap_or_else(|e| panic!("fixture script: {e}"));
    assert!(
        out.status.success(),
        "fixture script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub fn runc_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth-runc"))
}

pub struct Bundle {
    pub dir: PathBuf,
    pub state: PathBuf,
    pub tag: String,
    pub spec: Value,
}

impl Bundle {
    pub fn new() -> Bundle {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("berth-test-{}-{n}", std::process::id());
        let dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let st = Command::new("cp")
            .arg("-a")
            .arg(fixture_rootfs())
            .arg(dir.join("rootfs"))
            .status()
            .unwrap_or_else(|e| panic!("cp: {e}"));
        assert!(st.success());
        let out = Command::new(runc_bin())
            .arg("spec")
            .arg("-b")
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("spec: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut spec: Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap_or_default())
                .unwrap_or_else(|e| panic!("config: {e}"));
        spec["process"]["terminal"] = json!(false);
        spec["root"]["readonly"] = json!(false);
        Bundle {
            state: dir.join("state"),
            dir,
            tag,
            spec,
        }
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.spec["process"]["args"] = json!(args);
        self
    }

    /// Write config.json for container `id` (its cgroup below ours, named after the test).
    pub fn write(&mut self, id: &str) {
        self.spec["linux"]["cgroupsPath"] = json!(format!("{}/{id}", self.tag));
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.spec).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("write config: {e}"));
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(runc_bin());
        c.arg("--root").arg(&self.state);
        c
    }

    /// Run berth-runc with `args`. Its stdout and stderr go to files, not pipes: a container
    /// started by `create` or `run -d` inherits them and would hold a pipe open for its whole
    /// life (as with runc, whose callers hand it files or fifos).
    pub fn runc(&self, args: &[&str]) -> Output {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let (o, e) = (
            self.dir.join(format!(".out-{n}")),
            self.dir.join(format!(".err-{n}")),
        );
        let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("{e}"));
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(file(&o))
            .stderr(file(&e))
            .status()
            .unwrap_or_else(|e| panic!("berth-runc: {e}"));
        let out = Output {
            status,
            stdout: std::fs::read(&o).unwrap_or_default(),
            stderr: std::fs::read(&e).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(&o);
        let _ = std::fs::remove_file(&e);
        out
    }

    /// `run` container `id` in the foreground: (exit code, stdout, stderr).
    pub fn run(&mut self, id: &str) -> (i32, String, String) {
        self.write(id);
        let dir = self.dir.display().to_string();
        let out = self.runc(&["run", "-b", &dir, id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn state_of(&self, id: &str) -> Value {
        let out = self.runc(&["state", id]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Container cgroups (below this bundle's tag directory) still on the host.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        self.tag_dirs()
            .iter()
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path())
            .collect()
    }

    /// The tag directories (the containers' parent, which the runtime leaves, like runc).
    fn tag_dirs(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        let _ = walk(Path::new("/sys/fs/cgroup"), &self.tag, 0, &mut v);
        v
    }
}

fn walk(d: &Path, tag: &str, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if depth > 6 {
        return Ok(());
    }
    for e in std::fs::read_dir(d)?.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            if e.file_name().to_string_lossy() == tag {
                out.push(e.path());
            } else {
                let _ = walk(&e.path(), tag, depth + 1, out);
            }
        }
    }
    Ok(())
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let out = self.runc(&["list", "-q"]);
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = self.runc(&["delete", "-f", id]);
        }
        for d in self.leftover_cgroups() {
            let _ = std::fs::remove_dir(d);
        }
        for d in self.tag_dirs() {
            let _ = std::fs::remove_dir(d);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
