//! Daemon configuration (dockerd's names; the server fills it from flags and daemon.json).
use std::path::PathBuf;

/// Where berthd keeps things and how it runs containers.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Images, containers, volumes (`/var/lib/berth`).
    pub data_root: PathBuf,
    /// Runtime state: shims, the runtime's root (`/run/berth`).
    pub exec_root: PathBuf,
    /// The `berth-shim` binary.
    pub shim: PathBuf,
    /// Parent of container cgroups (relative to berthd's own cgroup unless absolute).
    pub cgroup_parent: String,
    /// `--no-new-privileges` for every container.
    pub no_new_privileges: bool,
    /// Default `/dev/shm` size in bytes.
    pub shm_size: u64,
    /// `--init` for every container that does not say otherwise.
    pub init: bool,
}

impl DaemonConfig {
    pub fn new(
        data_root: impl Into<PathBuf>,
        exec_root: impl Into<PathBuf>,
        shim: impl Into<PathBuf>,
    ) -> Self {
        DaemonConfig {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            shim: shim.into(),
            cgroup_parent: "berth".into(),
            no_new_privileges: false,
            shm_size: 64 << 20,
            init: false,
        }
    }
    /// Where the daemon installs `berth-init` (bind-mounted as `/sbin/docker-init`).
    pub fn init_path(&self) -> PathBuf {
        self.data_root.join("bin/berth-init")
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.data_root.join("containers")
    }
    pub fn shims_dir(&self) -> PathBuf {
        self.exec_root.join("shims")
    }
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }
}
