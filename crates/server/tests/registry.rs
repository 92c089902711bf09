//! Black-box: `docker push`, `pull`, `login` and `run` of a missing image against berthd, with a
//! real registry (Debian's docker-registry) on a free 127.0.0.1 port of the test's own.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Berthd;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

struct Registry {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Registry {
    fn start(tag: &str, htpasswd: Option<(&str, &str)>) -> Registry {
        let dir = PathBuf::from(format!("/tmp/berth-test-reg-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut auth = String::new();
        if let Some((u, p)) = htpasswd {
            let h = bcrypt::hash_with_result(p, 4)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoY);
            std::fs::write(dir.join("htpasswd"), format!("{u}:{h}\n")).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.join("htpasswd").display()
            );
        }
        std::fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
        Registry { dir, port, child }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn have_registry() -> bool {
    let ok = Path::new(REGISTRY_BIN).exists();
    if !ok {
        assert!(std::env::var("CI").is_err(), "CI installs docker-registry");
        eprintln!("skipped: {REGISTRY_BIN} missing (apt-get install -y docker-registry)");
    }
    ok
}

#[test]
fn push_pull_run_with_dockers_progress_and_errors() {
    need_root!();
    if !have_registry() {
        return;
    }
    let reg = Registry::start("plain", None);
    let b = Berthd::start();
    let name = format!("127.0.0.1:{}/tests/bb:v1", reg.port);
    let (code, _, err) = b.d(&["tag", "busybox", &name]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = b.d(&["push", &name]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    assert!(
        out.contains(&format!(
            "The push refers to repository [127.0.0.1:{}/tests/bb]",
            reg.port
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("v1: digest: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    // Pushed again: the layer is there already.
    let (_, out, _) = b.d(&["push", &name]);
    assert!(out.contains("Layer already exists"), "{out}");
    // Gone locally, then `run` pulls it (the CLI's own pull on a 404), by tag and by digest.
    let (code, out, err) = b.d(&["rmi", &name, "busybox"]);
    assert_eq!(code, 0, "{err}");
    // The repository's digest reference goes with its last tag, and then the image.
    assert!(out.contains("Untagged: 127.0.0.1:"), "{out}");
    assert!(out.contains("/tests/bb@sha256:"), "{out}");
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(b.d(&["images", "-aq"]).1, "", "{out}");
    let (code, out, err) = b.d(&["run", "--rm", &name, "echo", "pulled and ran"]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    assert!(out.contains("pulled and ran"), "{out}");
    assert!(
        err.contains(&format!("Unable to find image '{name}' locally")),
        "{err}"
    );
    let by_digest = format!("127.0.0.1:{}/tests/bb@{digest}", reg.port);
    let (code, out, err) = b.d(&["pull", &by_digest]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let (_, out, _) = b.d(&["pull", &name]);
    assert!(out.contains("Status: Image is up to date for"), "{out}");
    // Docker's error texts.
    let (code, _, err) = b.d(&["pull", &format!("127.0.0.1:{}/tests/nope:x", reg.port)]);
    assert_ne!(code, 0);
    assert!(err.contains("manifest unknown"), "{err}");
}

#[test]
fn login_with_basic_auth_then_push() {
    need_root!();
    if !have_registry() {
        return;
    }
    let reg = Registry::start("auth", Some(("bob", "s3cret")));
    let b = Berthd::start();
    let host = format!("127.0.0.1:{}", reg.port);
    let name = format!("{host}/private/bb:1");
    b.d(&["tag", "busybox", &name]);
    let (code, _, err) = b.d(&["push", &name]);
    assert_ne!(code, 0, "push without login");
    assert!(
        err.to_lowercase().contains("unauthorized") || err.contains("no basic auth credentials"),
        "{err}"
    );
    let (code, _, err) = b.d(&["login", "-u", "bob", "-p", "wrong", &host]);
    assert_ne!(code, 0);
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    let (code, out, err) = b.d(&["login", "-u", "bob", "-p", "s3cret", &host]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Login Succeeded"), "{out}");
    let (code, out, err) = b.d(&["push", &name]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("digest: sha256:"), "{out}");
}

#[test]
fn build_pulls_a_missing_base_image_with_progress() {
    need_root!();
    if !have_registry() {
        return;
    }
    let reg = Registry::start("build", None);
    let b = Berthd::start();
    let name = format!("127.0.0.1:{}/tests/base:1", reg.port);
    assert_eq!(b.d(&["tag", "busybox", &name]).0, 0);
    let (code, _, err) = b.d(&["push", &name]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(b.d(&["rmi", &name]).0, 0);
    let ctx = b.dir.join("build-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {name}\nRUN echo on-pulled-base\n"),
    )
    .unwrap();
    let build = |extra: &[&str]| {
        let o = b
            .docker()
            .env("DOCKER_BUILDKIT", "0")
            .arg("build")
            .args(extra)
            .arg(&ctx)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = build(&[]);
    assert_eq!(code, 0, "{out}{err}\n{}", b.log());
    assert!(out.contains("Pulling from tests/base"), "{out}");
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    assert!(out.contains("on-pulled-base"), "{out}");
    // Present now: no pull; with --pull the registry is asked again.
    let (_, out, _) = build(&[]);
    assert!(!out.contains("Pulling from"), "{out}");
    let (code, out, err) = build(&["--pull"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Image is up to date"), "{out}");
}
