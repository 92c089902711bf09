//! Black-box: volumes, bind mounts and tmpfs with the stock `docker` CLI against berthd.
#![allow(clippy::unwrap_used)]

mod common;

use common::Berthd;

/// Runs `docker args`, asserting success; returns stdout.
fn ok(b: &Berthd, args: &[&str]) -> String {
    let (code, out, err) = b.d(args);
    assert_eq!(code, 0, "docker {args:?}: {err}\n{}", b.log());
    out
}

#[test]
fn named_volumes_keep_data_between_containers() {
    need_root!();
    let b = Berthd::start();
    assert_eq!(
        ok(&b, &["volume", "create", "--label", "tier=db", "data"]),
        "data\n"
    );
    ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "busybox",
            "sh",
            "-c",
            "echo kept > /data/f",
        ],
    );
    assert_eq!(
        ok(
            &b,
            &["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"]
        ),
        "kept\n"
    );
    // :ro refuses writes and the data stays.
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "-v",
        "data:/d:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /d/f",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(
        ok(
            &b,
            &[
                "run",
                "--rm",
                "--mount",
                "type=volume,src=data,dst=/d,readonly",
                "busybox",
                "cat",
                "/d/f"
            ]
        ),
        "kept\n"
    );
    // ls with filters, inspect.
    let ls = ok(
        &b,
        &[
            "volume",
            "ls",
            "--filter",
            "label=tier=db",
            "--format",
            "{{.Name}} {{.Driver}}",
        ],
    );
    assert_eq!(ls, "data local\n");
    assert_eq!(
        ok(&b, &["volume", "ls", "-q", "--filter", "label=tier=web"]),
        ""
    );
    let mp = ok(&b, &["volume", "inspect", "-f", "{{.Mountpoint}}", "data"]);
    assert!(mp.trim().ends_with("/volumes/data/_data"), "{mp}");
    assert_eq!(
        std::fs::read_to_string(format!("{}/f", mp.trim())).unwrap(),
        "kept\n"
    );
    // A name that is a path or has odd characters is refused, and nothing is made.
    let (code, _, err) = b.d(&["volume", "create", "../escape"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("includes invalid characters for a local volume name"),
        "{err}"
    );
    assert!(!b.dir.join("data/escape").exists());
    let (code, _, err) = b.d(&["volume", "inspect", "nosuch"]);
    assert_ne!(code, 0);
    assert!(err.contains("no such volume"), "{err}");
}

#[test]
fn in_use_volumes_cannot_be_removed_and_rm_v_takes_only_anonymous_ones() {
    need_root!();
    let mut b = Berthd::start();
    ok(
        &b,
        &[
            "run",
            "--name",
            "holder",
            "-v",
            "keep:/k",
            "-v",
            "/anon",
            "busybox",
            "sh",
            "-c",
            "echo precious > /k/f",
        ],
    );
    let (code, _, err) = b.d(&["volume", "rm", "keep"]);
    assert_ne!(code, 0);
    assert!(err.contains("volume is in use"), "{err}");
    // -f does not override that either, and the data is still there.
    let (code, _, _) = b.d(&["volume", "rm", "-f", "keep"]);
    assert_ne!(code, 0);
    // After a daemon crash the users are known again.
    b.crash();
    b.spawn();
    let (code, _, err) = b.d(&["volume", "rm", "keep"]);
    assert_ne!(code, 0, "in use after restart");
    assert!(err.contains("volume is in use"), "{err}");
    let mounts = ok(
        &b,
        &[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Name}}|{{end}}",
            "holder",
        ],
    );
    assert!(mounts.contains("volume /k keep|"), "{mounts}");
    let anon: String = mounts
        .split('|')
        .find(|m| m.starts_with("volume /anon "))
        .map(|m| m.rsplit(' ').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("{mounts}"));
    assert_eq!(anon.len(), 64);
    let listed = ok(&b, &["volume", "ls", "-q"]);
    assert!(
        listed.contains(&anon) && listed.contains("keep"),
        "{listed}"
    );
    let dangling = ok(&b, &["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling, "");
    ok(&b, &["rm", "-v", "holder"]);
    let listed = ok(&b, &["volume", "ls", "-q"]);
    assert_eq!(listed, "keep\n", "rm -v removes the anonymous volume only");
    assert_eq!(
        ok(
            &b,
            &["run", "--rm", "-v", "keep:/k", "busybox", "cat", "/k/f"]
        ),
        "precious\n"
    );
    // --rm removes its anonymous volumes too.
    ok(&b, &["run", "--rm", "-v", "/scratch", "busybox", "true"]);
    assert_eq!(ok(&b, &["volume", "ls", "-q"]), "keep\n");
    ok(&b, &["volume", "rm", "keep"]);
    assert_eq!(ok(&b, &["volume", "ls", "-q"]), "");
}

#[test]
fn copy_up_fills_an_empty_volume_from_the_image() {
    need_root!();
    let b = Berthd::start();
    // The image's /etc lands in a fresh volume, with owners and modes.
    let ls = ok(
        &b,
        &["run", "--rm", "-v", "etcvol:/etc", "busybox", "ls", "/etc"],
    );
    assert!(ls.contains("passwd") && ls.contains("group"), "{ls}");
    let mode = ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            "etcvol:/x",
            "busybox",
            "stat",
            "-c",
            "%a %u",
            "/x/passwd",
        ],
    );
    let image_mode = ok(
        &b,
        &[
            "run",
            "--rm",
            "busybox",
            "stat",
            "-c",
            "%a %u",
            "/etc/passwd",
        ],
    );
    assert_eq!(mode, image_mode);
    // A volume with content is not overwritten, and nocopy keeps a fresh one empty.
    ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            "etcvol:/x",
            "busybox",
            "rm",
            "/x/passwd",
        ],
    );
    let ls = ok(
        &b,
        &["run", "--rm", "-v", "etcvol:/etc", "busybox", "ls", "/etc"],
    );
    assert!(!ls.contains("passwd"), "{ls}");
    // (Only the mount points of /etc/hostname, /etc/hosts and /etc/resolv.conf appear.)
    let ls = ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            "empty:/etc:nocopy",
            "busybox",
            "ls",
            "/etc",
        ],
    );
    assert!(!ls.contains("passwd") && !ls.contains("group"), "{ls}");
    // An image VOLUME gets an anonymous volume with the image's content.
    ok(
        &b,
        &[
            "commit",
            "--change",
            "VOLUME /etc",
            &new_ctr(&b),
            "withvol:1",
        ],
    );
    let out = ok(
        &b,
        &["run", "--name", "iv", "withvol:1", "cat", "/etc/passwd"],
    );
    assert!(out.contains("root"), "{out}");
    let t = ok(
        &b,
        &[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}}{{end}}",
            "iv",
        ],
    );
    assert_eq!(t.trim(), "volume /etc true");
    ok(&b, &["rm", "-v", "iv"]);
}

fn new_ctr(b: &Berthd) -> String {
    ok(b, &["create", "busybox", "true"]).trim().to_string()
}

#[test]
fn tmpfs_mounts_are_empty_and_sized() {
    need_root!();
    let b = Berthd::start();
    let df = ok(
        &b,
        &[
            "run",
            "--rm",
            "--tmpfs",
            "/scratch:size=2m,mode=1777",
            "busybox",
            "sh",
            "-c",
            "ls -A /scratch; stat -c %a /scratch; df -k /scratch | tail -1",
        ],
    );
    let lines: Vec<&str> = df.lines().collect();
    assert_eq!(lines[0], "1777", "{df}");
    assert!(lines[1].split_whitespace().nth(1) == Some("2048"), "{df}");
    let df = ok(
        &b,
        &[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=1048576",
            "busybox",
            "sh",
            "-c",
            "df -k /t | tail -1; grep ' /t ' /proc/self/mountinfo",
        ],
    );
    assert!(
        df.lines().next().unwrap().split_whitespace().nth(1) == Some("1024"),
        "{df}"
    );
    assert!(
        df.contains("nosuid") && df.contains("nodev") && df.contains("noexec"),
        "{df}"
    );
    // A tmpfs volume from driver options.
    ok(
        &b,
        &[
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=3m",
            "tv",
        ],
    );
    let df = ok(
        &b,
        &["run", "--rm", "-v", "tv:/tv", "busybox", "df", "-k", "/tv"],
    );
    assert!(
        df.lines().last().unwrap().split_whitespace().nth(1) == Some("3072"),
        "{df}"
    );
    ok(&b, &["volume", "rm", "tv"]);
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mi.contains(&format!("{}/", b.dir.display())),
        "the volume's tmpfs is unmounted:\n{mi}"
    );
}

#[test]
fn bind_mounts_follow_dockers_rules() {
    need_root!();
    let b = Berthd::start();
    let host = b.dir.join("hostdir");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("f"), "from host\n").unwrap();
    let h = host.display().to_string();
    assert_eq!(
        ok(
            &b,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{h}:/h"),
                "busybox",
                "cat",
                "/h/f"
            ]
        ),
        "from host\n"
    );
    ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{h}:/h"),
            "busybox",
            "sh",
            "-c",
            "echo back > /h/g",
        ],
    );
    assert_eq!(std::fs::read_to_string(host.join("g")).unwrap(), "back\n");
    // Read-only binds are read-only all the way down (a mount below the source too).
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/h:ro"),
        "busybox",
        "touch",
        "/h/x",
    ]);
    assert_ne!(code, 0, "{err}");
    // -v makes a missing host directory; --mount refuses it with Docker's text.
    let missing = b.dir.join("made-by-v");
    ok(
        &b,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{}:/m", missing.display()),
            "busybox",
            "true",
        ],
    );
    assert!(missing.is_dir());
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={}/nope,dst=/m", b.dir.display()),
        "busybox",
        "true",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("bind source path does not exist"), "{err}");
    // Inspect shows Docker's fields.
    ok(
        &b,
        &[
            "create",
            "--name",
            "bm",
            "-v",
            &format!("{h}:/h:ro"),
            "busybox",
            "true",
        ],
    );
    let m = ok(&b, &["inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.Mode}} {{.RW}} {{.Propagation}}{{end}}", "bm"]);
    assert_eq!(m.trim(), format!("bind {h} /h ro false rprivate"));
    // Errors: destination `/`, a relative destination, a duplicate destination.
    for (args, want) in [
        (vec!["-v", "/tmp:/"], "destination can't be '/'"),
        (vec!["-v", "vol:rel"], "mount path must be absolute"),
        (
            vec!["-v", "a1:/x", "-v", "b1:/x"],
            "Duplicate mount point: /x",
        ),
    ] {
        let mut a = vec!["create"];
        a.extend(args);
        a.extend(["busybox", "true"]);
        let (code, _, err) = b.d(&a);
        assert_ne!(code, 0);
        assert!(err.contains(want), "{a:?}: {err}");
    }
    assert_eq!(
        ok(&b, &["volume", "ls", "-q"]),
        "",
        "a failed create leaves no volume"
    );
}

#[test]
fn volumes_from_shares_the_same_data() {
    need_root!();
    let b = Berthd::start();
    ok(
        &b,
        &[
            "create",
            "--name",
            "store",
            "-v",
            "shared:/shared",
            "-v",
            "/anon",
            "busybox",
            "true",
        ],
    );
    ok(
        &b,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "store",
            "busybox",
            "sh",
            "-c",
            "echo one > /shared/a; echo two > /anon/b",
        ],
    );
    assert_eq!(
        ok(
            &b,
            &[
                "run",
                "--rm",
                "--volumes-from",
                "store",
                "busybox",
                "cat",
                "/shared/a",
                "/anon/b"
            ]
        ),
        "one\ntwo\n"
    );
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "--volumes-from",
        "store:ro",
        "busybox",
        "touch",
        "/shared/c",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only"), "{err}");
    // --read-only root with writable volumes.
    assert_eq!(
        ok(
            &b,
            &[
                "run",
                "--rm",
                "--read-only",
                "--volumes-from",
                "store",
                "busybox",
                "sh",
                "-c",
                "touch /shared/ok && echo yes; touch /nope 2>/dev/null || echo no"
            ]
        ),
        "yes\nno\n"
    );
}

/// A container that flips a directory of a shared volume with a symlink while another mounts
/// below that directory: every mount lands inside the victim's root, never on a host path.
#[test]
fn a_symlink_race_in_a_shared_volume_never_mounts_on_the_host() {
    need_root!();
    let b = Berthd::start();
    let marker = b.dir.join("marker");
    std::fs::create_dir_all(&marker).unwrap();
    std::fs::write(marker.join("m"), "marker\n").unwrap();
    ok(&b, &["volume", "create", "race"]);
    ok(&b, &["run", "-d", "--name", "flipper", "-v", "race:/v", "busybox", "sh", "-c",
        "while :; do mkdir /v/x 2>/dev/null; rmdir /v/x 2>/dev/null; ln -s /etc /v/x 2>/dev/null; rm -f /v/x; done"]);
    let m = marker.display().to_string();
    let mut landed = std::collections::BTreeMap::new();
    for _ in 0..40 {
        let (code, out, _) = b.d(&[
            "run",
            "--rm",
            "-v",
            "race:/data",
            "-v",
            &format!("{m}:/data/x:ro"),
            "busybox",
            "cat",
            "/proc/self/mountinfo",
        ]);
        if code != 0 {
            *landed.entry("failed to start").or_insert(0) += 1;
            continue;
        }
        // Inside the root: on /data/x, or on the symlink's target resolved in the root (/etc).
        // Missing: the flipper's rmdir of the directory detached the mount (the kernel drops
        // mounts on a directory removed in another mount namespace).
        let line = out
            .lines()
            .find(|l| l.split(' ').nth(3) == Some(m.as_str()));
        let target = line.and_then(|l| l.split(' ').nth(4)).unwrap_or("missing");
        assert!(
            matches!(target, "/data/x" | "/etc" | "missing"),
            "the bind went to {target}:\n{out}"
        );
        let key = match target {
            "/data/x" => "/data/x",
            "/etc" => "/etc",
            _ => "missing",
        };
        *landed.entry(key).or_insert(0) += 1;
    }
    eprintln!("race outcomes: {landed:?}");
    ok(&b, &["rm", "-f", "flipper"]);
    assert!(
        landed.get("/data/x").copied().unwrap_or(0) > 0,
        "no victim ever mounted: {landed:?}"
    );
    // The host's mount table (other tests run berthds side by side, so only what this test
    // could have caused is checked): nothing of the marker, nothing on /etc.
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !after.lines().any(|l| l.split(' ').nth(4) == Some("/etc")),
        "the host's /etc got a mount:\n{after}"
    );
    assert!(!after.contains(&m));
    assert!(std::fs::read_to_string("/etc/hostname").is_ok());
}
