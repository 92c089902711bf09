//! Applies capability sets in a forked child, the way the process stages do, and checks
//! `/proc/self/status` afterwards. Needs root; skips otherwise.

use std::sync::Mutex;

use berth_runtime::caps::{self, CapSets};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setresgid, setresuid, ForkResult, Gid, Uid};

/// Forking from the multi-threaded test harness: one fork at a time, while the other tests of
/// this file wait on the lock (so no other thread of ours holds the allocator's lock).
static FORK: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    if Uid::effective().is_root() {
        return true;
    }
    eprintln!("skipping: needs root");
    false
}

/// Runs `child` in a forked process and returns its exit code (or panics on a signal).
fn in_child(child: impl FnOnce() -> Result<(), String>) -> i32 {
    let _guard = FORK.lock().unwrap_or_else(|e| e.into_inner());
    // Cache before forking, as the process stages must.
    let _ = caps::last_cap();
    // SAFETY: the child only runs `child` (no other threads of ours hold locks, see FORK) and
    // then `_exit`s without returning into the harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = match child() {
                Ok(()) => 0,
                Err(msg) => {
                    eprintln!("child: {msg}");
                    1
                }
            };
            // SAFETY: `_exit` has no preconditions; it skips the harness's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        },
    }
}

fn bits(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |acc, c| acc | (1u64 << c))
}

/// drop_bounding → keep caps → setresgid/setresuid → no keep caps → apply, then compare.
fn stage_and_check(sets: CapSets, uid: u32) -> Result<(), String> {
    caps::drop_bounding(&sets).map_err(|e| e.to_string())?;
    caps::set_keep_caps(true).map_err(|e| e.to_string())?;
    let gid = Gid::from_raw(uid);
    setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
    let u = Uid::from_raw(uid);
    setresuid(u, u, u).map_err(|e| format!("setresuid: {e}"))?;
    caps::set_keep_caps(false).map_err(|e| e.to_string())?;
    caps::apply(&sets).map_err(|e| e.to_string())?;
    let now = caps::current().map_err(|e| e.to_string())?;
    if now != sets {
        return Err(format!("wanted {sets:#x?}, have {now:#x?}"));
    }
    if Uid::effective().as_raw() != uid {
        return Err("uid did not change".into());
    }
    Ok(())
}

#[test]
fn docker_default_set_as_non_root_user() {
    if !is_root() {
        return;
    }
    let docker = bits(&[0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31]);
    assert_eq!(docker, 0xa804_25fb);
    let sets = CapSets {
        bounding: docker,
        effective: docker,
        permitted: docker,
        inheritable: 0,
        ambient: 0,
    };
    assert_eq!(in_child(|| stage_and_check(sets, 1000)), 0);
}

#[test]
fn ambient_capability_survives_as_non_root() {
    if !is_root() {
        return;
    }
    let nbs = bits(&[10]); // CAP_NET_BIND_SERVICE
    let sets = CapSets {
        bounding: bits(&[10, 5]),
        effective: nbs,
        permitted: nbs,
        inheritable: nbs,
        ambient: nbs,
    };
    assert_eq!(in_child(|| stage_and_check(sets, 1000)), 0);
}

#[test]
fn ambient_is_exec_inherited() {
    if !is_root() {
        return;
    }
    let nbs = bits(&[10]);
    let sets = CapSets {
        bounding: nbs,
        effective: nbs,
        permitted: nbs,
        inheritable: nbs,
        ambient: nbs,
    };
    // After exec of a plain binary as uid 1000, the ambient set becomes permitted and effective.
    let code = in_child(|| {
        stage_and_check(sets, 1000)?;
        let sh = c"/bin/sh";
        let script = c"grep -q '^CapEff:.*0000000000000400$' /proc/self/status && grep -q '^CapAmb:.*0000000000000400$' /proc/self/status";
        nix::unistd::execv(sh, &[sh, c"-c", script]).map_err(|e| format!("execv: {e}"))?;
        Ok(())
    });
    assert_eq!(code, 0);
}

#[test]
fn root_with_reduced_sets_and_empty_effective() {
    if !is_root() {
        return;
    }
    let sets = CapSets {
        bounding: bits(&[0, 21]),
        effective: 0,
        permitted: bits(&[0, 21]),
        inheritable: bits(&[21]),
        ambient: 0,
    };
    assert_eq!(in_child(|| stage_and_check(sets, 0)), 0);
}

#[test]
fn ambient_not_inheritable_is_an_error() {
    if !is_root() {
        return;
    }
    let nbs = bits(&[10]);
    let sets = CapSets {
        bounding: nbs,
        effective: nbs,
        permitted: nbs,
        inheritable: 0,
        ambient: nbs,
    };
    let code = in_child(|| match caps::apply(&sets) {
        Err(e) if e.to_string().contains("CAP_NET_BIND_SERVICE") => Ok(()),
        other => Err(format!("expected an error naming the cap, got {other:?}")),
    });
    assert_eq!(code, 0);
}

#[test]
fn privileged_full_sets() {
    if !is_root() {
        return;
    }
    // This machine may itself run with a reduced bounding set (no CAP_SYS_RESOURCE here):
    // nothing outside it can be granted, so intersect.
    let have = caps::current().expect("current").bounding;
    let full = CapSets::full().within(have);
    let code = in_child(|| {
        caps::drop_bounding(&full).map_err(|e| e.to_string())?;
        caps::apply(&full).map_err(|e| e.to_string())?;
        let now = caps::current().map_err(|e| e.to_string())?;
        if now != full {
            return Err(format!("wanted {full:#x?}, have {now:#x?}"));
        }
        Ok(())
    });
    assert_eq!(code, 0);
}
