//! The runtime's view of a container cgroup, over the `berth-cgroups` manager.
//!
//! A relative `cgroupsPath` is resolved against the cgroups of the process that *created* the
//! container, so the creator's `/proc/self/cgroup` is persisted with the path: `delete`, `pause`
//! or `update` run later from another cgroup still find the same directories.

use std::path::Path;

use berth_cgroups::{CgroupPath, FreezerState, Layout, Manager};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Persisted {
    path: CgroupPath,
    creator_cgroup: String,
}

#[derive(Debug, Clone)]
pub struct Cgroup {
    mgr: Manager,
    persisted: Persisted,
}

fn cg_err(e: berth_cgroups::CgroupError) -> RuntimeError {
    RuntimeError::Cgroup(e.to_string())
}

fn read(p: &str) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| RuntimeError::Cgroup(format!("read {p}: {e}")))
}

impl Cgroup {
    /// Create the container's cgroup and apply its resources (nothing is left on failure).
    pub fn create(path: Option<&Path>, id: &str, res: Option<&LinuxResources>) -> Result<Self> {
        let creator_cgroup = read("/proc/self/cgroup")?;
        let path = CgroupPath::from_spec(path, || {
            CgroupPath::default_for(id).unwrap_or(CgroupPath::Relative(id.into()))
        })
        .map_err(|e| RuntimeError::spec("linux.cgroupsPath", e.to_string()))?;
        let persisted = Persisted {
            path,
            creator_cgroup,
        };
        let cg = Self::open(&persisted)?;
        for w in cg.mgr.create().map_err(cg_err)? {
            crate::warn(&w.to_string());
        }
        if let Some(res) = res {
            let version = cg.mgr.version();
            let planned = berth_cgroups::plan(res, version)
                .and_then(|p| cg.mgr.apply_plan(&p).map(|w| (p, w)));
            match planned {
                Ok((p, warnings)) => {
                    for w in warnings {
                        crate::warn(&w.to_string());
                    }
                    // v2 has no device files: the rules become an eBPF program on the cgroup.
                    if version == berth_cgroups::Version::V2 {
                        if let (Some(rules), Some(dir)) = (&p.devices, cg.mgr.paths().get("")) {
                            if let Err(e) = attach_device_program(rules, dir) {
                                let _ = cg.mgr.destroy();
                                return Err(e);
                            }
                        }
                    }
                }
                Err(e) => {
                    let _ = cg.mgr.destroy();
                    return Err(RuntimeError::spec("linux.resources", e.to_string()));
                }
            }
        }
        Ok(cg)
    }

    fn open(p: &Persisted) -> Result<Self> {
        let layout =
            Layout::parse(&read("/proc/self/mountinfo")?, &p.creator_cgroup).map_err(cg_err)?;
        let mgr = Manager::new(&layout, &p.path).map_err(cg_err)?;
        Ok(Cgroup {
            mgr,
            persisted: p.clone(),
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.persisted).unwrap_or(serde_json::Value::Null)
    }

    pub fn from_json(v: Option<&serde_json::Value>) -> Option<Self> {
        let p: Persisted = serde_json::from_value(v?.clone()).ok()?;
        Self::open(&p).ok()
    }

    pub fn manager(&self) -> &Manager {
        &self.mgr
    }

    pub fn add_pid(&self, pid: i32) -> Result<()> {
        self.mgr.add_pid(pid).map_err(cg_err)
    }
    pub fn kill_all(&self, sig: i32) -> Result<()> {
        self.mgr.kill_all(sig).map_err(cg_err)
    }
    pub fn destroy(&self) -> Result<()> {
        self.mgr.destroy().map_err(cg_err)
    }
    pub fn freeze(&self) -> Result<()> {
        self.mgr.freeze().map_err(cg_err)
    }
    pub fn thaw(&self) -> Result<()> {
        self.mgr.thaw().map_err(cg_err)
    }
    pub fn is_frozen(&self) -> bool {
        matches!(
            self.mgr.freezer_state(),
            Ok(FreezerState::Frozen) | Ok(FreezerState::Freezing)
        )
    }
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.mgr.pids().map_err(cg_err)
    }
    pub fn update(&self, res: &LinuxResources) -> Result<Vec<String>> {
        self.mgr
            .apply(res)
            .map(|w| w.into_iter().map(|w| w.to_string()).collect())
            .map_err(cg_err)
    }
    pub fn stats(&self) -> Result<serde_json::Value> {
        let s = self.mgr.stats().map_err(cg_err)?;
        serde_json::to_value(s).map_err(|e| RuntimeError::Other(e.to_string()))
    }
    pub fn oom_kill_count(&self) -> Result<u64> {
        self.mgr.oom_kill_count().map_err(cg_err)
    }
}

/// Compile `rules` into a cgroup device program and attach it to the cgroup v2 directory `dir`.
/// The program stays attached (the kernel holds it) until the cgroup is removed.
pub fn attach_device_program(rules: &[berth_cgroups::DeviceRule], dir: &Path) -> Result<()> {
    use std::os::fd::AsFd;
    let insns: Vec<[u8; 8]> = berth_cgroups::bpf::device_program(rules)
        .into_iter()
        .map(|i| i.to_bytes())
        .collect();
    let prog = crate::sys::bpf_load_device_program(&insns)
        .map_err(|e| RuntimeError::Cgroup(format!("load the device program: {e}")))?;
    let d = std::fs::File::open(dir)
        .map_err(|e| RuntimeError::Cgroup(format!("open {}: {e}", dir.display())))?;
    crate::sys::bpf_attach_device_program(prog.as_fd(), d.as_fd()).map_err(|e| {
        RuntimeError::Cgroup(format!(
            "attach the device program to {}: {e}",
            dir.display()
        ))
    })
}
