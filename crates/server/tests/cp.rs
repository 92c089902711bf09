//! Black-box: `docker cp` in and out of running and stopped containers with the stock `docker`
//! CLI against berthd, and hostile archives and container symlinks through the raw API.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Berthd;

/// Runs `docker args`, asserting success; returns stdout.
fn ok(b: &Berthd, args: &[&str]) -> String {
    let (code, out, err) = b.d(args);
    assert_eq!(code, 0, "docker {args:?}: {err}\n{}", b.log());
    out
}

/// Runs `docker args`, asserting failure; returns stderr.
fn fails(b: &Berthd, args: &[&str]) -> String {
    let (code, out, err) = b.d(args);
    assert_ne!(code, 0, "docker {args:?} should fail: {out}");
    err
}

/// A running container `name` with a known tree below /d.
fn running(b: &Berthd, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "1000"]);
    ok(b, &args);
    ok(
        b,
        &[
            "exec",
            name,
            "sh",
            "-c",
            "mkdir -p /d/sub && echo hi > /d/f && chmod 640 /d/f && echo b > /d/sub/b \
             && ln -s f /d/l && ln -s / /rootlink && mkdir /x && ln -s ../../.. /x/up",
        ],
    );
}

/// A scratch directory for the host side, removed with the daemon's root.
fn scratch(b: &Berthd, name: &str) -> PathBuf {
    let p = b.dir.join("host").join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The entries (name, link target) of a tar stream (short names only: enough here).
fn entries(tar: &[u8]) -> Vec<(String, String)> {
    let field = |b: &[u8]| {
        let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..n]).into_owned()
    };
    let mut out = Vec::new();
    let mut off = 0;
    while off + 512 <= tar.len() && tar[off] != 0 {
        let h = &tar[off..off + 512];
        let size = u64::from_str_radix(field(&h[124..136]).trim(), 8).unwrap_or(0) as usize;
        if !matches!(h[156], b'x' | b'g' | b'L' | b'K') {
            out.push((field(&h[..100]), field(&h[157..257])));
        }
        off += 512 + size.div_ceil(512) * 512;
    }
    out
}

/// What `docker cp` out of container `c` must give, running or stopped.
fn check_copy_out(b: &Berthd, c: &str, host: &Path) {
    // A file: content and mode.
    ok(b, &["cp", &format!("{c}:/d/f"), s(&host.join("f"))]);
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "hi\n");
    assert_eq!(mode(&host.join("f")), 0o640);
    // A directory, with its symlinks as symlinks.
    ok(b, &["cp", &format!("{c}:/d"), s(&host.join("dir"))]);
    assert_eq!(
        std::fs::read_to_string(host.join("dir/sub/b")).unwrap(),
        "b\n"
    );
    assert_eq!(
        std::fs::read_link(host.join("dir/l")).unwrap(),
        Path::new("f")
    );
    // dir/. copies the contents into an existing directory.
    std::fs::create_dir_all(host.join("into")).unwrap();
    ok(b, &["cp", &format!("{c}:/d/."), s(&host.join("into"))]);
    assert_eq!(
        std::fs::read_to_string(host.join("into/f")).unwrap(),
        "hi\n"
    );
    assert!(host.join("into/sub/b").exists());
    assert!(!host.join("into/d").exists());
    // To stdout: a tar whose top entry is the base name.
    let out = b
        .docker()
        .args(["cp", &format!("{c}:/d/f"), "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(entries(&out.stdout), [("f".to_string(), String::new())]);
    // A symlink to / is archived as a symlink, not followed (to the container's root or the
    // host's).
    let out = b
        .docker()
        .args(["cp", &format!("{c}:/rootlink"), "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        entries(&out.stdout),
        [("rootlink".to_string(), "/".to_string())]
    );
    // Through symlinks that point at / and ../../..: the container's files, not the host's.
    ok(
        b,
        &["cp", &format!("{c}:/x/up/etc/passwd"), s(&host.join("pw"))],
    );
    let pw = std::fs::read_to_string(host.join("pw")).unwrap();
    assert_eq!(pw, ok(b, &["run", "--rm", "busybox", "cat", "/etc/passwd"]));
    // A symlink as a symlink, or followed with -L (the CLI stats it first).
    ok(b, &["cp", &format!("{c}:/d/l"), s(&host.join("l"))]);
    assert_eq!(std::fs::read_link(host.join("l")).unwrap(), Path::new("f"));
    ok(b, &["cp", "-L", &format!("{c}:/d/l"), s(&host.join("lf"))]);
    assert_eq!(std::fs::read_to_string(host.join("lf")).unwrap(), "hi\n");
    // A missing path: Docker's error.
    let err = fails(b, &["cp", &format!("{c}:/nope"), s(&host.join("x"))]);
    assert!(
        err.contains("Could not find the file /nope in container"),
        "{err}"
    );
}

#[test]
fn cp_out_of_running_and_stopped_containers() {
    need_root!();
    let b = Berthd::start();
    running(&b, "src", &[]);
    check_copy_out(&b, "src", &scratch(&b, "running"));
    ok(&b, &["stop", "-t", "0", "src"]);
    check_copy_out(&b, "src", &scratch(&b, "stopped"));
    // GET emits archive-path events.
    assert!(events(&b, "archive-path") >= 2);
}

/// How many container events `action` the daemon has recorded so far.
fn events(b: &Berthd, action: &str) -> usize {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    ok(
        b,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &until.to_string(),
            "--filter",
            &format!("event={action}"),
            "--format",
            "{{.Action}}",
        ],
    )
    .lines()
    .filter(|l| *l == action)
    .count()
}

/// What `docker cp` into container `c` must do, running or stopped; checked with `check`.
fn copy_in(b: &Berthd, c: &str, host: &Path, tag: &str) {
    let f = host.join(format!("in-{tag}"));
    std::fs::write(&f, "data\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o751)).unwrap();
    ok(b, &["cp", s(&f), &format!("{c}:/d/")]);
    let dir = host.join(format!("tree-{tag}"));
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    std::fs::write(dir.join("a/b/c"), "deep\n").unwrap();
    ok(b, &["cp", s(&dir), &format!("{c}:/d/newdir-{tag}")]);
    // From stdin: a tar extracted into an existing directory.
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["-c", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut child = b
        .docker()
        .args(["cp", "-", &format!("{c}:/d/sub")])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Into a path that is not a directory (the CLI extracts into the parent when the stat
    // fails, as with dockerd).
    let err = fails(b, &["cp", s(&dir), &format!("{c}:/d/f/")]);
    assert!(
        err.contains("cannot overwrite non-directory \"/d/f\" with directory \"/d\""),
        "cp into a file: {err}"
    );
    let err = fails(b, &["cp", s(&f), &format!("{c}:/d/f/x")]);
    assert!(
        err.contains("extraction point is not a directory"),
        "cp below a file: {err}"
    );
    // Into a symlink to /: the container's root, never the host's.
    let host_probe = format!("/tmp/bth-cp-probe-{}-{tag}", std::process::id());
    let probe = host.join(Path::new(&host_probe).file_name().unwrap());
    std::fs::write(&probe, "probe\n").unwrap();
    ok(b, &["cp", s(&probe), &format!("{c}:/rootlink/tmp/")]);
    ok(b, &["cp", s(&probe), &format!("{c}:/x/up/tmp/")]);
    assert!(
        !Path::new(&host_probe).exists(),
        "docker cp wrote to the host through a container symlink"
    );
}

/// Checks what `copy_in` put into the running container `c`.
fn check_in(b: &Berthd, c: &str, tag: &str) {
    let got = ok(
        b,
        &[
            "exec",
            c,
            "sh",
            "-c",
            &format!(
                "cat /d/in-{tag}; stat -c %a /d/in-{tag}; cat /d/newdir-{tag}/a/b/c /d/sub/a/b/c; \
                 cat /tmp/bth-cp-probe-*-{tag}"
            ),
        ],
    );
    assert_eq!(got, "data\n751\ndeep\ndeep\nprobe\n");
}

#[test]
fn cp_into_running_and_stopped_containers() {
    need_root!();
    let b = Berthd::start();
    let host = scratch(&b, "in");
    running(&b, "dst", &[]);
    copy_in(&b, "dst", &host, "live");
    check_in(&b, "dst", "live");
    ok(&b, &["stop", "-t", "0", "dst"]);
    copy_in(&b, "dst", &host, "stopped");
    ok(&b, &["start", "dst"]);
    check_in(&b, "dst", "stopped");
    assert!(events(&b, "extract-to-dir") >= 2);
    // Owners are the archive's (the CLI's tar carries the host file's).
    let f = host.join("owned");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(4321)).unwrap();
    ok(&b, &["cp", s(&f), "dst:/d/"]);
    assert_eq!(
        ok(&b, &["exec", "dst", "stat", "-c", "%u:%g", "/d/owned"]),
        "1234:4321\n"
    );
    // A read-only rootfs refuses, with Docker's text.
    ok(
        &b,
        &["create", "--name", "ro", "--read-only", "busybox", "true"],
    );
    let err = fails(&b, &["cp", s(&f), "ro:/tmp/"]);
    assert!(
        err.contains("container rootfs is marked read-only"),
        "{err}"
    );
}

/// A raw HTTP/1.1 request over the daemon's socket: (status, body).
fn http(b: &Berthd, method: &str, target: &str, body: &[u8]) -> (u16, String) {
    let (status, _, body) = http_full(b, method, target, body);
    (status, body)
}

/// A raw HTTP/1.1 request over the daemon's socket: (status, header lines, body).
fn http_full(b: &Berthd, method: &str, target: &str, body: &[u8]) -> (u16, String, String) {
    let mut s = std::os::unix::net::UnixStream::connect(b.sock()).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}

/// Entry types of [`raw_tar`].
const REG: u8 = b'0';
const HARDLINK: u8 = b'1';
const SYMLINK: u8 = b'2';

/// A ustar stream with names written as given (tar tools refuse `..` and absolute names).
fn raw_tar(entries: &[(&str, u8, &str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = *kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..265].copy_from_slice(b"ustar\x0000");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&c| u32::from(c)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data.as_bytes());
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[test]
fn hostile_archives_write_nothing_outside() {
    need_root!();
    let b = Berthd::start();
    running(&b, "victim", &[]);
    ok(&b, &["exec", "victim", "mkdir", "/tmp/box"]);
    ok(&b, &["create", "--name", "cold", "busybox", "true"]);
    let host = scratch(&b, "box");
    ok(&b, &["cp", s(&host), "cold:/tmp/box"]);
    let tag = format!("bth-evil-{}", std::process::id());
    let host_evil = PathBuf::from("/tmp").join(&tag);
    for c in ["victim", "cold"] {
        let hostile: Vec<Vec<u8>> = vec![
            // Up and out by name.
            raw_tar(&[(&format!("../../../../../../../../tmp/{tag}"), REG, "", "x")]),
            raw_tar(&[(&format!("/tmp/{tag}"), REG, "", "x")]),
            // A symlink to / in the archive, then a file written through it.
            raw_tar(&[
                ("esc", SYMLINK, "/", ""),
                (&format!("esc/tmp/{tag}"), REG, "", "x"),
            ]),
            // A hardlink to a file outside.
            raw_tar(&[("hl", HARDLINK, "../../etc/passwd", "")]),
        ];
        for (i, t) in hostile.iter().enumerate() {
            let (status, body) = http(
                &b,
                "PUT",
                &format!("/v1.41/containers/{c}/archive?path=/tmp/box"),
                t,
            );
            assert_eq!(status, 400, "{c} archive {i}: {body}");
        }
        assert!(!host_evil.exists(), "{c}: wrote on the host");
    }
    // Nothing landed in the container outside the extraction point either, nor through the
    // symlink the archive made.
    let got = ok(
        &b,
        &[
            "exec",
            "victim",
            "sh",
            "-c",
            &format!(
                "ls /tmp/{tag} /{tag} /tmp/box/esc/tmp/{tag} /tmp/box/hl 2>&1 \
                 | grep -v 'No such file'; ls /tmp/box"
            ),
        ],
    );
    assert_eq!(got, "esc\n", "only the symlink itself was made");
    // Through the API: a file as extraction point, a missing one, Docker's texts.
    let ok_tar = raw_tar(&[("fine", REG, "", "x")]);
    let (status, body) = http(
        &b,
        "PUT",
        "/v1.41/containers/victim/archive?path=/d/f",
        &ok_tar,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("extraction point is not a directory"),
        "{body}"
    );
    let (status, body) = http(
        &b,
        "PUT",
        "/v1.41/containers/victim/archive?path=/nope",
        &ok_tar,
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("Could not find the file /nope in container victim"),
        "{body}"
    );
    // noOverwriteDirNonDir: a file may not replace a directory.
    let over = raw_tar(&[("sub", REG, "", "x")]);
    let (status, body) = http(
        &b,
        "PUT",
        "/v1.41/containers/victim/archive?path=/d&noOverwriteDirNonDir=1",
        &over,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("cannot overwrite directory \\\"/d/sub\\\" with non-directory \\\"/d\\\""),
        "{body}"
    );
    // The stat header of HEAD: a symlink, not followed, with its target resolved in the container.
    let (status, head, _) = http_full(
        &b,
        "HEAD",
        "/v1.41/containers/victim/archive?path=/d/l",
        b"",
    );
    assert_eq!(status, 200, "{head}");
    let b64 = head
        .lines()
        .find_map(|l| l.strip_prefix("x-docker-container-path-stat: "))
        .expect("stat header");
    let mut dec = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    dec.stdin.take().unwrap().write_all(b64.as_bytes()).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&dec.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(json["name"], "l");
    assert_eq!(json["linkTarget"], "/d/f");
    assert_eq!(
        json["mode"].as_u64().unwrap() & (1 << 27),
        1 << 27,
        "{json}"
    );
}

#[test]
fn cp_into_a_volume_lands_in_the_volume() {
    need_root!();
    let b = Berthd::start();
    let host = scratch(&b, "vol");
    running(&b, "vc", &["-v", "data:/data"]);
    let f = host.join("f");
    std::fs::write(&f, "in the volume\n").unwrap();
    ok(&b, &["cp", s(&f), "vc:/data/"]);
    // A directory merged into a mount point below the extraction point lands in the volume.
    let data = host.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("merged"), "merged\n").unwrap();
    ok(&b, &["cp", s(&data), "vc:/"]);
    assert_eq!(
        ok(&b, &["exec", "vc", "cat", "/data/merged", "/data/f"]),
        "merged\nin the volume\n"
    );
    // A file replacing the mount point (raw API, no noOverwriteDirNonDir) does not empty the
    // volume: removal never crosses into a mount.
    let over = raw_tar(&[("data", REG, "", "x")]);
    let (status, body) = http(&b, "PUT", "/v1.41/containers/vc/archive?path=/", &over);
    assert_ne!(status, 200, "{body}");
    assert_eq!(ok(&b, &["exec", "vc", "cat", "/data/f"]), "in the volume\n");
    // Kernel filesystems are refused, as extraction point and on the way.
    let err = fails(&b, &["cp", s(&f), "vc:/proc/"]);
    assert!(err.contains("kernel filesystem"), "{err}");
    let into_sys = raw_tar(&[("sys/fs/x", REG, "", "x")]);
    let (status, body) = http(&b, "PUT", "/v1.41/containers/vc/archive?path=/", &into_sys);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("kernel filesystem"), "{body}");
    // Stopped: the path below the volume's destination goes to the volume, not the layers.
    ok(&b, &["stop", "-t", "0", "vc"]);
    let g = host.join("g");
    std::fs::write(&g, "while stopped\n").unwrap();
    ok(&b, &["cp", s(&g), "vc:/data/"]);
    ok(&b, &["cp", "vc:/data", s(&host.join("out"))]);
    assert_eq!(
        std::fs::read_to_string(host.join("out/f")).unwrap(),
        "in the volume\n"
    );
    assert_eq!(
        ok(
            &b,
            &["run", "--rm", "-v", "data:/v", "busybox", "cat", "/v/f", "/v/g"]
        ),
        "in the volume\nwhile stopped\n"
    );
    // A stopped container's bound file is read from its source.
    let bound = host.join("bound.txt");
    std::fs::write(&bound, "bound\n").unwrap();
    ok(
        &b,
        &[
            "create",
            "--name",
            "bf",
            "-v",
            &format!("{}:/etc/bound.txt", s(&bound)),
            "busybox",
            "true",
        ],
    );
    ok(&b, &["cp", "bf:/etc/bound.txt", s(&host.join("got"))]);
    assert_eq!(
        std::fs::read_to_string(host.join("got")).unwrap(),
        "bound\n"
    );
}

#[test]
fn racing_symlink_flips_never_reach_the_host() {
    need_root!();
    let b = Berthd::start();
    let host = scratch(&b, "race");
    let marker = format!("bth-flip-{}", std::process::id());
    // On the host: a file the container must never be able to read through cp, and a directory
    // cp must never write into.
    let host_file = PathBuf::from("/tmp").join(&marker);
    std::fs::write(&host_file, "host secret\n").unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(host_file.clone());
    let planted = PathBuf::from("/tmp").join(format!("{marker}-in"));
    let _rm2 = Rm(planted.clone());
    // In the container, /x/flip is a directory holding the marker name, then a symlink to /tmp
    // (the container's, where nothing of that name exists), over and over.
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "flipper",
            "busybox",
            "sh",
            "-c",
            &format!(
                "mkdir -p /x; while true; do mkdir /x/d 2>/dev/null; echo container > /x/d/{marker}; \
                 mv -T /x/d /x/flip 2>/dev/null; rm -rf /x/flip; ln -s /tmp /x/flip; rm -f /x/flip; done"
            ),
        ],
    );
    let f = host.join(format!("{marker}-in"));
    std::fs::write(&f, "planted\n").unwrap();
    let mut copied_out = 0;
    for i in 0..25 {
        let out = host.join(format!("out{i}"));
        let (_, _, _) = b.d(&["cp", &format!("flipper:/x/flip/{marker}"), s(&out)]);
        if let Ok(got) = std::fs::read_to_string(&out) {
            assert_eq!(got, "container\n", "cp read the host's file");
            copied_out += 1;
        }
        let _ = b.d(&["cp", s(&f), "flipper:/x/flip/"]);
        assert!(!planted.exists(), "cp wrote into the host's /tmp");
    }
    // The same through the API, a thousand times each way while the path flips.
    let tar = raw_tar(&[(&format!("{marker}-in"), REG, "", "planted\n")]);
    let (mut api_out, mut api_in) = (0, 0);
    for _ in 0..1000 {
        let (status, body) = http(
            &b,
            "GET",
            &format!("/v1.41/containers/flipper/archive?path=/x/flip/{marker}"),
            b"",
        );
        assert!(
            !body.contains("host secret"),
            "the API read the host's file"
        );
        if status == 200 {
            api_out += 1;
        }
        let (status, _) = http(
            &b,
            "PUT",
            "/v1.41/containers/flipper/archive?path=/x/flip/",
            &tar,
        );
        assert!(!planted.exists(), "the API wrote into the host's /tmp");
        if status == 200 {
            api_in += 1;
        }
    }
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap(),
        "host secret\n"
    );
    eprintln!(
        "copied out while flipping: {copied_out}/25; API: {api_out}/1000 out, {api_in}/1000 in"
    );
}

#[test]
fn owners_read_only_volumes_gzip_and_the_root() {
    need_root!();
    let b = Berthd::start();
    let host = scratch(&b, "misc");
    let f = host.join("owned");
    std::fs::write(&f, "x\n").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(4321)).unwrap();
    // -a: the container user's ids, looked up in the container's /etc/passwd.
    let sleeper = |name: &str, extra: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sleep", "1000"]);
        ok(&b, &args);
    };
    sleeper("byname", &["--user", "nobody"]);
    ok(&b, &["cp", "-a", s(&f), "byname:/tmp/"]);
    assert_eq!(
        ok(&b, &["exec", "byname", "stat", "-c", "%u:%g", "/tmp/owned"]),
        "65534:65534\n"
    );
    sleeper("bynum", &["--user", "1000:2000", "-v", "rodata:/ro:ro"]);
    ok(&b, &["cp", "-a", s(&f), "bynum:/tmp/"]);
    assert_eq!(
        ok(&b, &["exec", "bynum", "stat", "-c", "%u:%g", "/tmp/owned"]),
        "1000:2000\n"
    );
    // A read-only volume refuses, with Docker's text.
    let err = fails(&b, &["cp", s(&f), "bynum:/ro/"]);
    assert!(err.contains("mounted volume is marked read-only"), "{err}");
    // A gzip-compressed body is accepted.
    let gz = Command::new("sh")
        .arg("-c")
        .arg(format!("tar -C {} -c owned | gzip", host.to_str().unwrap()))
        .output()
        .unwrap();
    assert!(gz.status.success());
    let (status, body) = http(
        &b,
        "PUT",
        "/v1.41/containers/bynum/archive?path=/home",
        &gz.stdout,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(ok(&b, &["exec", "bynum", "cat", "/home/owned"]), "x\n");
    // The whole filesystem, as docker does it.
    ok(&b, &["cp", "bynum:/", s(&host.join("all"))]);
    assert_eq!(
        std::fs::read_to_string(host.join("all/home/owned")).unwrap(),
        "x\n"
    );
    assert!(host.join("all/bin/busybox").exists());
    // The running container's /proc and /sys come as empty directories (as from dockerd, whose
    // view of a container has no kernel filesystems mounted), not the host's sysfs.
    for d in ["proc", "sys"] {
        let n = std::fs::read_dir(host.join("all").join(d)).unwrap().count();
        assert_eq!(n, 0, "/{d} was archived with its contents");
    }
}
