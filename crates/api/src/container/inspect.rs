//! `GET /containers/{id}/json` (moby `types.ContainerJSON`) and its parts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ContainerConfig, HostConfig, PortMap};
use crate::de::{map_null_values, null_default};
use crate::network::EndpointSettings;

/// The container inspect body. `Created`, `State.StartedAt`/`FinishedAt` are RFC 3339 with
/// nanoseconds (`2024-01-02T03:04:05.123456789Z`); a never-started container has
/// `0001-01-01T00:00:00Z` ([`crate::ZERO_TIME`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    /// Full 64-hex ID.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// Creation time, RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub created: String,
    /// Executable (first word of entrypoint + cmd).
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    /// Its arguments (`[]`, never `null`).
    #[serde(deserialize_with = "null_default")]
    pub args: Vec<String>,
    /// Run state; compose reads `State.Status`, the CLI `Running`/`Paused`/`Restarting`.
    #[serde(deserialize_with = "null_default")]
    pub state: ContainerState,
    /// Image ID (`sha256:...`).
    #[serde(deserialize_with = "null_default")]
    pub image: String,
    /// Host path of the container's resolv.conf.
    #[serde(deserialize_with = "null_default")]
    pub resolv_conf_path: String,
    /// Host path of its hostname file.
    #[serde(deserialize_with = "null_default")]
    pub hostname_path: String,
    /// Host path of its hosts file.
    #[serde(deserialize_with = "null_default")]
    pub hosts_path: String,
    /// Host path of its log.
    #[serde(deserialize_with = "null_default")]
    pub log_path: String,
    /// Name with the leading `/`.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Restarts by the restart policy.
    #[serde(deserialize_with = "null_default")]
    pub restart_count: i64,
    /// Storage driver name.
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// `linux`.
    #[serde(deserialize_with = "null_default")]
    pub platform: String,
    /// SELinux mount label.
    #[serde(deserialize_with = "null_default")]
    pub mount_label: String,
    /// SELinux process label.
    #[serde(deserialize_with = "null_default")]
    pub process_label: String,
    /// AppArmor profile.
    #[serde(deserialize_with = "null_default")]
    pub app_armor_profile: String,
    /// IDs of live execs; `null` when none (as dockerd writes it).
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    /// The host configuration as stored.
    #[serde(deserialize_with = "null_default")]
    pub host_config: HostConfig,
    /// Storage driver data.
    #[serde(deserialize_with = "null_default")]
    pub graph_driver: GraphDriverData,
    /// Size of the writable layer (only with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Size of the whole root filesystem (only with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    /// Mounts (`[]` when none).
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<MountPoint>,
    /// The merged configuration (image defaults + request).
    #[serde(deserialize_with = "null_default")]
    pub config: ContainerConfig,
    /// Network state; `docker port` reads `NetworkSettings.Ports`.
    #[serde(deserialize_with = "null_default")]
    pub network_settings: NetworkSettings,
}

/// `State` of an inspected container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    #[serde(deserialize_with = "null_default")]
    pub status: String,
    /// Running (also true while paused).
    #[serde(deserialize_with = "null_default")]
    pub running: bool,
    /// Paused.
    #[serde(deserialize_with = "null_default")]
    pub paused: bool,
    /// Being restarted by the policy.
    #[serde(deserialize_with = "null_default")]
    pub restarting: bool,
    /// Killed by the OOM killer.
    #[serde(rename = "OOMKilled", deserialize_with = "null_default")]
    pub oom_killed: bool,
    /// Dead (removal failed).
    #[serde(deserialize_with = "null_default")]
    pub dead: bool,
    /// Host PID of the init process; 0 when not running.
    #[serde(deserialize_with = "null_default")]
    pub pid: i64,
    /// Last exit code.
    #[serde(deserialize_with = "null_default")]
    pub exit_code: i64,
    /// Last start error.
    #[serde(deserialize_with = "null_default")]
    pub error: String,
    /// RFC 3339 nano; zero time when never started.
    #[serde(deserialize_with = "null_default")]
    pub started_at: String,
    /// RFC 3339 nano; zero time when never finished.
    #[serde(deserialize_with = "null_default")]
    pub finished_at: String,
    /// Health, only for containers with a health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Health check state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `none`, `starting`, `healthy`, `unhealthy`.
    #[serde(deserialize_with = "null_default")]
    pub status: String,
    /// Consecutive failures.
    #[serde(deserialize_with = "null_default")]
    pub failing_streak: i64,
    /// Last results, oldest first.
    #[serde(deserialize_with = "null_default")]
    pub log: Vec<HealthcheckResult>,
}

/// One health probe run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    /// Start, RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub start: String,
    /// End, RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub end: String,
    /// 0 healthy, 1 unhealthy, else error running the probe.
    #[serde(deserialize_with = "null_default")]
    pub exit_code: i64,
    /// Probe output (truncated).
    #[serde(deserialize_with = "null_default")]
    pub output: String,
}

/// Storage driver name and its data (`LowerDir`, `UpperDir`, `MergedDir`, `WorkDir`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriverData {
    /// Driver data (written first, as Go's generated struct orders it).
    #[serde(deserialize_with = "null_default")]
    pub data: BTreeMap<String, String>,
    /// Driver name (`overlay2`).
    #[serde(deserialize_with = "null_default")]
    pub name: String,
}

/// A mount as inspect and `ps` show it (moby `types.MountPoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`, `npipe`.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub r#type: String,
    /// Volume name.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Host path.
    #[serde(deserialize_with = "null_default")]
    pub source: String,
    /// Container path.
    #[serde(deserialize_with = "null_default")]
    pub destination: String,
    /// Volume driver.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub driver: String,
    /// Mode text from the spec (`z`, `ro`, ...).
    #[serde(deserialize_with = "null_default")]
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW", deserialize_with = "null_default")]
    pub rw: bool,
    /// Propagation mode.
    #[serde(deserialize_with = "null_default")]
    pub propagation: String,
}

/// `NetworkSettings` of an inspected container (moby's base + default-network settings +
/// per-network endpoints, flattened as Go embeds them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Bridge interface name.
    #[serde(deserialize_with = "null_default")]
    pub bridge: String,
    /// Network sandbox ID.
    #[serde(rename = "SandboxID", deserialize_with = "null_default")]
    pub sandbox_id: String,
    /// Hairpin NAT.
    #[serde(deserialize_with = "null_default")]
    pub hairpin_mode: bool,
    /// Link-local IPv6 address.
    #[serde(rename = "LinkLocalIPv6Address", deserialize_with = "null_default")]
    pub link_local_ipv6_address: String,
    /// Its prefix length.
    #[serde(rename = "LinkLocalIPv6PrefixLen", deserialize_with = "null_default")]
    pub link_local_ipv6_prefix_len: i64,
    /// Exposed ports and their host bindings (`"80/tcp": null` when exposed, not published).
    #[serde(deserialize_with = "null_default")]
    pub ports: PortMap,
    /// Network namespace path.
    #[serde(deserialize_with = "null_default")]
    pub sandbox_key: String,
    /// Secondary IPv4 addresses.
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<Address>>,
    /// Secondary IPv6 addresses.
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<Address>>,
    /// Endpoint ID on the default bridge.
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    /// Gateway on the default bridge.
    #[serde(deserialize_with = "null_default")]
    pub gateway: String,
    /// Global IPv6 address on the default bridge.
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "null_default")]
    pub global_ipv6_address: String,
    /// Its prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen", deserialize_with = "null_default")]
    pub global_ipv6_prefix_len: i64,
    /// IPv4 address on the default bridge.
    #[serde(rename = "IPAddress", deserialize_with = "null_default")]
    pub ip_address: String,
    /// Its prefix length.
    #[serde(rename = "IPPrefixLen", deserialize_with = "null_default")]
    pub ip_prefix_len: i64,
    /// IPv6 gateway on the default bridge.
    #[serde(rename = "IPv6Gateway", deserialize_with = "null_default")]
    pub ipv6_gateway: String,
    /// MAC address on the default bridge.
    #[serde(deserialize_with = "null_default")]
    pub mac_address: String,
    /// Endpoints by network name.
    #[serde(deserialize_with = "map_null_values")]
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// An address with its prefix length.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Address {
    /// Address.
    #[serde(deserialize_with = "null_default")]
    pub addr: String,
    /// Prefix length.
    #[serde(deserialize_with = "null_default")]
    pub prefix_len: i64,
}
