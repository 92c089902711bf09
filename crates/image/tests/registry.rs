//! The registry client against the real Debian `docker-registry` (distribution 2.8) on
//! 127.0.0.1, each test with its own instance and storage under /tmp/berth-test-reg-*/, killed
//! by pid at the end. Faults (throttling, broken connections, 5xx, a corrupted blob, bearer
//! auth with a token server) come from a small HTTP proxy of the test's own in front of it.
//! Pulls unpack layers (chown etc.), so the tests need root, as CI runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use berth_image::manifest::{
    Descriptor, Index, Platform, MEDIA_OCI_INDEX, MEDIA_OCI_LAYER, MEDIA_OCI_LAYER_GZIP,
    MEDIA_OCI_LAYER_ZSTD, MEDIA_OCI_MANIFEST,
};
use berth_image::registry::{parse_platform, transport, RegistryError};
use berth_image::{
    archive, Credentials, Digest, Event, Image, ImageRoot, PullOptions, PushOptions, Reference,
    Registry, RegistryConfig,
};
use common::{gzip, tar_of, zstd, TestRoot, E};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

fn registry_available() -> bool {
    if !common::is_root() {
        eprintln!("skipped: needs root (pulls unpack layers)");
        return false;
    }
    if !Path::new(REGISTRY_BIN).exists() {
        eprintln!("skipped: {REGISTRY_BIN} missing; apt-get install -y docker-registry");
        return false;
    }
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "registry did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// A docker-registry process with its own config and storage; killed and removed on drop.
struct TestRegistry {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl TestRegistry {
    fn start(htpasswd: Option<(&str, &str)>) -> TestRegistry {
        TestRegistry::start_with(htpasswd, |_| String::new())
    }

    /// `http_extra(dir)` is YAML added below `http:` (indented by two spaces).
    fn start_with(
        htpasswd: Option<(&str, &str)>,
        http_extra: impl FnOnce(&Path) -> String,
    ) -> TestRegistry {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = PathBuf::from(format!(
            "/tmp/berth-test-reg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let port = free_port();
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
        let extra = http_extra(&dir);
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}{auth}",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), cfg).unwrap();
        let mut r = TestRegistry {
            dir,
            port,
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))
            .unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_port(self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // by pid
            let _ = c.wait();
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// A fault-injecting proxy

#[derive(Default)]
struct ProxyState {
    upstream: AtomicU32,
    /// Bytes per write and pause between writes for blob bodies.
    throttle: Mutex<Option<(usize, Duration)>>,
    /// Close the client connection once this many bytes of one blob body went through (once).
    cut_after: Mutex<Option<u64>>,
    /// Flip a byte in bodies of this blob.
    corrupt: Mutex<Option<String>>,
    /// Answer this many requests to manifests/blobs with 503.
    fail: AtomicU32,
    /// Demand `Bearer good-token`, issued by /token for these basic credentials.
    bearer: Mutex<Option<(String, String)>>,
    tokens_issued: AtomicU32,
    /// Blob body bytes forwarded in all.
    blob_bytes: AtomicU64,
    log: Mutex<Vec<String>>,
}

struct Proxy {
    port: u16,
    st: Arc<ProxyState>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let st = Arc::new(ProxyState::default());
        st.upstream.store(upstream as u32, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let (st2, stop2) = (st.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(c) = c else { continue };
                let st = st2.clone();
                std::thread::spawn(move || {
                    let _ = handle(c, &st, port);
                });
            }
        });
        Proxy {
            port,
            st,
            stop,
            thread: Some(thread),
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> Vec<String> {
        self.st.log.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = l.trim_end().to_owned();
        if l.is_empty() {
            return Ok(lines);
        }
        lines.push(l);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn respond(c: &mut TcpStream, status: &str, extra: &[String], body: &[u8]) -> std::io::Result<()> {
    let mut s = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for e in extra {
        s.push_str(e);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    c.write_all(s.as_bytes())?;
    c.write_all(body)
}

fn handle(c: TcpStream, st: &ProxyState, own_port: u16) -> std::io::Result<()> {
    let mut r = BufReader::new(c.try_clone()?);
    let mut c = c;
    let head = read_head(&mut r)?;
    let mut parts = head[0].split(' ');
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let len: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let range = header(&head, "range").unwrap_or("").to_owned();
    let is_blob = path.contains("/blobs/sha256:");
    // bearer auth
    let bearer = st.bearer.lock().unwrap().clone();
    if let Some((u, p)) = &bearer {
        if path.starts_with("/token") {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            );
            st.log.lock().unwrap().push(format!("{method} /token"));
            if header(&head, "authorization") == Some(want.as_str()) {
                st.tokens_issued.fetch_add(1, Ordering::Relaxed);
                return respond(
                    &mut c,
                    "200 OK",
                    &["Content-Type: application/json".into()],
                    br#"{"token":"good-token","expires_in":300}"#,
                );
            }
            return respond(&mut c, "401 Unauthorized", &[], b"");
        }
        if header(&head, "authorization") != Some("Bearer good-token") {
            st.log.lock().unwrap().push(format!("{method} {path} 401"));
            let ch = format!(
                "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{own_port}/token\",service=\"berth-test\",scope=\"repository:x:pull\""
            );
            return respond(
                &mut c,
                "401 Unauthorized",
                &[ch, "Content-Type: application/json".into()],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
        }
    }
    if (is_blob || path.contains("/manifests/"))
        && st
            .fail
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    {
        st.log.lock().unwrap().push(format!("{method} {path} 503"));
        return respond(&mut c, "503 Service Unavailable", &[], b"");
    }
    let upstream = st.upstream.load(Ordering::Relaxed) as u16;
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        st.log.lock().unwrap().push(format!("{method} {path} 502"));
        return respond(&mut c, "502 Bad Gateway", &[], b"");
    };
    let mut req = format!("{}\r\n", head[0]);
    for h in &head[1..] {
        let k = h
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if k == "connection" || (k == "authorization" && bearer.is_some()) {
            continue;
        }
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    let mut ur = BufReader::new(up);
    let rhead = read_head(&mut ur)?;
    st.log.lock().unwrap().push(format!(
        "{method} {path} range={range} -> {}",
        rhead[0].split(' ').nth(1).unwrap_or("")
    ));
    let mut out = rhead.join("\r\n");
    out.push_str("\r\n\r\n");
    c.write_all(out.as_bytes())?;
    let corrupt = is_blob
        && st
            .corrupt
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|d| path.ends_with(d.as_str()));
    let throttle = if is_blob {
        *st.throttle.lock().unwrap()
    } else {
        None
    };
    let chunk = throttle.map(|t| t.0).unwrap_or(64 << 10);
    let mut buf = vec![0u8; chunk];
    let mut sent = 0u64;
    let mut first = true;
    loop {
        let n = ur.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if corrupt && first {
            buf[0] ^= 0xff;
        }
        first = false;
        if is_blob && method == "GET" {
            let mut cut = st.cut_after.lock().unwrap();
            if let Some(limit) = *cut {
                if sent + n as u64 >= limit {
                    *cut = None;
                    let k = (limit - sent) as usize;
                    c.write_all(&buf[..k])?;
                    st.log
                        .lock()
                        .unwrap()
                        .push(format!("cut {path} at {limit}"));
                    let _ = c.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
            }
        }
        c.write_all(&buf[..n])?;
        sent += n as u64;
        if is_blob {
            st.blob_bytes.fetch_add(n as u64, Ordering::Relaxed);
        }
        if let Some((_, pause)) = throttle {
            std::thread::sleep(pause);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Images

fn busybox_tar() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixture-busybox.sh");
        let out = Command::new(script)
            .output()
            .expect("run fixture-busybox.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rootfs = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        std::fs::read(rootfs.parent().unwrap().join("busybox-rootfs.tar")).unwrap()
    })
}

/// Pseudo-random, incompressible bytes.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An image of three layers: busybox (gzip), a small file (zstd) and `big` bytes of noise
/// (plain tar), tagged `name`.
fn make_image(root: &ImageRoot, name: &Reference, arch: &str, big: usize) -> Image {
    let content = root.images.content();
    let t0 = busybox_tar().to_vec();
    let t1 = tar_of(&[E::File("hello.txt", b"hello from berth\n")]);
    let data = noise(big, 7);
    let t2 = tar_of(&[E::File("big.bin", &data)]);
    let blobs = [
        (gzip(&t0), MEDIA_OCI_LAYER_GZIP),
        (zstd(&t1), MEDIA_OCI_LAYER_ZSTD),
        (t2.clone(), MEDIA_OCI_LAYER),
    ];
    let diff_ids: Vec<String> = [&t0, &t1, &t2]
        .iter()
        .map(|t| Digest::of(t).to_string())
        .collect();
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "busybox"}, {"created_by": "hello"}, {"created_by": "big"}],
    });
    let mut layers = Vec::new();
    for (b, mt) in &blobs {
        layers.push((content.write_blob(b).unwrap().digest, mt.to_string()));
    }
    archive::store_image(
        root.stores(),
        &serde_json::to_vec(&config).unwrap(),
        &layers,
        std::slice::from_ref(name),
    )
    .unwrap()
    .image
}

/// The files a user would look at in the pulled image's layers.
fn check_rootfs(root: &ImageRoot, img: &Image, big: usize) {
    let chains = img.chain_ids();
    let fs = |i: usize| root.snapshots.fs_path(chains[i].hex());
    let bb = std::fs::metadata(fs(0).join("bin/busybox")).unwrap();
    assert_eq!(bb.len(), std::fs::metadata("/bin/busybox").unwrap().len());
    assert!(std::fs::symlink_metadata(fs(0).join("bin/sh"))
        .unwrap()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(fs(1).join("hello.txt")).unwrap(),
        "hello from berth\n"
    );
    let got = std::fs::read(fs(2).join("big.bin")).unwrap();
    assert_eq!(got.len(), big);
    assert!(got == noise(big, 7), "big.bin differs");
}

fn client(f: impl FnOnce(&mut RegistryConfig)) -> Registry {
    let mut c = RegistryConfig {
        certs_dir: PathBuf::from("/nonexistent/berth-certs.d"),
        retry_delay: Duration::from_millis(100),
        ..RegistryConfig::default()
    };
    f(&mut c);
    Registry::new(c)
}

fn statuses(events: &[Event], id: &str) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e.id.as_deref() == Some(id))
        .map(|e| e.status.clone())
        .collect();
    v.dedup();
    v
}

fn pull(
    reg: &Registry,
    root: &ImageRoot,
    r: &str,
    opts: &PullOptions,
) -> (Result<berth_image::PullResult, RegistryError>, Vec<Event>) {
    let mut ev = Vec::new();
    let res = reg.pull(root, &Reference::parse(r).unwrap(), opts, &mut |e| {
        ev.push(e)
    });
    (res, ev)
}

fn push(
    reg: &Registry,
    root: &ImageRoot,
    r: &str,
    opts: &PushOptions,
) -> (Result<berth_image::PushResult, RegistryError>, Vec<Event>) {
    let mut ev = Vec::new();
    let res = reg.push(root, &Reference::parse(r).unwrap(), opts, &mut |e| {
        ev.push(e)
    });
    (res, ev)
}

fn no_staging_left(root: &TestRoot) {
    let snaps = root.join("snapshots");
    let left: Vec<_> = std::fs::read_dir(&snaps)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging") || n.starts_with(".unpack"))
        .collect();
    assert!(left.is_empty(), "staging left: {left:?}");
}

// ---------------------------------------------------------------------------------------------

#[test]
fn push_then_pull_by_tag_and_digest() {
    if !registry_available() {
        return;
    }
    let reg = TestRegistry::start(None);
    let host = reg.host();
    let big = 300_000;
    let src_dir = TestRoot::new("reg-src");
    let src = ImageRoot::open(&src_dir.path).unwrap();
    let name = format!("{host}/test/bb:v1");
    let img = make_image(&src, &Reference::parse(&name).unwrap(), "amd64", big);
    let c = client(|_| {});

    // push: every layer uploaded, then the manifest
    let (res, ev) = push(&c, &src, &name, &PushOptions::default());
    let pushed = res.unwrap();
    assert_eq!(
        ev[0].status,
        format!("The push refers to repository [{host}/test/bb]")
    );
    for l in &img.layers {
        let s = statuses(&ev, l.diff_id.short());
        assert_eq!(s.first().map(String::as_str), Some("Preparing"), "{s:?}");
        assert_eq!(s.last().map(String::as_str), Some("Pushed"), "{s:?}");
    }
    let big_id = img.layers[2].diff_id.short();
    assert!(ev.iter().any(|e| e.id.as_deref() == Some(big_id)
        && e.status == "Pushing"
        && e.progress == Some((img.layers[2].blob_size, img.layers[2].blob_size))));
    assert_eq!(
        ev.last().unwrap().status,
        format!("v1: digest: {} size: {}", pushed.digest, pushed.size)
    );
    assert_eq!(pushed.tag, "v1");
    // the local image got the repo digest
    assert!(src
        .images
        .lookup(&Reference::parse(&format!("{host}/test/bb@{}", pushed.digest)).unwrap())
        .is_some());

    // push again: the registry has everything
    let (res, ev) = push(&c, &src, &name, &PushOptions::default());
    assert_eq!(res.unwrap().digest, pushed.digest);
    for l in &img.layers {
        assert_eq!(
            statuses(&ev, l.diff_id.short()),
            ["Preparing", "Layer already exists"]
        );
    }

    // pull into a fresh root by tag
    let dst_dir = TestRoot::new("reg-dst");
    let dst = ImageRoot::open(&dst_dir.path).unwrap();
    let (res, ev) = pull(&c, &dst, &name, &PullOptions::default());
    let pulled = res.unwrap();
    assert_eq!(pulled.image.id, img.id);
    assert_eq!(pulled.digest, pushed.digest);
    assert!(!pulled.up_to_date);
    assert_eq!(
        ev[0],
        Event {
            id: Some("v1".into()),
            status: "Pulling from test/bb".into(),
            progress: None
        }
    );
    for l in &img.layers {
        let s = statuses(&ev, l.blob.short());
        let want = [
            "Pulling fs layer",
            "Downloading",
            "Verifying Checksum",
            "Download complete",
            "Extracting",
            "Pull complete",
        ];
        let pos: Vec<usize> = want
            .iter()
            .map(|w| {
                s.iter()
                    .position(|x| x == w)
                    .unwrap_or_else(|| panic!("{w} missing in {s:?}"))
            })
            .collect();
        assert!(pos.windows(2).all(|p| p[0] < p[1]), "order {s:?}");
    }
    let n = ev.len();
    assert_eq!(ev[n - 2].status, format!("Digest: {}", pushed.digest));
    assert_eq!(
        ev[n - 1].status,
        format!("Status: Downloaded newer image for {name}")
    );
    check_rootfs(&dst, &pulled.image, big);
    assert_eq!(
        dst.images.lookup(&Reference::parse(&name).unwrap()),
        Some(img.id.clone())
    );
    no_staging_left(&dst_dir);
    assert!(dst.content.ingests().unwrap().is_empty());

    // again: nothing to download
    let (res, ev) = pull(&c, &dst, &name, &PullOptions::default());
    assert!(res.unwrap().up_to_date);
    for l in &img.layers {
        assert_eq!(statuses(&ev, l.blob.short()), ["Already exists"]);
    }
    assert_eq!(
        ev.last().unwrap().status,
        format!("Status: Image is up to date for {name}")
    );

    // remove it locally, pull by digest into another fresh root
    let by_digest = format!("{host}/test/bb@{}", pushed.digest);
    let dst2_dir = TestRoot::new("reg-dst2");
    let dst2 = ImageRoot::open(&dst2_dir.path).unwrap();
    let (res, ev) = pull(&c, &dst2, &by_digest, &PullOptions::default());
    let p2 = res.unwrap();
    assert_eq!(p2.image.id, img.id);
    assert_eq!(
        ev[0].id.as_deref(),
        Some(pushed.digest.to_string().as_str())
    );
    assert_eq!(
        p2.image.repo_digests,
        vec![Reference::parse(&by_digest).unwrap()]
    );
    assert!(p2.image.repo_tags.is_empty());
    check_rootfs(&dst2, &p2.image, big);

    // the same image pushed to another repository of the registry: layers are mounted
    let other = format!("{host}/test/other:v2");
    src.images
        .tag(&img.id, &Reference::parse(&other).unwrap())
        .unwrap();
    let (res, ev) = push(&c, &src, &other, &PushOptions::default());
    assert_eq!(res.unwrap().digest, pushed.digest);
    for l in &img.layers {
        assert_eq!(
            statuses(&ev, l.diff_id.short()),
            ["Preparing", "Mounted from test/bb"]
        );
    }

    // chunked uploads (PATCH, seen through a proxy) land the same manifest
    let proxy = Proxy::start(reg.port);
    let chunked = format!("{}/test/chunked:v1", proxy.host());
    src.images
        .tag(&img.id, &Reference::parse(&chunked).unwrap())
        .unwrap();
    let cc = client(|c| c.chunk_size = Some(64 << 10));
    let (res, ev) = push(&cc, &src, &chunked, &PushOptions::default());
    assert_eq!(res.unwrap().digest, pushed.digest);
    assert_eq!(statuses(&ev, big_id), ["Preparing", "Pushing", "Pushed"]);
    let patches = proxy
        .log()
        .iter()
        .filter(|l| l.starts_with("PATCH ") && l.ends_with("-> 202"))
        .count();
    let want = img
        .layers
        .iter()
        .map(|l| l.blob_size.div_ceil(64 << 10))
        .sum::<u64>()
        + 1; // + config
    assert_eq!(patches as u64, want);
    let dst3_dir = TestRoot::new("reg-dst3");
    let dst3 = ImageRoot::open(&dst3_dir.path).unwrap();
    let (res, _) = pull(
        &c,
        &dst3,
        &format!("{host}/test/chunked:v1"),
        &PullOptions::default(),
    );
    check_rootfs(&dst3, &res.unwrap().image, big);

    // tags and Docker's errors
    let repo = Reference::parse_named(&format!("{host}/test/bb")).unwrap();
    assert_eq!(c.tags(&repo, &Credentials::default()).unwrap(), ["v1"]);
    let (res, _) = pull(
        &c,
        &dst,
        &format!("{host}/test/bb:nope"),
        &PullOptions::default(),
    );
    assert_eq!(
        res.unwrap_err().to_string(),
        format!("manifest for {host}/test/bb:nope not found: manifest unknown: manifest unknown")
    );
    // distribution answers MANIFEST_UNKNOWN for a repository it does not have, so does Docker
    let (res, _) = pull(
        &c,
        &dst,
        &format!("{host}/test/missing:v1"),
        &PullOptions::default(),
    );
    assert!(matches!(res, Err(RegistryError::ManifestUnknown { .. })));
    let e = c
        .tags(
            &Reference::parse_named(&format!("{host}/test/missing")).unwrap(),
            &Credentials::default(),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "name unknown: repository name not known to registry"
    );
    let (res, _) = push(
        &c,
        &src,
        &format!("{host}/test/none:v1"),
        &PushOptions::default(),
    );
    assert_eq!(
        res.unwrap_err().to_string(),
        format!("An image does not exist locally with the tag: {host}/test/none:v1")
    );
    // nothing listening: Go's text for a refused connection
    let dead = free_port();
    let (res, _) = pull(
        &c,
        &dst,
        &format!("127.0.0.1:{dead}/x:v1"),
        &PullOptions::default(),
    );
    assert_eq!(
        res.unwrap_err().to_string(),
        format!("Get \"http://127.0.0.1:{dead}/v2/\": connect: connection refused")
    );
    // pull -a
    let mut ev = Vec::new();
    let all = c
        .pull_all_tags(
            &dst3,
            &Reference::parse_named(&format!("{host}/test/other")).unwrap(),
            &PullOptions::default(),
            &mut |e| ev.push(e),
        )
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].reference.tag(), Some("v2"));
}

#[test]
fn multi_platform_index() {
    if !registry_available() {
        return;
    }
    let reg = TestRegistry::start(None);
    let host = reg.host();
    let src_dir = TestRoot::new("reg-mp-src");
    let src = ImageRoot::open(&src_dir.path).unwrap();
    let c = client(|_| {});
    let mut descs = Vec::new();
    let mut ids = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let name = format!("{host}/test/multi:{arch}");
        let img = make_image(&src, &Reference::parse(&name).unwrap(), arch, 1000);
        let (res, _) = push(&c, &src, &name, &PushOptions::default());
        let p = res.unwrap();
        let mut d = Descriptor::new(MEDIA_OCI_MANIFEST, p.digest.clone(), p.size);
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(str::to_owned),
        });
        descs.push(d);
        ids.push((img.id, p.digest));
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_OCI_INDEX.into()),
        manifests: descs,
        annotations: Default::default(),
    };
    let bytes = serde_json::to_vec(&index).unwrap();
    let resp = ureq::put(format!("http://{host}/v2/test/multi/manifests/latest"))
        .header("Content-Type", MEDIA_OCI_INDEX)
        .send(&bytes[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let index_digest = Digest::of(&bytes);

    let name = format!("{host}/test/multi:latest");
    let d1 = TestRoot::new("reg-mp-1");
    let r1 = ImageRoot::open(&d1.path).unwrap();
    // the host's platform by default
    let host_arch = berth_image::registry::host_platform().architecture;
    let (res, ev) = pull(&c, &r1, &name, &PullOptions::default());
    let p = res.unwrap();
    assert_eq!(p.digest, index_digest);
    assert_eq!(p.image.architecture, host_arch);
    assert!(ev
        .iter()
        .any(|e| e.status == format!("Digest: {index_digest}")));
    // an explicit platform
    let d2 = TestRoot::new("reg-mp-2");
    let r2 = ImageRoot::open(&d2.path).unwrap();
    let opts = PullOptions {
        platform: Some(parse_platform("linux/arm64").unwrap()),
        ..PullOptions::default()
    };
    let (res, _) = pull(&c, &r2, &name, &opts);
    let p = res.unwrap();
    assert_eq!(p.image.architecture, "arm64");
    assert_eq!(p.image.id, ids[1].0);
    assert_eq!(p.manifest, ids[1].1);
    assert_eq!(p.digest, index_digest);
    assert!(r2.content.exists(&index_digest));
    // none for this platform
    let opts = PullOptions {
        platform: Some(parse_platform("linux/s390x").unwrap()),
        ..PullOptions::default()
    };
    let (res, _) = pull(&c, &r2, &name, &opts);
    assert_eq!(
        res.unwrap_err().to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
    // a single-platform tag that is not the wanted platform
    let (res, _) = pull(
        &c,
        &r2,
        &format!("{host}/test/multi:amd64"),
        &PullOptions {
            platform: Some(parse_platform("linux/arm64").unwrap()),
            ..PullOptions::default()
        },
    );
    let e = res.unwrap_err().to_string();
    assert!(
        e.contains(
            "does not match the specified platform: wanted linux/arm64, actual: linux/amd64"
        ),
        "{e}"
    );
}

#[test]
fn registry_killed_mid_pull_resumes() {
    if !registry_available() {
        return;
    }
    let mut reg = TestRegistry::start(None);
    let big = 6 << 20;
    let src_dir = TestRoot::new("reg-kill-src");
    let src = ImageRoot::open(&src_dir.path).unwrap();
    let name = format!("{}/test/big:v1", reg.host());
    let img = make_image(&src, &Reference::parse(&name).unwrap(), "amd64", big);
    let c = client(|_| {});
    push(&c, &src, &name, &PushOptions::default()).0.unwrap();

    let proxy = Proxy::start(reg.port);
    *proxy.st.throttle.lock().unwrap() = Some((32 << 10, Duration::from_millis(8)));
    let via = format!("{}/test/big:v1", proxy.host());
    let dst_dir = TestRoot::new("reg-kill-dst");
    let dst = ImageRoot::open(&dst_dir.path).unwrap();
    let res = std::thread::scope(|s| {
        let h = s.spawn(|| pull(&c, &dst, &via, &PullOptions::default()));
        // kill the registry once 1 MiB of blobs went through, restart it a bit later
        let t = Instant::now();
        while proxy.st.blob_bytes.load(Ordering::Relaxed) < (1 << 20) {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "pull made no progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        reg.kill();
        std::thread::sleep(Duration::from_millis(400));
        reg.spawn();
        h.join().unwrap()
    });
    let (res, _) = res;
    let p = res.unwrap();
    assert_eq!(p.image.id, img.id);
    check_rootfs(&dst, &p.image, big);
    let log = proxy.log();
    let big_blob = img.layers[2].blob.to_string();
    assert!(
        log.iter()
            .any(|l| l.contains(&big_blob) && l.contains("range=bytes=") && l.ends_with("-> 206")),
        "no resumed request in {log:#?}"
    );
    assert!(dst.content.ingests().unwrap().is_empty());
    no_staging_left(&dst_dir);

    // across pulls: a pull that gives up leaves its ingest, the next one resumes from it
    *proxy.st.throttle.lock().unwrap() = None;
    *proxy.st.cut_after.lock().unwrap() = Some(2 << 20);
    let d2 = TestRoot::new("reg-kill-dst2");
    let r2 = ImageRoot::open(&d2.path).unwrap();
    let once = client(|c| c.max_attempts = 1);
    let (res, _) = pull(&once, &r2, &via, &PullOptions::default());
    assert!(res.is_err());
    assert_eq!(
        r2.content.ingests().unwrap(),
        vec![format!("blob-{}", img.layers[2].blob.hex())]
    );
    assert!(!r2.content.exists(&img.layers[2].blob));
    let (res, _) = pull(&c, &r2, &via, &PullOptions::default());
    check_rootfs(&r2, &res.unwrap().image, big);
    let log = proxy.log();
    assert!(
        log.iter().any(|l| l.contains(&big_blob)
            && l.contains("range=bytes=2097152-")
            && l.ends_with("-> 206")),
        "{log:#?}"
    );
}

#[test]
fn wrong_digest_is_rejected_and_5xx_retried() {
    if !registry_available() {
        return;
    }
    let reg = TestRegistry::start(None);
    let src_dir = TestRoot::new("reg-bad-src");
    let src = ImageRoot::open(&src_dir.path).unwrap();
    let name = format!("{}/test/bad:v1", reg.host());
    let img = make_image(&src, &Reference::parse(&name).unwrap(), "amd64", 200_000);
    let c = client(|_| {});
    push(&c, &src, &name, &PushOptions::default()).0.unwrap();
    let proxy = Proxy::start(reg.port);
    let via = format!("{}/test/bad:v1", proxy.host());

    // one layer corrupted on the wire: refused, never stored, nothing left behind
    let bad = img.layers[1].blob.clone();
    *proxy.st.corrupt.lock().unwrap() = Some(bad.to_string());
    let d = TestRoot::new("reg-bad-dst");
    let r = ImageRoot::open(&d.path).unwrap();
    let (res, _) = pull(&c, &r, &via, &PullOptions::default());
    assert_eq!(
        res.unwrap_err().to_string(),
        format!("filesystem layer verification failed for digest {bad}")
    );
    assert!(!r.content.exists(&bad));
    assert!(r.content.ingests().unwrap().is_empty());
    assert!(r.images.list().is_empty());
    let chains = img.chain_ids();
    assert!(!r.snapshots.exists(chains[1].hex()));
    no_staging_left(&d);

    // 503 twice, then the pull goes through
    *proxy.st.corrupt.lock().unwrap() = None;
    proxy.st.fail.store(2, Ordering::Relaxed);
    let (res, _) = pull(&c, &r, &via, &PullOptions::default());
    assert_eq!(res.unwrap().image.id, img.id);
    assert_eq!(
        proxy.log().iter().filter(|l| l.ends_with(" 503")).count(),
        2
    );
    // more failures than attempts: Docker's status error
    proxy.st.fail.store(100, Ordering::Relaxed);
    let few = client(|c| c.max_attempts = 2);
    let d2 = TestRoot::new("reg-bad-dst2");
    let r2 = ImageRoot::open(&d2.path).unwrap();
    let (res, _) = pull(&few, &r2, &via, &PullOptions::default());
    let e = res.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("received unexpected HTTP status: 503 Service Unavailable"),
        "{e}"
    );
    assert!(e.is_transient());
}

#[test]
fn basic_auth_registry() {
    if !registry_available() {
        return;
    }
    let reg = TestRegistry::start(Some(("alice", "s3cret")));
    let host = reg.host();
    let src_dir = TestRoot::new("reg-basic-src");
    let src = ImageRoot::open(&src_dir.path).unwrap();
    let name = format!("{host}/test/private:v1");
    let img = make_image(&src, &Reference::parse(&name).unwrap(), "amd64", 1000);
    let c = client(|_| {});
    let good = Credentials::basic("alice", "s3cret");
    let bad = Credentials::basic("alice", "wrong");

    assert_eq!(c.login(&host, &good).unwrap(), None);
    let e = c.login(&host, &bad).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("login attempt to http://{host}/v2/ failed with status: 401 Unauthorized")
    );

    let (res, _) = push(&c, &src, &name, &PushOptions::default());
    assert!(res.is_err(), "anonymous push accepted");
    let (res, _) = push(
        &c,
        &src,
        &name,
        &PushOptions {
            credentials: good.clone(),
        },
    );
    res.unwrap();
    let d = TestRoot::new("reg-basic-dst");
    let r = ImageRoot::open(&d.path).unwrap();
    let (res, _) = pull(&c, &r, &name, &PullOptions::default());
    let e = res.unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("pull access denied for {host}/test/private")),
        "{e}"
    );
    let (res, _) = pull(
        &c,
        &r,
        &name,
        &PullOptions {
            credentials: good,
            platform: None,
        },
    );
    assert_eq!(res.unwrap().image.id, img.id);
}

#[test]
fn bearer_token_auth() {
    if !registry_available() {
        return;
    }
    // The registry itself is open; the proxy in front demands bearer tokens from its own
    // token endpoint (realm) for alice's basic credentials, as a token-auth registry does.
    let reg = TestRegistry::start(None);
    let src_dir = TestRoot::new("reg-bearer-src");
    let src = ImageRoot::open(&src_dir.path).unwrap();
    let proxy = Proxy::start(reg.port);
    *proxy.st.bearer.lock().unwrap() = Some(("alice".into(), "s3cret".into()));
    let name = format!("{}/test/tok:v1", proxy.host());
    let img = make_image(&src, &Reference::parse(&name).unwrap(), "amd64", 1000);
    let c = client(|_| {});
    let good = Credentials::basic("alice", "s3cret");

    let (res, _) = push(
        &c,
        &src,
        &name,
        &PushOptions {
            credentials: good.clone(),
        },
    );
    res.unwrap();
    let d = TestRoot::new("reg-bearer-dst");
    let r = ImageRoot::open(&d.path).unwrap();
    let (res, _) = pull(
        &c,
        &r,
        &name,
        &PullOptions {
            credentials: good.clone(),
            platform: None,
        },
    );
    assert_eq!(res.unwrap().image.id, img.id);
    // one token per scope set, reused by every request of the operation (cached across them)
    let issued = proxy.st.tokens_issued.load(Ordering::Relaxed);
    assert!((1..=2).contains(&issued), "{issued} tokens issued");
    let requests = proxy.log().iter().filter(|l| l.contains("-> 20")).count();
    assert!(requests > 5, "{requests}");

    // a wrong password or none: refused with Docker's texts
    let e = c
        .login(&proxy.host(), &Credentials::basic("alice", "nope"))
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized(_)), "{e}");
    c.login(&proxy.host(), &good).unwrap();
    let (res, _) = pull(&c, &r, &name, &PullOptions::default());
    assert!(res.is_err());
    // a registry token is sent as is
    let tok = Credentials {
        registry_token: "good-token".into(),
        ..Credentials::default()
    };
    let d2 = TestRoot::new("reg-bearer-dst2");
    let r2 = ImageRoot::open(&d2.path).unwrap();
    let (res, _) = pull(
        &c,
        &r2,
        &name,
        &PullOptions {
            credentials: tok,
            platform: None,
        },
    );
    assert_eq!(res.unwrap().image.id, img.id);
}

// ---------------------------------------------------------------------------------------------
// Drivers for bench/registry.sh (ignored; configured by environment variables).

fn bench_env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set (run through bench/registry.sh)"))
}

/// Makes an image of BERTH_BENCH_LAYERS gzip layers of BERTH_BENCH_MB MiB in all (files of
/// mixed noise and text) in BERTH_BENCH_ROOT, tagged BERTH_BENCH_REF.
#[test]
#[ignore = "driven by bench/registry.sh"]
fn bench_make_image() {
    let root = ImageRoot::open(bench_env("BERTH_BENCH_ROOT")).unwrap();
    let name = Reference::parse(&bench_env("BERTH_BENCH_REF")).unwrap();
    let layers: usize = bench_env("BERTH_BENCH_LAYERS").parse().unwrap();
    let mb: usize = bench_env("BERTH_BENCH_MB").parse().unwrap();
    let per_layer = (mb << 20) / layers;
    let mut blobs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in 0..layers {
        let mut files = Vec::new();
        let mut left = per_layer;
        let mut i = 0;
        while left > 0 {
            let n = left.min(4 << 20);
            // half noise, half text: gzip has work to do both ways
            let mut data = noise(n / 2, (l * 1000 + i) as u64 + 1);
            let text =
                format!("line {i} of layer {l}: the quick brown fox jumps over the lazy dog\n");
            while data.len() < n {
                data.extend_from_slice(text.as_bytes());
            }
            data.truncate(n);
            files.push((format!("layer{l}/file{i}.bin"), data));
            left -= n;
            i += 1;
        }
        let entries: Vec<E<'_>> = files.iter().map(|(p, d)| E::File(p, d)).collect();
        let tar = tar_of(&entries);
        diff_ids.push(Digest::of(&tar).to_string());
        let gz = gzip(&tar);
        blobs.push((
            root.content.write_blob(&gz).unwrap().digest,
            MEDIA_OCI_LAYER_GZIP.to_owned(),
        ));
    }
    let config = serde_json::json!({
        "architecture": berth_image::registry::host_platform().architecture,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let img = archive::store_image(
        root.stores(),
        &serde_json::to_vec(&config).unwrap(),
        &blobs,
        std::slice::from_ref(&name),
    )
    .unwrap()
    .image;
    let total: u64 = img.layers.iter().map(|l| l.blob_size).sum();
    println!(
        "image {} layers {} compressed {} bytes",
        img.id,
        img.layers.len(),
        total
    );
}

/// Pushes BERTH_BENCH_REF from BERTH_BENCH_ROOT (tagged there as BERTH_BENCH_SRC).
#[test]
#[ignore = "driven by bench/registry.sh"]
fn bench_push() {
    let root = ImageRoot::open(bench_env("BERTH_BENCH_ROOT")).unwrap();
    let src = Reference::parse(&bench_env("BERTH_BENCH_SRC")).unwrap();
    let dst = Reference::parse(&bench_env("BERTH_BENCH_REF")).unwrap();
    let id = root.images.lookup(&src).expect("source image");
    root.images.tag(&id, &dst).unwrap();
    let reg = Registry::new(RegistryConfig::default());
    reg.push(&root, &dst, &PushOptions::default(), &mut |_| {})
        .unwrap();
}

/// Pulls BERTH_BENCH_REF into BERTH_BENCH_ROOT.
#[test]
#[ignore = "driven by bench/registry.sh"]
fn bench_pull() {
    let root = ImageRoot::open(bench_env("BERTH_BENCH_ROOT")).unwrap();
    let r = Reference::parse(&bench_env("BERTH_BENCH_REF")).unwrap();
    let reg = Registry::new(RegistryConfig::default());
    let p = reg
        .pull(&root, &r, &PullOptions::default(), &mut |_| {})
        .unwrap();
    assert!(!p.up_to_date);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
fn make_pki(dir: &Path) {
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=berth-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=berth-client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.cert -days 2 -extfile client.ext 2>/dev/null
"#;
    let st = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "openssl failed");
}

#[test]
fn tls_with_certs_dir_and_client_certificates() {
    if !registry_available() {
        return;
    }
    let reg = TestRegistry::start_with(None, |dir| {
        make_pki(dir);
        format!(
            "  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\n    clientcas:\n      - {d}/ca.crt\n",
            d = dir.display()
        )
    });
    let host = reg.host();
    let certs = TestRoot::new("reg-certs");
    let cfg = RegistryConfig {
        certs_dir: certs.path.clone(),
        ..RegistryConfig::default()
    };
    let url = format!("https://{host}/v2/");
    let get = |verify: bool| {
        let agent = transport::agent_for(&cfg, &host, verify).unwrap();
        agent.get(&url).call().map(|r| r.status().as_u16())
    };
    // the registry's CA is unknown, and no client certificate: refused
    assert!(get(true).is_err());
    // with the CA in certs.d/<host>/ but no client certificate: the server refuses the handshake
    let hd = certs.path.join(&host);
    std::fs::create_dir_all(&hd).unwrap();
    std::fs::copy(reg.dir.join("ca.crt"), hd.join("ca.crt")).unwrap();
    assert!(get(true).is_err());
    // and with client.cert + client.key: verified both ways
    std::fs::copy(reg.dir.join("client.cert"), hd.join("client.cert")).unwrap();
    std::fs::copy(reg.dir.join("client.key"), hd.join("client.key")).unwrap();
    assert_eq!(get(true).unwrap(), 200);

    // a loopback registry over TLS: found by the client (HTTPS tried first), push and pull work
    let c = Registry::new(cfg.clone());
    let src_dir = TestRoot::new("reg-tls-src");
    let src = ImageRoot::open(&src_dir.path).unwrap();
    let name = format!("{host}/test/tls:v1");
    let img = make_image(&src, &Reference::parse(&name).unwrap(), "amd64", 1000);
    push(&c, &src, &name, &PushOptions::default()).0.unwrap();
    let d = TestRoot::new("reg-tls-dst");
    let r = ImageRoot::open(&d.path).unwrap();
    let (res, _) = pull(&c, &r, &name, &PullOptions::default());
    assert_eq!(res.unwrap().image.id, img.id);
}
