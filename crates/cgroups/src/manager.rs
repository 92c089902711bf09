//! [`Manager`]: one container's cgroup in every hierarchy, and the thin layer that applies plans.
//!
//! Call order for a container: [`Manager::new`] → [`Manager::create`] → [`Manager::apply`] →
//! [`Manager::add_pid`] (before the container process execs) → … →
//! [`Manager::kill_all`] → [`Manager::destroy`]. `new` touches nothing, so a later process
//! (`delete`, `update`, `events`) rebuilds the same manager from the layout and the
//! [`CgroupPath`].

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::{invalid, CgroupError};
use crate::fs;
use crate::layout::{Layout, LayoutKind};
use crate::path::{CgroupPath, DEFAULT_PARENT};
use crate::plan::{self, swappable_pair, Controller, Plan, Version, Warning, Write};
use crate::stats::Stats;
use crate::{v1, v2};

/// v1 hierarchies a container joins (named hierarchies other than systemd are left alone).
const V1_MANAGED: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "name=systemd",
];

/// The freezer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerState {
    /// Running.
    Thawed,
    /// Asked to freeze, not all tasks frozen yet.
    Freezing,
    /// All tasks frozen.
    Frozen,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Dir {
    /// v1: the hierarchy's controllers; v2 (and the hybrid unified dir): empty.
    controllers: Vec<String>,
    /// The container's cgroup.
    path: PathBuf,
    /// Where the `cgroupsPath` starts (mount point or the caller's own cgroup).
    anchor: PathBuf,
    /// The hierarchy's mount point.
    mount_point: PathBuf,
}

/// One container's cgroup, in every hierarchy the host has.
///
/// Serialisable: record it in the container's state at `create` and load it in later
/// processes (`delete`, `update`, `pause`), as a relative `cgroupsPath` resolves against the
/// *caller's* cgroup and a later caller may sit elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    kind: LayoutKind,
    path: CgroupPath,
    /// v1 and hybrid: one entry per managed hierarchy.
    v1: Vec<Dir>,
    /// v2: the cgroup. Hybrid: the process-tracking cgroup in the unified hierarchy.
    unified: Option<Dir>,
}

impl Manager {
    /// Resolves `path` in every hierarchy of `layout`. Touches nothing.
    pub fn new(layout: &Layout, path: &CgroupPath) -> Result<Manager, CgroupError> {
        let dir = |h: &crate::layout::Hierarchy| -> Result<Dir, CgroupError> {
            Ok(Dir {
                controllers: h.controllers.clone(),
                path: path.resolve(h)?,
                anchor: path.anchor(h)?,
                mount_point: h.mount_point.clone(),
            })
        };
        let mut v1 = Vec::new();
        if layout.kind != LayoutKind::V2 {
            for h in &layout.v1 {
                if h.controllers
                    .iter()
                    .any(|c| V1_MANAGED.contains(&c.as_str()))
                {
                    v1.push(dir(h)?);
                }
            }
        }
        let unified = match (&layout.unified, layout.kind) {
            (Some(h), LayoutKind::V2) => Some(dir(h)?),
            // Hybrid: track the container in the unified hierarchy too, when we can.
            (Some(h), LayoutKind::Hybrid) => dir(h).ok(),
            _ => None,
        };
        Ok(Manager {
            kind: layout.kind,
            path: path.clone(),
            v1,
            unified,
        })
    }

    /// The resource model in use (v1 also on hybrid hosts).
    pub fn version(&self) -> Version {
        match self.kind {
            LayoutKind::V2 => Version::V2,
            _ => Version::V1,
        }
    }

    /// The `cgroupsPath` this manager was made for.
    pub fn path(&self) -> &CgroupPath {
        &self.path
    }

    /// The container's directory per controller (v1: each controller name, co-mounted ones
    /// share a directory; `""` is the unified/v2 directory), as runc records them.
    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut m = BTreeMap::new();
        for d in &self.v1 {
            for c in &d.controllers {
                m.insert(c.clone(), d.path.clone());
            }
        }
        if let Some(u) = &self.unified {
            m.insert(String::new(), u.path.clone());
        }
        m
    }

    /// The directory for a v1 controller (`memory`, `name=systemd`…), or the v2 directory.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        match self.version() {
            Version::V2 => self.unified.as_ref().map(|d| d.path.as_path()),
            Version::V1 => self
                .v1
                .iter()
                .find(|d| d.controllers.iter().any(|c| c == controller))
                .map(|d| d.path.as_path()),
        }
    }

    fn all_dirs(&self) -> impl Iterator<Item = &Dir> {
        self.v1.iter().chain(self.unified.iter())
    }

    /// The directory `pids()` and `kill_all()` read: v2 the cgroup, v1 the first of pids,
    /// freezer, memory, cpu that is mounted.
    fn primary(&self) -> Option<&Path> {
        match self.version() {
            Version::V2 => self.dir(""),
            Version::V1 => ["pids", "freezer", "memory", "cpu"]
                .iter()
                .find_map(|c| self.dir(c))
                .or_else(|| self.v1.first().map(|d| d.path.as_path())),
        }
    }

    /// Whether the cgroup exists (in the primary hierarchy).
    pub fn exists(&self) -> bool {
        self.primary().is_some_and(Path::is_dir)
    }

    /// Creates the cgroup in every hierarchy (`mkdir -p`). v1: a new cpuset cgroup gets its
    /// parent's `cpuset.cpus`/`cpuset.mems`. v2: the wanted controllers (cpu, cpuset, io,
    /// memory, pids, hugetlb, rdma, misc — those available) are enabled in each parent's
    /// `cgroup.subtree_control`, from the hierarchy root down. Idempotent.
    pub fn create(&self) -> Result<Vec<Warning>, CgroupError> {
        let mut warnings = Vec::new();
        match self.version() {
            Version::V1 => {
                for d in &self.v1 {
                    fs::mkdir_p(&d.path)?;
                    if d.controllers.iter().any(|c| c == "cpuset") {
                        v1::inherit_cpuset(&d.anchor, &d.path)?;
                    }
                }
                if let Some(u) = &self.unified {
                    if let Err(e) = fs::mkdir_p(&u.path) {
                        warnings.push(Warning::new(
                            u.path.display().to_string(),
                            format!("not tracked in the unified hierarchy: {e}"),
                        ));
                    }
                }
            }
            Version::V2 => {
                let u = self.unified.as_ref().ok_or_else(no_unified)?;
                let rel = u.path.strip_prefix(&u.mount_point).map_err(|_| {
                    CgroupError::Layout(format!(
                        "{} is not below {}",
                        u.path.display(),
                        u.mount_point.display()
                    ))
                })?;
                let mut cur = u.mount_point.clone();
                for c in rel.components() {
                    v2::enable_controllers(&cur, &mut warnings)?;
                    cur.push(c);
                    fs::mkdir_p(&cur)?;
                }
            }
        }
        Ok(warnings)
    }

    /// Plans `res` for this cgroup's version and applies it. Returns the warnings of the plan
    /// and of optional writes that were skipped.
    pub fn apply(&self, res: &LinuxResources) -> Result<Vec<Warning>, CgroupError> {
        let p = plan::plan(res, self.version())?;
        self.apply_plan(&p)
    }

    /// Applies a plan made by [`plan::plan`] for this manager's version. Device rules on v2
    /// are not applied here (see [`Plan::devices`]).
    pub fn apply_plan(&self, p: &Plan) -> Result<Vec<Warning>, CgroupError> {
        let mut warnings = p.warnings.clone();
        let mut i = 0;
        while i < p.writes.len() {
            let w = &p.writes[i];
            match self.write(w, &mut warnings) {
                Ok(()) => i += 1,
                Err(CgroupError::Write { err, .. })
                    if err.raw_os_error() == Some(libc::EINVAL)
                        && i + 1 < p.writes.len()
                        && swappable_pair(w, &p.writes[i + 1]) =>
                {
                    // The kernel checks these two against each other: do the second first.
                    self.write(&p.writes[i + 1], &mut warnings)?;
                    self.write(w, &mut warnings)?;
                    i += 2;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(warnings)
    }

    fn write(&self, w: &Write, warnings: &mut Vec<Warning>) -> Result<(), CgroupError> {
        let dir = match self.version() {
            Version::V2 => self.dir(""),
            Version::V1 => self.dir(w.controller.name()),
        };
        let Some(dir) = dir else {
            if w.optional {
                warnings.push(Warning::new(
                    &w.file,
                    format!("controller {} is not available; skipped", w.controller),
                ));
                return Ok(());
            }
            return Err(CgroupError::ControllerMissing {
                controller: w.controller.name().to_string(),
                file: w.file.clone(),
            });
        };
        let res = fs::write(&dir.join(&w.file), &w.value);
        let Err(CgroupError::Write { err, .. }) = &res else {
            return res;
        };
        if err.kind() != ErrorKind::NotFound {
            return res;
        }
        // Newer kernels with BFQ have only the bfq files.
        if let Some(alt) = match w.file.as_str() {
            "blkio.weight" => Some("blkio.bfq.weight"),
            "blkio.weight_device" => Some("blkio.bfq.weight_device"),
            _ => None,
        } {
            if dir.join(alt).exists() {
                return fs::write(&dir.join(alt), &w.value);
            }
        }
        if w.optional {
            warnings.push(Warning::new(
                &w.file,
                "not supported by this kernel or not enabled; skipped",
            ));
            return Ok(());
        }
        // v2: a controller that the parent did not delegate has no files here.
        if self.version() == Version::V2
            && !matches!(w.controller, Controller::Core | Controller::Other(_))
        {
            let enabled = fs::read_opt(&dir.join("cgroup.controllers"))?.unwrap_or_default();
            if !enabled.split_whitespace().any(|c| c == w.controller.name()) {
                return Err(CgroupError::ControllerMissing {
                    controller: w.controller.name().to_string(),
                    file: w.file.clone(),
                });
            }
        }
        res
    }

    /// Moves a process (all its threads) into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        if pid <= 0 {
            return Err(invalid("pid", format!("{pid} is not a process id")));
        }
        let v = pid.to_string();
        for d in &self.v1 {
            fs::write(&d.path.join("cgroup.procs"), &v)?;
        }
        if let Some(u) = &self.unified {
            let r = fs::write(&u.path.join("cgroup.procs"), &v);
            // Hybrid tracking is best effort; v2 is the real thing.
            if self.version() == Version::V2 {
                r?;
            }
        }
        Ok(())
    }

    /// The processes directly in the cgroup (not in its descendants).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match self.primary() {
            Some(d) => fs::read_pids(&d.join("cgroup.procs")),
            None => Ok(Vec::new()),
        }
    }

    /// The processes in the cgroup and its descendants.
    pub fn all_pids(&self) -> Result<Vec<i32>, CgroupError> {
        match self.primary() {
            Some(d) if d.is_dir() => fs::read_pids_recursive(d),
            _ => Ok(Vec::new()),
        }
    }

    fn freezer_dir(&self) -> Result<&Path, CgroupError> {
        self.dir("freezer")
            .ok_or_else(|| CgroupError::ControllerMissing {
                controller: "freezer".into(),
                file: "freezer.state".into(),
            })
    }

    /// Freezes every task and waits until the kernel reports the cgroup frozen (at most
    /// about 5 s; on timeout it thaws again and fails).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.version() {
            Version::V1 => v1::set_freezer(self.freezer_dir()?, FreezerState::Frozen),
            Version::V2 => {
                v2::set_freezer(self.dir("").ok_or_else(no_unified)?, FreezerState::Frozen)
            }
        }
    }

    /// Thaws the cgroup and waits until it is.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.version() {
            Version::V1 => v1::set_freezer(self.freezer_dir()?, FreezerState::Thawed),
            Version::V2 => {
                v2::set_freezer(self.dir("").ok_or_else(no_unified)?, FreezerState::Thawed)
            }
        }
    }

    /// The freezer's current state.
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        match self.version() {
            Version::V1 => v1::freezer_state(self.freezer_dir()?),
            Version::V2 => v2::freezer_state(self.dir("").ok_or_else(no_unified)?),
        }
    }

    /// Reads the statistics. Controllers that are not mounted or enabled leave their part at
    /// its default.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let mut st = Stats::default();
        match self.version() {
            Version::V1 => {
                st.cpu = v1::cpu_stats(self.dir("cpuacct"), self.dir("cpu"))?;
                if let Some(d) = self.dir("memory") {
                    st.memory = v1::memory_stats(d)?;
                }
                match self.dir("pids") {
                    Some(d) => st.pids = v1::pids_stats(d)?,
                    None => st.pids.current = self.all_pids()?.len() as u64,
                }
                if let Some(d) = self.dir("blkio") {
                    st.blkio = v1::blkio_stats(d)?;
                }
                if let Some(d) = self.dir("hugetlb") {
                    st.hugetlb = v1::hugetlb_stats(d)?;
                }
            }
            Version::V2 => {
                let d = self.dir("").ok_or_else(no_unified)?;
                st.cpu = v2::cpu_stats(d)?;
                st.memory = v2::memory_stats(d)?;
                st.pids = v2::pids_stats(d)?;
                st.blkio = v2::io_stats(d)?;
                st.hugetlb = v2::hugetlb_stats(d)?;
            }
        }
        Ok(st)
    }

    /// How many times the OOM killer killed a task of this cgroup (v1 `memory.oom_control`,
    /// v2 `memory.events`, both `oom_kill`). Poll it, or compare before and after an exit, to
    /// report `oom` events and `OOMKilled`.
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        match self.version() {
            Version::V1 => {
                let d = self
                    .dir("memory")
                    .ok_or_else(|| CgroupError::ControllerMissing {
                        controller: "memory".into(),
                        file: "memory.oom_control".into(),
                    })?;
                v1::oom_kill_count(d)
            }
            Version::V2 => v2::oom_kill_count(self.dir("").ok_or_else(no_unified)?),
        }
    }

    /// Sends `signal` to every process in the cgroup and its descendants. v2 with `SIGKILL`
    /// uses `cgroup.kill` when the kernel has it. Otherwise the cgroup is frozen first (when a
    /// freezer is available) so that no process can fork a child that escapes the signal,
    /// then every pid is signalled, then the cgroup is thawed (a frozen task only acts on the
    /// signal once thawed). Processes that are already gone are not an error.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        let sig = rustix::process::Signal::from_named_raw(signal)
            .ok_or_else(|| invalid("signal", format!("{signal} is not a known signal")))?;
        if self.version() == Version::V2 && signal == libc::SIGKILL {
            if let Some(d) = self.dir("") {
                let f = d.join("cgroup.kill");
                if f.exists() {
                    return fs::write(&f, "1");
                }
            }
        }
        let can_freeze = match self.version() {
            Version::V1 => self.dir("freezer").is_some_and(Path::is_dir),
            Version::V2 => self
                .dir("")
                .is_some_and(|d| d.join("cgroup.freeze").exists()),
        };
        let frozen = can_freeze && self.freeze().is_ok();
        let mut first_err = None;
        let pids = self.all_pids();
        if let Ok(pids) = &pids {
            for &pid in pids {
                let Some(p) = rustix::process::Pid::from_raw(pid) else {
                    continue;
                };
                match rustix::process::kill_process(p, sig) {
                    Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                    Err(e) => {
                        first_err.get_or_insert(CgroupError::Signal {
                            signal,
                            pid,
                            err: e.into(),
                        });
                    }
                }
            }
        }
        if frozen {
            self.thaw()?;
        }
        pids?;
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Removes the cgroup (and any cgroups below it) from every hierarchy, retrying briefly
    /// while the kernel still reports it busy; a cgroup that is already gone is fine. Then
    /// removes the now empty parents between the cgroup and where its path starts, but only
    /// those named `berth…` (such as the default parent `berth`), so a shared parent that
    /// someone configured is never removed.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for d in self.all_dirs() {
            if let Err(e) = fs::remove_cgroup(&d.path) {
                first_err.get_or_insert(e);
                continue;
            }
            let mut cur = d.path.parent();
            while let Some(p) = cur {
                if p == d.anchor || !p.starts_with(&d.anchor) {
                    break;
                }
                // Only Berth's own default parent: a parent someone else chose (dockerd's
                // --cgroup-parent, a test's directory) is theirs to remove, as with runc.
                let ours = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == DEFAULT_PARENT);
                // Busy or not empty: another container still uses it.
                if !ours || std::fs::remove_dir(p).is_err() {
                    break;
                }
                cur = p.parent();
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn no_unified() -> CgroupError {
    CgroupError::Layout("no cgroup2 hierarchy is mounted".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
    const PC: &str = "3:name=systemd:/user\n2:cpu,cpuacct:/\n1:memory:/session/x\n0::/u\n";

    #[test]
    fn paths_per_hierarchy() {
        let l = Layout::parse(MI, PC).unwrap();
        let m = Manager::new(&l, &CgroupPath::parse("berth/c1").unwrap()).unwrap();
        assert_eq!(m.version(), Version::V1);
        let p = m.paths();
        assert_eq!(
            p["cpu"],
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth/c1")
        );
        assert_eq!(p["cpuacct"], p["cpu"]);
        assert_eq!(
            p["memory"],
            PathBuf::from("/sys/fs/cgroup/memory/session/x/berth/c1")
        );
        assert_eq!(
            p["name=systemd"],
            PathBuf::from("/sys/fs/cgroup/systemd/user/berth/c1")
        );
        assert_eq!(p[""], PathBuf::from("/sys/fs/cgroup/unified/u/berth/c1"));
        assert_eq!(m.dir("freezer"), None);

        let m = Manager::new(&l, &CgroupPath::parse("/berth/c1").unwrap()).unwrap();
        assert_eq!(
            m.dir("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/berth/c1"))
        );
    }

    #[test]
    fn round_trips_through_json() {
        let l = Layout::parse(MI, PC).unwrap();
        let m = Manager::new(&l, &CgroupPath::parse("berth/c1").unwrap()).unwrap();
        let j = serde_json::to_value(&m).unwrap();
        let back: Manager = serde_json::from_value(j).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn pure_v2_uses_one_directory() {
        let l = Layout::parse(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "0::/user.slice/a\n",
        )
        .unwrap();
        let m = Manager::new(&l, &CgroupPath::parse("/berth/c1").unwrap()).unwrap();
        assert_eq!(m.version(), Version::V2);
        assert_eq!(m.dir("memory"), Some(Path::new("/sys/fs/cgroup/berth/c1")));
        assert_eq!(m.paths().len(), 1);
    }
}
