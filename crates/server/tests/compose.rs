//! Black-box: docker-compose (v1, from PyPI, in a venv made by scripts/compose-venv.sh) against
//! berthd: a project with a user network, a named volume, a health check gating `depends_on`, a
//! published port and logs, then `down -v` leaving nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Berthd;

fn compose_bin() -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/compose-venv.sh");
    let out = Command::new("bash").arg(script).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn a_compose_project_runs_and_goes_away() {
    need_root!();
    let Some(compose) = compose_bin() else {
        // CI installs it (PyPI is reachable there); elsewhere it may be missing.
        assert!(
            std::env::var("CI").is_err(),
            "docker-compose could not be installed"
        );
        eprintln!("skipped: docker-compose not available");
        return;
    };
    let b = Berthd::start();
    let dir = b.dir.join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        r#"version: "2.4"
services:
  web:
    image: busybox
    command: sh -c 'echo hello-from-web > /www/index.html; httpd -f -p 80 -h /www'
    volumes:
      - data:/www
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1/"]
      interval: 1s
      retries: 3
    ports:
      - "127.0.0.1::80"
  client:
    image: busybox
    command: sh -c 'wget -q -O- http://web/ && sleep 300'
    depends_on:
      web:
        condition: service_healthy
volumes:
  data: {}
"#,
    )
    .unwrap();
    let dc = |args: &[&str]| {
        let o = Command::new(&compose)
            .args(["-p", "bthct"])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", b.sock().display()))
            .env("DOCKER_CONFIG", b.dir.join("docker-config"))
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (ok, out) = dc(&["up", "-d"]);
    assert!(ok, "{out}\n{}", b.log());
    let (_, ps) = dc(&["ps"]);
    assert!(ps.contains("Up (healthy)"), "{ps}");
    // The client found web by name on the project network, after web was healthy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, logs) = dc(&["logs", "client"]);
        if logs.contains("hello-from-web") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{logs}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (_, port) = dc(&["port", "web", "80"]);
    let port = port.trim().rsplit(':').next().unwrap().to_string();
    let body = Command::new("busybox")
        .args(["wget", "-q", "-O-", &format!("http://127.0.0.1:{port}/")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&body.stdout), "hello-from-web\n");
    let (ok, out) = dc(&["down", "-v", "-t", "1"]);
    assert!(ok, "{out}");
    let (_, left, _) = b.d(&["ps", "-aq"]);
    assert_eq!(left, "");
    let (_, vols, _) = b.d(&["volume", "ls", "-q"]);
    assert_eq!(vols, "");
    let (_, nets, _) = b.d(&["network", "ls", "-q", "--filter", "type=custom"]);
    assert_eq!(nets, "");
}
