//! Loads compiled profiles in forked children and checks what the kernel then does.
//! The children set no_new_privs first, so these tests do not need root.

mod seccomp_support;

use std::ffi::CString;
use std::path::Path;
use std::sync::Mutex;

use berth_runtime::seccomp::{self, SeccompProgram};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

/// One fork at a time; the other tests of this file wait on the lock meanwhile, so no thread of
/// ours holds the allocator's lock when the child starts.
static FORK: Mutex<()> = Mutex::new(());

fn spec(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("valid LinuxSeccomp")
}

/// Forks; the child sets no_new_privs, loads `prog`, runs `body` and exits 0 on `Ok`, 1 on
/// `Err` (printing it). Returns how the child ended.
fn run(prog: &SeccompProgram, body: impl FnOnce() -> Result<(), String>) -> WaitStatus {
    let _guard = FORK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the child runs only `body` and then `_exit`s; no other thread of ours holds a
    // lock that the child needs (see FORK).
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let res = (|| {
                // No core files from SIGSYS.
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
                    .map_err(|e| format!("setrlimit: {e}"))?;
                rustix::thread::set_no_new_privs(true).map_err(|e| format!("nnp: {e}"))?;
                seccomp::load(prog).map_err(|e| e.to_string())?;
                body()
            })();
            let code = match res {
                Ok(()) => 0,
                Err(msg) => {
                    eprintln!("child: {msg}");
                    1
                }
            };
            // SAFETY: `_exit` has no preconditions; it skips the harness's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
    }
}

fn exited_ok(st: WaitStatus) {
    assert!(
        matches!(st, WaitStatus::Exited(_, 0)),
        "child ended with {st:?}"
    );
}

fn expect_errno<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, Errno>,
    want: Errno,
) -> Result<(), String> {
    match r {
        Err(e) if e == want => Ok(()),
        other => Err(format!("{what}: wanted {want}, got {other:?}")),
    }
}

fn mkdirat(path: &str) -> Result<(), Errno> {
    rustix::fs::mkdirat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o700),
    )
    .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

fn seccomp_mode() -> Result<String, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| "no Seccomp line".into())
}

#[test]
fn denied_syscalls_return_their_errno() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("made").to_string_lossy().into_owned();
    let prog = seccomp::compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO" },
            { "names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }
        ]
    })))
    .expect("compile");
    exited_ok(run(&prog, || {
        expect_errno("mkdirat", mkdirat(&target), Errno::EPERM)?;
        expect_errno("getcwd", nix::unistd::getcwd(), Errno::ENOSYS)?;
        if seccomp_mode()? != "2" {
            return Err("Seccomp is not 2".into());
        }
        Ok(())
    }));
    assert!(!Path::new(&target).exists(), "mkdirat was not denied");
}

#[test]
fn argument_condition_allows_only_the_query() {
    use nix::sys::personality::{self, Persona};
    let prog = seccomp::compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["personality"], "action": "SCMP_ACT_ERRNO",
            "args": [{ "index": 0, "value": 4294967295u64, "op": "SCMP_CMP_NE" }] }]
    })))
    .expect("compile");
    exited_ok(run(&prog, || {
        personality::get().map_err(|e| format!("personality(0xffffffff): {e}"))?;
        expect_errno(
            "personality(READ_IMPLIES_EXEC)",
            personality::set(Persona::READ_IMPLIES_EXEC),
            Errno::EPERM,
        )
    }));
}

#[test]
fn kill_process_kills_with_sigsys() {
    let prog = seccomp::compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS" }]
    })))
    .expect("compile");
    let st = run(&prog, || {
        let _ = nix::unistd::getppid();
        Err("getppid returned".into())
    });
    assert!(
        matches!(st, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "child ended with {st:?}"
    );
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("made").to_string_lossy().into_owned();
    let s = spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["berth_no_such_syscall", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
            { "names": ["another_unknown_one"], "action": "SCMP_ACT_KILL" }
        ]
    }));
    let prog = seccomp::compile(&s).expect("unknown names are not fatal");
    exited_ok(run(&prog, || {
        expect_errno("mkdirat", mkdirat(&target), Errno::EACCES)
    }));
}

#[test]
fn notify_returns_a_listener_fd() {
    let prog = seccomp::compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/berth-test-agent.sock",
        "syscalls": [{ "names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
    })))
    .expect("compile");
    assert!(prog.needs_listener());
    let _guard = FORK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the child only makes syscalls and `_exit`s.
    let st = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let ok = rustix::thread::set_no_new_privs(true).is_ok()
                && matches!(seccomp::load(&prog), Ok(Some(fd))
                    if rustix::io::fcntl_getfd(&fd).is_ok_and(|f| f.contains(rustix::io::FdFlags::CLOEXEC)));
            // SAFETY: `_exit` has no preconditions.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
    };
    drop(_guard);
    exited_ok(st);
}

fn busybox() -> Option<CString> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/fixtures");
    let mut candidates: Vec<_> = std::fs::read_dir(&fixtures)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("rootfs/bin/busybox"))
        .collect();
    candidates.push("/bin/busybox".into());
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .and_then(|p| CString::new(p.into_os_string().into_encoded_bytes()).ok())
}

#[test]
fn docker_default_profile_runs_busybox() {
    let Some(bb) = busybox() else {
        eprintln!("skipping: no busybox fixture (scripts make it) and no /bin/busybox");
        return;
    };
    let prog = seccomp::compile(&seccomp_support::docker_default()).expect("compile");
    let dir = tempfile::tempdir().expect("tempdir");
    let work = CString::new(dir.path().to_string_lossy().as_bytes()).expect("path");
    let script = CString::new(
        "set -e; grep -q '^Seccomp:[[:space:]]*2$' /proc/self/status; \
         mkdir \"$1/d\"; echo hi > \"$1/d/f\"; cat \"$1/d/f\" >/dev/null; \
         ls / >/dev/null; true",
    )
    .expect("script");
    exited_ok(run(&prog, || {
        use nix::sys::personality::{self, Persona};
        if seccomp_mode()? != "2" {
            return Err("Seccomp is not 2".into());
        }
        // Allowed by Docker's profile.
        personality::get().map_err(|e| format!("personality query: {e}"))?;
        // Denied with Docker's default capabilities (no CAP_SYS_ADMIN in the rendered profile).
        expect_errno(
            "unshare(CLONE_NEWNS)",
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS),
            Errno::EPERM,
        )?;
        expect_errno(
            "personality(READ_IMPLIES_EXEC)",
            personality::set(Persona::READ_IMPLIES_EXEC),
            Errno::EPERM,
        )?;
        // clone3 answers ENOSYS, so that libcs fall back to clone.
        // SAFETY: clone3 with a null args pointer and size 0 is rejected by the kernel (or the
        // filter) before anything is read; no process is created.
        let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
        if rc != -1 || Errno::last() != Errno::ENOSYS {
            return Err(format!(
                "clone3: wanted ENOSYS, got {rc} / {}",
                Errno::last()
            ));
        }
        // A fork and exec of busybox works under the profile.
        // SAFETY: this child is single-threaded; the grandchild only execs or `_exit`s.
        match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {
                let _ =
                    nix::unistd::execv(&bb, &[bb.as_c_str(), c"sh", c"-c", &script, c"sh", &work]);
                // SAFETY: `_exit` has no preconditions.
                unsafe { libc::_exit(127) }
            }
            ForkResult::Parent { child } => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                other => Err(format!("busybox sh ended with {other:?}")),
            },
        }
    }));
}
