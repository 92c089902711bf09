//! Black-box: containers run under Berth's seccomp profile (crates/daemon/src/containers/spec/
//! seccomp.rs), with the stock `docker` CLI against a real berthd on a temp root and socket.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::Berthd;

fn seccomp_mode(b: &Berthd, extra: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "grep", "^Seccomp:", "/proc/self/status"]);
    let (code, out, err) = b.d(&args);
    assert_eq!(code, 0, "{extra:?}: {err}\n{}", b.log());
    out.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn containers_run_under_the_default_profile() {
    need_root!();
    let b = Berthd::start();
    // Mode 2: a filter is loaded.
    assert_eq!(seccomp_mode(&b, &[]), "2");

    // A user namespace needs no capability, so only the filter refuses it.
    let (code, _, err) = b.d(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /mnt && mount -t tmpfs t /mnt",
    ]);
    assert_ne!(code, 0, "mount worked without CAP_SYS_ADMIN");
    assert!(
        err.contains("denied") || err.contains("not permitted"),
        "{err}"
    );

    // Ordinary work is unaffected: fork (clone without namespace flags), exec, files, /proc,
    // time, sockets (wget gets its socket and fails to connect, whatever the network says).
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls / >/dev/null && cat /etc/passwd >/dev/null && date >/dev/null && ps >/dev/null \
         && (echo x | sed s/x/y/) && sleep 0.01 && echo ok; \
         wget -O- http://127.0.0.1:9/ 2>&1; true",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("y\nok\n"), "{out}");
    assert!(out.contains("can't connect to remote host"), "{out}");
    assert!(!out.contains("not permitted"), "{out}");

    // exec'd processes get the container's filter too.
    let (code, _, err) = b.d(&["run", "-d", "--name", "sc", "busybox", "sleep", "60"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = b.d(&["exec", "sc", "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.split_whitespace().nth(1), Some("2"), "{out}");
    let (code, _, err) = b.d(&["exec", "sc", "unshare", "-U", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    let _ = b.run(&["rm", "-f", "sc"]);

    // The runtime compiled the profile once and keeps it in a root-only cache below its state
    // root; every container above had the same capabilities, hence one entry.
    use std::os::unix::fs::PermissionsExt;
    let cache = b.dir.join("run/runtime/.seccomp-cache");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(mode(&entries[0]), 0o600);
}

#[test]
fn capabilities_options_and_privilege_change_the_profile() {
    need_root!();
    let b = Berthd::start();
    // CAP_SYS_ADMIN brings mount (and namespaces) back.
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /mnt && mount -t tmpfs t /mnt && grep -c ' /mnt tmpfs' /proc/mounts \
         && unshare -U true && echo unshared",
    ]);
    assert_eq!(code, 0, "{err}\n{}", b.log());
    assert_eq!(out, "1\nunshared\n");
    assert_eq!(seccomp_mode(&b, &["--cap-add", "SYS_ADMIN"]), "2");

    // Unconfined and privileged: no filter.
    assert_eq!(
        seccomp_mode(&b, &["--security-opt", "seccomp=unconfined"]),
        "0"
    );
    // --privileged asks for every capability, which capset refuses where the host's own
    // bounding set lacks some (unit tests cover that privileged renders no profile).
    let full = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l == "CapBnd:\t000001ffffffffff");
    if full {
        assert_eq!(seccomp_mode(&b, &["--privileged"]), "0");
    } else {
        eprintln!("--privileged not checked: this host's capability bounding set is not full");
    }
    let (code, _, err) = b.d(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    assert_eq!(code, 0, "{err}");

    // A profile file (the docker CLI sends its text), in Docker's format: allow everything
    // but mkdir.
    let profile = b.dir.join("berth-profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 1, "comment": "", "includes": {}, "excludes": {}}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let (code, out, err) = b.d(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "echo before; mkdir /berth-x",
    ]);
    assert_ne!(code, 0);
    assert_eq!(out, "before\n");
    assert!(err.contains("Operation not permitted"), "{err}");
    // A broken profile is refused at create, naming the problem.
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#).unwrap();
    let (code, _, err) = b.d(&["run", "--rm", "--security-opt", &opt, "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("seccomp profile"), "{err}");
}
