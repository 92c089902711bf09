//! Daemon configuration (dockerd's names; the server fills it from flags and daemon.json).
use std::path::PathBuf;

pub use berth_shim::ExternalRuntime;

/// Where berthd keeps things and how it runs containers.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Images, containers, volumes (`/var/lib/berth`).
    pub data_root: PathBuf,
    /// Runtime state: shims, the runtime's root (`/run/berth`).
    pub exec_root: PathBuf,
    /// The `berth-shim` binary.
    pub shim: PathBuf,
    /// Parent of container cgroups (relative to berthd's own cgroup unless absolute; `/berth`
    /// by default on cgroup v2-only hosts, `berth` elsewhere).
    pub cgroup_parent: String,
    /// `--no-new-privileges` for every container.
    pub no_new_privileges: bool,
    /// Default `/dev/shm` size in bytes.
    pub shm_size: u64,
    /// `--init` for every container that does not say otherwise.
    pub init: bool,
    /// `--default-ulimit name=soft[:hard]`: (name, soft, hard) for containers that set none.
    pub default_ulimits: Vec<(String, i64, i64)>,
    /// Networking (dockerd's `--bridge`, `--bip`, ... ).
    pub net: NetConfig,
    /// Registries (`insecure-registries`, `registry-mirrors`, concurrency, certificates).
    pub registry: RegistrySettings,
    /// `--userns-remap`, resolved ([`crate::userns::resolve`]); none: containers' root is root.
    pub userns_remap: Option<crate::userns::Remap>,
    /// `--add-runtime name=path` / daemon.json `runtimes`: other OCI runtimes' binaries, by
    /// name. [`LINKED_RUNTIME`] is always there (the runtime library in berth-shim).
    pub runtimes: std::collections::BTreeMap<String, ExternalRuntime>,
    /// `--default-runtime` (`berth`).
    pub default_runtime: String,
}

/// The runtime compiled into berth-shim.
pub const LINKED_RUNTIME: &str = "berth";

/// dockerd's registry options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    pub insecure_registries: Vec<String>,
    pub mirrors: Vec<String>,
    pub max_concurrent_downloads: usize,
    pub max_concurrent_uploads: usize,
    /// `<dir>/<host[:port]>/*.crt`.
    pub certs_dir: PathBuf,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            certs_dir: PathBuf::from("/etc/berth/certs.d"),
        }
    }
}

/// dockerd's networking options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// The default bridge's interface (`--bridge`, `berth0`).
    pub bridge: String,
    /// Its gateway address with prefix (`--bip`); empty: 172.17.0.1/16 or the first free pool.
    pub bip: String,
    /// `default-address-pools`: (base CIDR, size) pairs; empty: Docker's defaults.
    pub default_address_pools: Vec<(String, u8)>,
    /// Containers on the default bridge may talk to each other (`--icc`).
    pub icc: bool,
    /// Masquerade traffic leaving the default bridge (`--ip-masq`).
    pub ip_masq: bool,
    /// Manage firewall rules and `ip_forward` (`--iptables`).
    pub iptables: bool,
    /// MTU of the default bridge and its veths (`--mtu`, 0 = the kernel's).
    pub mtu: u32,
    /// `--dns`, `--dns-search`, `--dns-opt` defaults for every container.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opts: Vec<String>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            bridge: "berth0".into(),
            bip: String::new(),
            default_address_pools: Vec::new(),
            icc: true,
            ip_masq: true,
            iptables: true,
            mtu: 0,
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_opts: Vec::new(),
        }
    }
}

impl NetConfig {
    /// Berth's nftables table: `berth` for the default bridge, `berth-<bridge>` for an instance
    /// with its own bridge, so berthds side by side never touch each other's rules.
    pub fn nft_table(&self) -> String {
        if self.bridge == "berth0" {
            "berth".into()
        } else {
            format!("berth-{}", self.bridge)
        }
    }
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
            // On a cgroup v2-only host berthd's own cgroup holds processes, so no cgroup below
            // it may enable memory/io (no internal processes): containers go below the root,
            // as with dockerd's /docker. Elsewhere they stay below berthd's cgroup.
            cgroup_parent: if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                "/berth".into()
            } else {
                "berth".into()
            },
            no_new_privileges: false,
            shm_size: 64 << 20,
            init: false,
            default_ulimits: Vec::new(),
            net: NetConfig::default(),
            registry: RegistrySettings::default(),
            userns_remap: None,
            runtimes: std::collections::BTreeMap::new(),
            default_runtime: LINKED_RUNTIME.into(),
        }
    }

    /// The runtime a container asks for (`""`: the default): `None` for the linked one.
    pub fn runtime(&self, name: &str) -> crate::Result<Option<&ExternalRuntime>> {
        let name = if name.is_empty() {
            self.default_runtime.as_str()
        } else {
            name
        };
        if name == LINKED_RUNTIME {
            return Ok(None);
        }
        self.runtimes.get(name).map(Some).ok_or_else(|| {
            crate::Error::invalid(format!("unknown or invalid runtime name: {name}"))
        })
    }

    /// The state root of runtime `name` (`runtime-<name>` beside the linked one's, as dockerd's
    /// `runtime-runc`).
    pub fn runtime_root_for(&self, name: &str) -> PathBuf {
        if name.is_empty() || name == LINKED_RUNTIME {
            self.runtime_root()
        } else {
            self.exec_root.join(format!("runtime-{name}"))
        }
    }
    /// Network-namespace handles of running containers.
    pub fn netns_dir(&self) -> PathBuf {
        self.exec_root.join("netns")
    }
    pub fn networks_dir(&self) -> PathBuf {
        self.data_root.join("networks")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_resolve_by_name_with_the_default_for_none() {
        let mut c = DaemonConfig::new("/d", "/e", "/s");
        assert_eq!(c.runtime("").map(|r| r.is_none()).ok(), Some(true));
        assert_eq!(c.runtime("berth").map(|r| r.is_none()).ok(), Some(true));
        let e = c.runtime("crun").err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("unknown or invalid runtime name: crun"));
        c.runtimes.insert(
            "crun".into(),
            ExternalRuntime {
                name: "crun".into(),
                path: "/usr/bin/crun".into(),
                args: vec!["--debug".into()],
            },
        );
        c.default_runtime = "crun".into();
        assert_eq!(
            c.runtime("").ok().flatten().map(|r| r.path.clone()),
            Some(PathBuf::from("/usr/bin/crun"))
        );
        assert_eq!(c.runtime_root_for("crun"), PathBuf::from("/e/runtime-crun"));
        assert_eq!(c.runtime_root_for("berth"), PathBuf::from("/e/runtime"));
    }
}
