//! Black-box: `berthd --userns-remap=default` with the stock `docker` CLI — root in the container
//! is an unprivileged range on the host, image layers are id-mapped (not copied), volumes and
//! binds show the mapped ids, Docker's refusals, and the daemon's files out of the remapped
//! root's reach (CVE-2021-21284 class).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Berthd;

static SEQ: AtomicUsize = AtomicUsize::new(40);

/// A berthd like `Berthd::start`'s, with `--userns-remap=default` (which creates the
/// `berth-remap` user and its subordinate range when missing; they stay, as dockerd's
/// `dockremap` does, so parallel tests and later runs share them).
fn remapped() -> Berthd {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let tag = format!("berth-test-{}-d{n}", std::process::id());
    let dir = PathBuf::from("/tmp").join(&tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The remapped root traverses to its volumes and container files through here.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    let mut b = Berthd {
        dir,
        tag,
        child: None,
    };
    let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
    let shim = berthd.with_file_name("berth-shim");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(b.dir.join("berthd.log"))
        .unwrap();
    let child = Command::new(berthd)
        .arg("--data-root")
        .arg(b.dir.join("data"))
        .arg("--exec-root")
        .arg(b.dir.join("run"))
        .arg("-H")
        .arg(format!("unix://{}", b.sock().display()))
        .arg("--cgroup-parent")
        .arg(&b.tag)
        .arg("--bridge")
        .arg(b.bridge())
        .arg("--bip")
        .arg(b.bip())
        .arg("--default-address-pool")
        .arg(b.pools())
        .arg("--dns")
        .arg("127.0.0.9")
        .arg("--shim")
        .arg(shim)
        .arg("--userns-remap=default")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    b.child = Some(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(b.sock()).is_err() {
        if Instant::now() > deadline {
            panic!("berthd did not come up: {}", b.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(common::fixture_rootfs())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = b
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
    b
}

fn ok(b: &Berthd, args: &[&str]) -> String {
    let (code, out, err) = b.d(args);
    assert_eq!(code, 0, "docker {args:?}: {err}\n{}", b.log());
    out
}

/// berth-remap's first subordinate uid and gid ranges (start, count), as the daemon reads them.
fn ranges() -> ((u32, u32), (u32, u32)) {
    let first = |file: &str| {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() == 3 && f[0] == "berth-remap")
                    .then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
            })
            .unwrap_or_else(|| panic!("no berth-remap range in {file}"))
    };
    (first("/etc/subuid"), first("/etc/subgid"))
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat {}: {e}", p.display()));
    (m.uid(), m.gid())
}

fn data(b: &Berthd) -> PathBuf {
    b.dir.join("data")
}

#[test]
fn root_inside_is_an_unprivileged_range_outside() {
    need_root!();
    let b = remapped();
    let ((uid, usize_), (gid, _)) = ranges();
    let info = ok(&b, &["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("name=userns"), "{info}");

    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; \
             echo x > /dev/null && stat -c '%t,%T' /dev/null",
        ],
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{out}");
    assert_eq!(lines[1], ["0"], "{out}");
    assert_eq!(
        lines[2],
        ["0", &uid.to_string(), &usize_.to_string()],
        "{out}"
    );
    assert_eq!(lines[3][1], gid.to_string(), "{out}");
    // mknod is not allowed in a user namespace: the host's device node is bound in.
    assert_eq!(lines[4], ["1,3"], "{out}");

    // A running container: its process and the files it writes are the range's on the host,
    // while the image's own files (id-mapped, not chowned) stay root's on disk.
    let id = ok(
        &b,
        &[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "echo x > /made; mkdir -p /home/u && chown 1000:1000 /home/u; sleep 60",
        ],
    );
    let id = id.trim();
    let pid = ok(&b, &["inspect", "-f", "{{.State.Pid}}", id]);
    let proc_root = PathBuf::from(format!("/proc/{}/root", pid.trim()));
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    let host_uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    assert_eq!(
        host_uid,
        uid.to_string(),
        "the container's root on the host"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proc_root.join("home/u").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(owner(&proc_root.join("made")), (uid, gid));
    assert_eq!(owner(&proc_root.join("home/u")), (uid + 1000, gid + 1000));
    assert_eq!(owner(&proc_root.join("bin/busybox")), (uid, gid));
    let layer_busybox = std::fs::read_dir(data(&b).join("snapshots"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("fs/bin/busybox"))
        .find(|p| p.exists())
        .expect("the busybox layer");
    assert_eq!(owner(&layer_busybox), (0, 0), "the layer is not chowned");
    assert_eq!(ok(&b, &["exec", id, "id", "-u"]).trim(), "0");
    ok(
        &b,
        &["exec", id, "sh", "-c", "echo 10.1.2.3 extra >> /etc/hosts"],
    );
    ok(&b, &["rm", "-f", id]);

    // --userns=host: real root, recorded in inspect.
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--userns=host",
            "busybox",
            "cat",
            "/proc/self/uid_map",
        ],
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    let c = ok(&b, &["create", "--userns=host", "busybox", "true"]);
    assert_eq!(
        ok(
            &b,
            &["inspect", "-f", "{{.HostConfig.UsernsMode}}", c.trim()]
        )
        .trim(),
        "host"
    );
}

#[test]
fn volumes_and_binds_show_the_containers_ids_inside_and_mapped_ids_outside() {
    need_root!();
    let b = remapped();
    let ((uid, _), (gid, _)) = ranges();
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            "v1:/data",
            "busybox",
            "sh",
            "-c",
            "echo hi > /data/f && chown 33:33 /data && stat -c '%u %g' /data/f",
        ],
    );
    assert_eq!(out.trim(), "0 0");
    let vol = data(&b).join("volumes/v1/_data");
    assert_eq!(owner(&vol.join("f")), (uid, gid));
    assert_eq!(owner(&vol), (uid + 33, gid + 33));

    // Copy-up from the image into an empty volume keeps the image's ids inside.
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            "v2:/etc",
            "busybox",
            "stat",
            "-c",
            "%u %g",
            "/etc/passwd",
        ],
    );
    assert_eq!(out.trim(), "0 0");
    assert_eq!(owner(&data(&b).join("volumes/v2/_data/passwd")), (uid, gid));

    // A root-owned host file bound in: the container's root is not its owner.
    let secret = b.dir.join("secret");
    std::fs::write(&secret, "orig\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = b.dir.join("rootdir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/s", secret.display()),
        "-v",
        &format!("{}:/d", dir.display()),
        "busybox",
        "sh",
        "-c",
        "cat /s; echo evil > /s && echo wrote; chmod 666 /s && echo chmod; chown 0 /s && echo chown; touch /d/x && echo touched; true",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "orig\n", "every write was refused: {out}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "orig\n");
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(!dir.join("x").exists());

    // A directory the mapped root owns is writable, and what it writes is the mapped ids.
    let mine = b.dir.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::os::unix::fs::chown(&mine, Some(uid), Some(gid)).unwrap();
    ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{}:/m", mine.display()),
            "busybox",
            "sh",
            "-c",
            "echo ok > /m/new && chown 5:5 /m/new",
        ],
    );
    assert_eq!(owner(&mine.join("new")), (uid + 5, gid + 5));

    // A missing -v host directory is made for the remapped root (only what was made).
    let made = b.dir.join("made/sub");
    ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{}:/n", made.display()),
            "busybox",
            "touch",
            "/n/file",
        ],
    );
    assert_eq!(owner(&made), (uid, gid));
    assert_eq!(owner(&b.dir.join("made")), (uid, gid));
    assert_eq!(owner(&b.dir), (0, 0));
    assert_eq!(owner(&made.join("file")), (uid, gid));
}

#[test]
fn what_needs_the_hosts_user_namespace_is_refused() {
    need_root!();
    let b = remapped();
    let (code, _, err) = b.d(&["run", "--rm", "--privileged", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("privileged mode is incompatible with user namespaces"),
        "{err}"
    );
    let (code, _, err) = b.d(&["run", "--rm", "--net=host", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot share the host's network namespace when user namespaces are enabled"),
        "{err}"
    );
    // (the docker CLI itself refuses modes other than host; the daemon does too)
    let (code, _, err) = b.d(&["create", "--userns=private", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("userns"), "{err}");
    // Opting out makes them possible again (as with dockerd).
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--userns=host",
            "--net=host",
            "busybox",
            "cat",
            "/proc/self/uid_map",
        ],
    );
    assert!(out.contains("4294967295"), "{out}");
    ok(
        &b,
        &["create", "--userns=host", "--privileged", "busybox", "true"],
    );
}

#[test]
fn a_remapped_root_cannot_reach_or_change_the_daemons_files() {
    need_root!();
    let b = remapped();
    let (_, (gid, _)) = ranges();
    let root = data(&b);
    let m = std::fs::metadata(&root).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o710, "data root mode");
    assert_eq!((m.uid(), m.gid()), (0, gid), "data root owner");
    for d in [
        root.join("snapshots"),
        root.join("content"),
        b.dir.join("run"),
    ] {
        let m = std::fs::metadata(&d).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700, "{}", d.display());
        assert_eq!(m.uid(), 0, "{}", d.display());
    }
    ok(&b, &["volume", "create", "vv"]);
    // The whole data root bound into a remapped container, as if it had escaped to the host.
    let script = "ls /host/snapshots && echo listed-layers; \
        ls /host/content && echo listed-content; \
        touch /host/x && echo wrote-root; \
        touch /host/containers/x && echo wrote-containers; \
        echo '{}' > /host/volumes/vv/volume.json && echo wrote-volume-record; \
        mv /host/volumes/vv/_data /host/volumes/vv/moved && echo moved-volume; \
        cat /host/snapshots/*/meta.json && echo read-layer; \
        true";
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/host", root.display()),
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "", "nothing succeeded: {out}\n{err}");
    assert!(!root.join("x").exists());
    assert!(!root.join("containers/x").exists());
    assert!(root.join("volumes/vv/_data").is_dir());
    assert!(std::fs::read_to_string(root.join("volumes/vv/volume.json"))
        .unwrap()
        .contains("\"vv\""));
    // The same container as real root (--userns=host) can: the refusals above are the mapping's.
    let (_, out, _) = b.d(&[
        "run",
        "--rm",
        "--userns=host",
        "-v",
        &format!("{}:/host", root.display()),
        "busybox",
        "sh",
        "-c",
        "ls /host/snapshots >/dev/null && echo listed-layers",
    ]);
    assert_eq!(out, "listed-layers\n");
}

fn du_kib(p: &Path) -> u64 {
    let out = Command::new("du").arg("-sk").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn image_layers_are_not_duplicated_per_container() {
    need_root!();
    let b = remapped();
    let snaps = data(&b).join("snapshots");
    let before = du_kib(&snaps);
    let layer = std::fs::read_dir(&snaps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("fs/bin/busybox").exists())
        .expect("the busybox layer");
    let layer_kib = du_kib(&layer);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            ok(&b, &["run", "-d", "busybox", "sleep", "60"])
                .trim()
                .to_string(),
        );
    }
    for id in &ids {
        assert_eq!(
            ok(&b, &["exec", id, "stat", "-c", "%u", "/bin/busybox"]).trim(),
            "0"
        );
    }
    let after = du_kib(&snaps);
    eprintln!(
        "snapshots: {before} KiB before, {after} KiB with 20 running containers; the layer is {layer_kib} KiB"
    );
    assert!(
        after - before < layer_kib,
        "20 containers added {} KiB, more than one copy of the {layer_kib} KiB layer",
        after - before
    );
    assert!(
        !snaps.join(".idmap").exists(),
        "no chown-copies when the kernel id-maps mounts"
    );
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    ok(&b, &args);
}

#[test]
fn commit_records_the_containers_ids_not_the_hosts() {
    need_root!();
    let b = remapped();
    ok(
        &b,
        &[
            "run",
            "--name",
            "src",
            "busybox",
            "sh",
            "-c",
            "echo x > /made && mkdir /home/u && chown 1000:1001 /home/u && echo y >> /etc/group",
        ],
    );
    ok(&b, &["commit", "src", "committed:1"]);
    // Real root sees in the image what the remapped container saw.
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--userns=host",
            "committed:1",
            "stat",
            "-c",
            "%n %u %g",
            "/made",
            "/home/u",
            "/etc/group",
        ],
    );
    assert_eq!(out, "/made 0 0\n/home/u 1000 1001\n/etc/group 0 0\n");
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "committed:1",
            "stat",
            "-c",
            "%u %g",
            "/home/u",
        ],
    );
    assert_eq!(out.trim(), "1000 1001");
}

#[test]
fn docker_cp_moves_owners_through_the_mapping() {
    need_root!();
    let b = remapped();
    let ((uid, _), (gid, _)) = ranges();
    let id = ok(&b, &["run", "-d", "busybox", "sleep", "60"]);
    let id = id.trim();
    // In: the archive's ids (the CLI sends the local file's, here root's) are the container's.
    let src = b.dir.join("in.txt");
    std::fs::write(&src, "data\n").unwrap();
    std::os::unix::fs::chown(&src, Some(0), Some(0)).unwrap();
    ok(&b, &["cp", src.to_str().unwrap(), &format!("{id}:/in.txt")]);
    assert_eq!(
        ok(&b, &["exec", id, "stat", "-c", "%u %g", "/in.txt"]).trim(),
        "0 0"
    );
    let pid = ok(&b, &["inspect", "-f", "{{.State.Pid}}", id]);
    let on_host = PathBuf::from(format!("/proc/{}/root/in.txt", pid.trim()));
    assert_eq!(owner(&on_host), (uid, gid));
    // Out: files the container's uid 7 owns come out as 7 (the CLI keeps them with cp -a).
    ok(
        &b,
        &[
            "exec",
            id,
            "sh",
            "-c",
            "echo o > /out.txt && chown 7:7 /out.txt",
        ],
    );
    let out = b
        .docker()
        .args(["cp", &format!("{id}:/out.txt"), "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = b.dir.join("out.tar");
    std::fs::write(&path, &out.stdout).unwrap();
    let list = Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(&path)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains(" 7/7 "), "{list}");
    // Out of a stopped container (its layers mounted by the daemon, not id-mapped): the image's
    // files and the container's own both come out with the container's ids.
    ok(&b, &["stop", "-t", "0", id]);
    for (p, want) in [("/etc/passwd", " 0/0 "), ("/out.txt", " 7/7 ")] {
        let out = b
            .docker()
            .args(["cp", &format!("{id}:{p}"), "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(&path, &out.stdout).unwrap();
        let list = Command::new("tar")
            .args(["--numeric-owner", "-tvf"])
            .arg(&path)
            .output()
            .unwrap();
        let list = String::from_utf8_lossy(&list.stdout);
        assert!(list.contains(want), "{p}: {list}");
    }
}

#[test]
fn a_build_under_remap_makes_images_owned_as_written() {
    need_root!();
    let b = remapped();
    let ctx = b.dir.join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "copied\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY f /f\nCOPY --chown=3:4 f /g\nRUN touch /r && mkdir /u && chown 1000:1000 /u\n",
    )
    .unwrap();
    let out = b
        .docker()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", "built:1"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--userns=host",
            "built:1",
            "stat",
            "-c",
            "%n %u %g",
            "/f",
            "/g",
            "/r",
            "/u",
        ],
    );
    assert_eq!(out, "/f 0 0\n/g 3 4\n/r 0 0\n/u 1000 1000\n");
}

#[test]
fn init_user_and_shared_namespaces_work_remapped() {
    need_root!();
    let b = remapped();
    let ((uid, _), _) = ranges();
    assert_eq!(
        ok(
            &b,
            &["run", "--rm", "--init", "busybox", "ps", "-o", "comm"]
        )
        .lines()
        .nth(1),
        Some("docker-init")
    );
    // A terminal: the pty is made inside the container's devpts.
    assert_eq!(
        ok(&b, &["run", "--rm", "-t", "busybox", "tty"]).trim(),
        "/dev/pts/0"
    );
    let id = ok(
        &b,
        &["run", "-d", "--user", "1000:1000", "busybox", "sleep", "60"],
    );
    let id = id.trim();
    let pid = ok(&b, &["inspect", "-f", "{{.State.Pid}}", id]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:")
            && l.split_whitespace().nth(1) == Some(&(uid + 1000).to_string())),
        "{status}"
    );
    // Another remapped container in its network namespace.
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--network",
            &format!("container:{id}"),
            "busybox",
            "sh",
            "-c",
            "readlink /proc/self/ns/net",
        ],
    );
    let ns = |t: &str| std::fs::read_link(format!("/proc/{}/ns/{t}", pid.trim())).unwrap();
    assert_eq!(out, format!("{}\n", ns("net").display()));
}

#[test]
fn a_container_runs_only_under_the_mapping_it_was_made_with() {
    need_root!();
    let mut b = remapped();
    let remapped_ctr = ok(&b, &["create", "busybox", "true"]);
    let host_ctr = ok(&b, &["create", "--userns=host", "busybox", "true"]);
    // The same data root under a berthd without --userns-remap.
    b.crash();
    b.spawn();
    let (code, _, err) = b.d(&["start", remapped_ctr.trim()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("created with another user namespace mapping"),
        "{err}"
    );
    ok(&b, &["start", "-a", host_ctr.trim()]);
}

#[test]
fn export_gives_the_containers_ids() {
    need_root!();
    let b = remapped();
    let id = ok(
        &b,
        &[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "echo x > /mine && chown 9:9 /mine && sleep 60",
        ],
    );
    let id = id.trim();
    let pid = ok(&b, &["inspect", "-f", "{{.State.Pid}}", id]);
    let mine = PathBuf::from(format!("/proc/{}/root/mine", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(mine.exists() && owner(&mine).0 != owner(&mine.with_file_name("bin")).0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let path = b.dir.join("export.tar");
    // Running (the id-mapped rootfs), then stopped (the layers mounted without the mapping).
    for running in [true, false] {
        if !running {
            ok(&b, &["stop", "-t", "0", id]);
        }
        let out = b.docker().args(["export", id]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&path, &out.stdout).unwrap();
        let list = Command::new("tar")
            .args(["--numeric-owner", "-tvf"])
            .arg(&path)
            .output()
            .unwrap();
        let list = String::from_utf8_lossy(&list.stdout).into_owned();
        let line = |name: &str| {
            list.lines()
                .find(|l| l.ends_with(name))
                .unwrap_or_else(|| panic!("{name} missing: {list}"))
                .to_string()
        };
        assert!(
            line(" etc/passwd").contains(" 0/0 "),
            "running {running}: {list}"
        );
        assert!(line(" mine").contains(" 9/9 "), "running {running}: {list}");
    }
}

#[test]
fn cp_into_a_stopped_remapped_container_leaves_it_its_own_tree() {
    need_root!();
    let b = remapped();
    let id = ok(
        &b,
        &[
            "create",
            "busybox",
            "sh",
            "-c",
            "stat -c '%n %u %g' /etc /etc/new && touch /etc/x && echo ok",
        ],
    );
    let id = id.trim();
    let src = b.dir.join("new");
    std::fs::write(&src, "n\n").unwrap();
    ok(
        &b,
        &["cp", src.to_str().unwrap(), &format!("{id}:/etc/new")],
    );
    let out = ok(&b, &["start", "-a", id]);
    assert_eq!(out, "/etc 0 0\n/etc/new 0 0\nok\n");
}
