//! Root integration tests: real cgroups, created only below this test process's own cgroup in
//! each hierarchy (relative `cgroupsPath`s), named `berth-test-<pid>-<test>`, and removed by a
//! Drop guard even when a test fails. Without root they print why and pass.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_cgroups::{CgroupPath, FreezerState, Layout, LayoutKind, Manager, Version};
use oci_spec::runtime::LinuxResources;
use serde_json::json;

macro_rules! need_root {
    () => {
        if !rustix::process::geteuid().is_root() {
            eprintln!(
                "skipping {}: needs root to create cgroups (CI runs it as root)",
                module_path!()
            );
            return;
        }
    };
}

fn name(test: &str) -> String {
    format!("berth-test-{}-{test}", std::process::id())
}

/// Kills our children, kills whatever is left in the cgroup, removes it. Runs on panic too.
struct Guard {
    m: Manager,
    children: Vec<Child>,
}

impl Guard {
    fn new(m: &Manager) -> Guard {
        Guard {
            m: m.clone(),
            children: Vec::new(),
        }
    }

    /// Starts `script` under `sh`; it waits for a line on stdin before running, so that it can
    /// be moved into the cgroup first (see [`go`]).
    fn spawn(&mut self, script: &str) -> usize {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read _go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    fn pid(&self, i: usize) -> i32 {
        i32::try_from(self.children[i].id()).unwrap()
    }

    fn go(&mut self, i: usize) {
        writeln!(self.children[i].stdin.as_mut().unwrap(), "go").unwrap();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.m.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.m.kill_all(libc::SIGKILL);
        wait_empty(&self.m);
        let dirs = self.m.paths();
        if let Err(e) = self.m.destroy() {
            eprintln!("cleanup: {e}");
        }
        // destroy() leaves parents it did not name `berth`: the test's own are removed here.
        for (_, d) in dirs {
            if let Some(p) = d.parent() {
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("berth-test"))
                {
                    let _ = std::fs::remove_dir(p);
                }
            }
        }
    }
}

fn wait_empty(m: &Manager) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !m.all_pids().unwrap_or_default().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .to_string()
}

/// Our own cgroup directory in the hierarchy of `controller` ("" = unified).
fn own_dir(layout: &Layout, controller: &str) -> Option<PathBuf> {
    if controller.is_empty() {
        layout.unified.as_ref()?.own_dir()
    } else {
        layout.v1_hierarchy(controller)?.own_dir()
    }
}

/// Waits until `pid` has exec'd `comm` (so that its memory is charged after joining).
fn wait_comm(pid: i32, comm: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("pid {pid} did not exec {comm}");
}

#[test]
fn limits_processes_freeze_stats_kill_destroy() {
    need_root!();
    let layout = Layout::detect().unwrap();
    let top = name("main");
    // Two levels, relative: below our own cgroup in every hierarchy.
    let path = CgroupPath::parse(&format!("{top}/ctr")).unwrap();
    let m = Manager::new(&layout, &path).unwrap();
    let mut g = Guard::new(&m);

    m.create().unwrap();
    assert!(m.exists());
    for (ctrl, dir) in m.paths() {
        let own = own_dir(&layout, &ctrl).unwrap();
        assert_eq!(dir, own.join(&top).join("ctr"), "{ctrl}");
        assert!(dir.is_dir(), "{}", dir.display());
    }

    let warnings = m
        .apply(&res(json!({
            "memory": {"limit": 32 << 20},
            "pids": {"limit": 20},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000}
        })))
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    match m.version() {
        Version::V1 => {
            let mem = m.dir("memory").unwrap();
            assert_eq!(
                read(mem, "memory.limit_in_bytes"),
                (32u64 << 20).to_string()
            );
            assert_eq!(read(m.dir("pids").unwrap(), "pids.max"), "20");
            let cpu = m.dir("cpu").unwrap();
            assert_eq!(read(cpu, "cpu.shares"), "512");
            assert_eq!(read(cpu, "cpu.cfs_quota_us"), "50000");
            assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
        }
        Version::V2 => {
            let d = m.dir("").unwrap();
            assert_eq!(read(d, "memory.max"), (32u64 << 20).to_string());
            assert_eq!(read(d, "pids.max"), "20");
            assert_eq!(read(d, "cpu.max"), "50000 100000");
            assert_eq!(read(d, "cpu.weight"), "20");
        }
    }

    // A process joins (v1: the cpuset was filled from the parent, else this fails).
    let c = g.spawn("exec sleep 1000");
    let pid = g.pid(c);
    m.add_pid(pid).unwrap();
    g.go(c);
    wait_comm(pid, "sleep");
    assert_eq!(m.pids().unwrap(), [pid]);
    assert_eq!(m.all_pids().unwrap(), [pid]);

    // Freeze and thaw.
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    m.freeze().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    m.thaw().unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);

    let st = m.stats().unwrap();
    assert!(st.memory.usage > 0, "{:?}", st.memory);
    assert_eq!(st.memory.limit, Some(32 << 20));
    assert_eq!(st.pids.current, 1);
    assert_eq!(st.pids.limit, Some(20));
    assert!(st.cpu.usage_total_ns > 0, "{:?}", st.cpu);
    assert!(!st.memory.stat.is_empty());
    serde_json::to_string(&st).unwrap();
    assert_eq!(m.oom_kill_count().unwrap(), 0);

    m.kill_all(libc::SIGKILL).unwrap();
    let status = g.children[c].wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    wait_empty(&m);
    assert!(m.pids().unwrap().is_empty());

    let dirs = m.paths();
    m.destroy().unwrap();
    for (ctrl, dir) in dirs {
        assert!(!dir.exists(), "{ctrl}: {} still exists", dir.display());
        // A parent not named `berth` is the caller's (like dockerd's --cgroup-parent): it stays.
        assert!(
            dir.parent().unwrap().exists(),
            "{ctrl}: removed a parent it did not own"
        );
    }
    assert!(!m.exists());
    // Destroying again is fine.
    m.destroy().unwrap();
}

#[test]
fn oom_kill_is_counted() {
    need_root!();
    let layout = Layout::detect().unwrap();
    let m = Manager::new(&layout, &CgroupPath::parse(&name("oom")).unwrap()).unwrap();
    let mut g = Guard::new(&m);
    m.create().unwrap();
    // 32 MiB and no swap (memory+swap total = memory).
    m.apply(&res(
        json!({"memory": {"limit": 32 << 20, "swap": 32 << 20}}),
    ))
    .unwrap();
    assert_eq!(m.oom_kill_count().unwrap(), 0);
    let c = g.spawn("exec dd if=/dev/zero of=/dev/null bs=200M count=1");
    m.add_pid(g.pid(c)).unwrap();
    g.go(c);
    let status = g.children[c].wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(m.oom_kill_count().unwrap() >= 1);
}

#[test]
fn kill_all_reaches_forked_children() {
    need_root!();
    let layout = Layout::detect().unwrap();
    let m = Manager::new(&layout, &CgroupPath::parse(&name("forks")).unwrap()).unwrap();
    let mut g = Guard::new(&m);
    m.create().unwrap();
    let c = g.spawn("sleep 1000 & sleep 1000 & wait");
    m.add_pid(g.pid(c)).unwrap();
    g.go(c);
    let deadline = Instant::now() + Duration::from_secs(5);
    while m.all_pids().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "children did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGTERM takes the freeze, signal, thaw path on every version.
    m.kill_all(libc::SIGTERM).unwrap();
    let status = g.children[c].wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    wait_empty(&m);
    assert!(m.all_pids().unwrap().is_empty());
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
}

#[test]
fn updates_and_kernel_errors() {
    need_root!();
    let layout = Layout::detect().unwrap();
    let m = Manager::new(&layout, &CgroupPath::parse(&name("update")).unwrap()).unwrap();
    let _g = Guard::new(&m);
    m.create().unwrap();
    let mem = |l: i64| res(json!({"memory": {"limit": l, "swap": l}}));
    m.apply(&mem(32 << 20)).unwrap();
    // Raising limit and memsw together needs memsw first on v1: the apply layer reorders.
    m.apply(&mem(64 << 20)).unwrap();
    m.apply(&mem(16 << 20)).unwrap();
    if m.version() == Version::V1 {
        let d = m.dir("memory").unwrap();
        assert_eq!(read(d, "memory.limit_in_bytes"), (16u64 << 20).to_string());
        if d.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(
                read(d, "memory.memsw.limit_in_bytes"),
                (16u64 << 20).to_string()
            );
        }
    }
    // The kernel refuses a 500 µs period: the error names the file and the value.
    let e = m
        .apply(&res(json!({"cpu": {"period": 500}})))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cgroup write /"), "{e}");
    assert!(e.contains("500: invalid argument"), "{e}");
    // Devices: deny all, then the spec's rules in order.
    let devs = res(json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}
    ]}));
    m.apply(&devs).unwrap();
    if m.version() == Version::V1 {
        assert_eq!(
            read(m.dir("devices").unwrap(), "devices.list"),
            "c 1:3 rwm\nc 1:5 r"
        );
    }
    // A controller the host does not have: the error names it and the file.
    if m.version() == Version::V1 && m.dir("hugetlb").is_none() {
        let e = m
            .apply(&res(
                json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
            ))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "cgroup controller hugetlb is not available (needed for hugetlb.2MB.limit_in_bytes)"
        );
    }
    // Kernel memory is skipped with a warning.
    let w = m
        .apply(&res(json!({"memory": {"kernel": 1 << 20}})))
        .unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].field, "linux.resources.memory.kernel");
}

#[test]
fn absolute_path_is_from_the_hierarchy_root() {
    need_root!();
    let full = Layout::detect().unwrap();
    if full.kind == LayoutKind::V2 {
        eprintln!("skipping: the absolute-path test uses the v1 memory hierarchy");
        return;
    }
    // Only the memory hierarchy, where our own cgroup is not the root: an absolute path that
    // spells out our own cgroup lands in the same place as the relative one.
    let mem = full.v1_hierarchy("memory").unwrap().clone();
    let own = mem.own.clone().unwrap();
    let layout = Layout {
        kind: LayoutKind::V1,
        v1: vec![mem.clone()],
        unified: None,
    };
    let leaf = name("abs");
    let abs = format!("/{}/{leaf}", own.display());
    let m = Manager::new(&layout, &CgroupPath::parse(&abs).unwrap()).unwrap();
    let _g = Guard::new(&m);
    let want = mem.mount_point.join(&own).join(&leaf);
    assert_eq!(m.dir("memory"), Some(want.as_path()));
    let rel = Manager::new(&layout, &CgroupPath::parse(&leaf).unwrap()).unwrap();
    assert_eq!(rel.dir("memory"), m.dir("memory"));
    m.create().unwrap();
    assert!(want.is_dir());
    m.destroy().unwrap();
    assert!(!want.exists());
}
