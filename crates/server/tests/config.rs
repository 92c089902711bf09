//! berthd's configuration: dockerd's flags and daemon.json keys; mistakes stop it with a message
//! naming what is wrong, before it touches anything.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// This test process's own bridge (and nft table `inet berth-<bridge>`), never berth0.
fn bridge() -> String {
    format!("bthc{:x}", std::process::id())
}

fn berthd() -> Command {
    let b = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
    let mut c = Command::new(&b);
    let pid = std::process::id();
    c.arg("--shim")
        .arg(b.with_file_name("berth-shim"))
        .arg("--bridge")
        .arg(bridge())
        .arg("--bip")
        .arg(format!("10.{}.{}.1/24", 100 + pid % 100, 250 + pid % 4));
    c
}

/// Removes the bridge and table a berthd of this test made.
struct NetGuard;
impl Drop for NetGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &bridge()])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &format!("berth-{}", bridge())])
            .stderr(Stdio::null())
            .status();
    }
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
    let _net = NetGuard;
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
    // Up means answering, not only a socket file (it is bound before the daemon opens).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&sock) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /_ping HTTP/1.0\r\n\r\n");
            let mut b = String::new();
            let _ = s.read_to_string(&mut b);
            if b.contains("200 OK") {
                break;
            }
        }
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

/// `-H tcp://` with `--tlsverify`: the stock docker CLI with a client certificate runs a
/// container (attach upgraded over TLS); without one the handshake is refused.
#[test]
fn tcp_with_client_certificates_serves_the_api() {
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
    let _net = NetGuard;
    let d = tmp("tls");
    let ssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=berth-test-ca",
    ]);
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        ssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{who}-key.pem"),
            "-out",
            &format!("{who}.csr"),
            "-subj",
            &format!("/CN={who}"),
        ]);
        ssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{who}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &format!("{who}.pem"),
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sock = d.join("b.sock");
    let mut daemon = berthd()
        .arg("--data-root")
        .arg(d.join("data"))
        .arg("--exec-root")
        .arg(d.join("run"))
        .arg("--cgroup-parent")
        .arg(format!("berth-test-{}-tls", std::process::id()))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--default-ulimit")
        .arg("nofile=1000:2000")
        .arg("--tlsverify")
        .arg("--tlscacert")
        .arg(d.join("ca.pem"))
        .arg("--tlscert")
        .arg(d.join("server.pem"))
        .arg("--tlskey")
        .arg(d.join("server-key.pem"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let docker = |tls: bool, args: &[&str]| {
        let mut c = Command::new("docker");
        c.env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", d.join("cfg"))
            .arg("-H")
            .arg(format!("tcp://127.0.0.1:{port}"));
        if tls {
            c.arg("--tlsverify")
                .arg("--tlscacert")
                .arg(d.join("ca.pem"))
                .arg("--tlscert")
                .arg(d.join("client.pem"))
                .arg("--tlskey")
                .arg(d.join("client-key.pem"));
        } else {
            c.arg("--tls").arg("--tlscacert").arg(d.join("ca.pem"));
        }
        c.args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !docker(true, &["version"]).status.success() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let rootfs = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/fixture-busybox.sh"
        ))
        .output()
        .unwrap();
    let rootfs = String::from_utf8_lossy(&rootfs.stdout).trim().to_string();
    let mut tar = Command::new("tar")
        .args(["-C", &rootfs, "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let imported = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CONFIG", d.join("cfg"))
        .args(["import", "-", "busybox:latest"])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .unwrap();
    let _ = tar.wait();
    let out = docker(true, &["run", "--rm", "busybox", "echo", "over tls"]);
    // --default-ulimit applies unless the container sets its own.
    let ulim = docker(
        true,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ],
    );
    let own = docker(
        true,
        &[
            "run",
            "--rm",
            "--ulimit",
            "nofile=50:60",
            "busybox",
            "sh",
            "-c",
            "ulimit -n",
        ],
    );
    let no_cert = docker(false, &["version"]);
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    let _ = Command::new("find")
        .args([
            "/sys/fs/cgroup",
            "-maxdepth",
            "4",
            "-type",
            "d",
            "-name",
            &format!("berth-test-{}-tls", std::process::id()),
            "-exec",
            "rmdir",
            "{}",
            ";",
        ])
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&d);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "over tls\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !no_cert.status.success(),
        "a client without a certificate got in"
    );
    assert_eq!(
        String::from_utf8_lossy(&ulim.stdout),
        "1000\n2000\n",
        "{}",
        String::from_utf8_lossy(&ulim.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&own.stdout), "50\n");
}
