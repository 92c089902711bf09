//! berthd's configuration: dockerd's flags and daemon.json keys; mistakes stop it with a message
//! naming what is wrong, before it touches anything.
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn berthd() -> Command {
    let b = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
    let mut c = Command::new(&b);
    c.arg("--shim").arg(b.with_file_name("berth-shim"));
    c
}

fn tmp(tag: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/berth-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

#[test]
fn an_unknown_daemon_json_key_is_named() {
    let d = tmp("cfg1");
    std::fs::write(
        d.join("daemon.json"),
        r#"{"data-root": "/tmp/x", "bogus-key": 1}"#,
    )
    .unwrap_or_default();
    let out = berthd()
        .arg("--config-file")
        .arg(d.join("daemon.json"))
        .arg("--data-root")
        .arg(d.join("data"))
        .arg("--exec-root")
        .arg(d.join("run"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bogus-key"), "{err}");
    assert!(
        !d.join("data").exists(),
        "it created the data root before failing"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn tcp_without_tls_is_refused() {
    let d = tmp("cfg2");
    let out = berthd()
        .args(["-H", "tcp://127.0.0.1:23750"])
        .arg("--data-root")
        .arg(d.join("data"))
        .arg("--exec-root")
        .arg(d.join("run"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_socket_is_0660_and_a_second_daemon_on_it_is_refused() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root {
        eprintln!("skipped: needs root");
        return;
    }
    let d = tmp("cfg3");
    let sock = d.join("b.sock");
    let mut first = berthd()
        .arg("--data-root")
        .arg(d.join("data"))
        .arg("--exec-root")
        .arg(d.join("run"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mode = std::fs::metadata(&sock)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    let second = berthd()
        .arg("--data-root")
        .arg(d.join("data2"))
        .arg("--exec-root")
        .arg(d.join("run2"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = Command::new("kill").arg(first.id().to_string()).status();
    let _ = first.wait();
    assert_eq!(mode, 0o660);
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another daemon"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(!sock.exists(), "the socket outlived a clean stop");
    let _ = std::fs::remove_dir_all(&d);
}
