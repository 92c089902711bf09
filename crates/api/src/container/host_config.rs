//! `HostConfig`: the non-portable part of a container's configuration (moby
//! `container.HostConfig` with its embedded `Resources`), and its parts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{is_false, is_zero, null_default, str_slice};

/// Published ports of one container port, keyed `"80/tcp"`. A `null` value (exposed, not
/// published) is meaningful in `NetworkSettings.Ports`.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// moby's `container.HostConfig` as of API 1.41, field order as in Go. `None` lists and maps
/// are `null` on output (what `docker inspect` shows for unset ones); Go's `omitempty` fields
/// are left out when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v` volume and bind specs, `src:dst[:opts]`.
    pub binds: Option<Vec<String>>,
    /// Client-side `--cidfile` (stored, unused by the daemon).
    #[serde(rename = "ContainerIDFile", deserialize_with = "null_default")]
    pub container_id_file: String,
    /// Log driver and options.
    #[serde(deserialize_with = "null_default")]
    pub log_config: LogConfig,
    /// `default`, `bridge`, `host`, `none`, `container:<id>` or a network name.
    #[serde(deserialize_with = "null_default")]
    pub network_mode: String,
    /// `-p` publications.
    pub port_bindings: Option<PortMap>,
    /// Restart policy (`{"Name":"no"}` from the CLI by default).
    #[serde(deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
    /// `--rm`: remove the container when it exits.
    #[serde(deserialize_with = "null_default")]
    pub auto_remove: bool,
    /// Default volume driver.
    #[serde(deserialize_with = "null_default")]
    pub volume_driver: String,
    /// `--volumes-from` `container[:ro|rw]`.
    pub volumes_from: Option<Vec<String>>,
    /// Capabilities to add; the CLI sends `CAP_X`, docker-py `X`.
    #[serde(deserialize_with = "str_slice")]
    pub cap_add: Option<Vec<String>>,
    /// Capabilities to drop (`ALL` allowed).
    #[serde(deserialize_with = "str_slice")]
    pub cap_drop: Option<Vec<String>>,
    /// `host` or `private` (empty: daemon default).
    #[serde(deserialize_with = "null_default")]
    pub cgroupns_mode: String,
    /// DNS servers.
    pub dns: Option<Vec<String>>,
    /// resolv.conf options.
    pub dns_options: Option<Vec<String>>,
    /// DNS search domains.
    pub dns_search: Option<Vec<String>>,
    /// `--add-host` `name:ip` entries.
    pub extra_hosts: Option<Vec<String>>,
    /// Supplementary groups.
    pub group_add: Option<Vec<String>>,
    /// `private`, `shareable`, `host`, `none`, `container:<id>`.
    #[serde(deserialize_with = "null_default")]
    pub ipc_mode: String,
    /// Cgroup to use (`container:<id>`).
    #[serde(deserialize_with = "null_default")]
    pub cgroup: String,
    /// Legacy links `name:alias`.
    pub links: Option<Vec<String>>,
    /// OOM score adjustment.
    #[serde(deserialize_with = "null_default")]
    pub oom_score_adj: i64,
    /// `host` or `container:<id>`.
    #[serde(deserialize_with = "null_default")]
    pub pid_mode: String,
    /// `--privileged`.
    #[serde(deserialize_with = "null_default")]
    pub privileged: bool,
    /// `-P`.
    #[serde(deserialize_with = "null_default")]
    pub publish_all_ports: bool,
    /// `--read-only`.
    #[serde(deserialize_with = "null_default")]
    pub readonly_rootfs: bool,
    /// `--security-opt` entries.
    pub security_opt: Option<Vec<String>>,
    /// Storage driver options.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub storage_opt: BTreeMap<String, String>,
    /// `--tmpfs` target → options.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub tmpfs: BTreeMap<String, String>,
    /// `host` or empty.
    #[serde(rename = "UTSMode", deserialize_with = "null_default")]
    pub uts_mode: String,
    /// `host` or empty.
    #[serde(deserialize_with = "null_default")]
    pub userns_mode: String,
    /// Size of /dev/shm in bytes (0: 64 MiB default).
    #[serde(deserialize_with = "null_default")]
    pub shm_size: i64,
    /// Namespaced sysctls.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sysctls: BTreeMap<String, String>,
    /// OCI runtime name.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub runtime: String,
    /// Initial TTY size `[height, width]`; always written (`[0,0]`).
    #[serde(deserialize_with = "null_default")]
    pub console_size: [u64; 2],
    /// Windows isolation (`default`, `process`, `hyperv`); empty on Linux.
    #[serde(deserialize_with = "null_default")]
    pub isolation: String,
    /// cgroup limits (embedded in Go, so its fields are HostConfig fields on the wire).
    #[serde(flatten)]
    pub resources: Resources,
    /// `--mount` specs.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mounts: Vec<Mount>,
    /// Paths masked in the container (overrides the default set).
    pub masked_paths: Option<Vec<String>>,
    /// Paths made read-only in the container (overrides the default set).
    pub readonly_paths: Option<Vec<String>>,
    /// `--init`; `None` uses the daemon's setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// moby's `container.Resources`: the fields `POST /containers/{id}/update` accepts and the
/// cgroup part of `HostConfig`. Zero means "unset" unless stated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// Relative CPU weight.
    #[serde(deserialize_with = "null_default")]
    pub cpu_shares: i64,
    /// Memory limit in bytes.
    #[serde(deserialize_with = "null_default")]
    pub memory: i64,
    /// CPU quota in 1e-9 CPUs (`--cpus 0.5` = 500000000).
    #[serde(deserialize_with = "null_default")]
    pub nano_cpus: i64,
    /// Parent cgroup path.
    #[serde(deserialize_with = "null_default")]
    pub cgroup_parent: String,
    /// Block IO weight, 10 to 1000.
    #[serde(deserialize_with = "null_default")]
    pub blkio_weight: u16,
    /// Per-device block IO weights.
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    /// Read bytes/s limits.
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    /// Write bytes/s limits.
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    /// Read IO/s limits.
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    /// Write IO/s limits.
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    /// CFS period (µs).
    #[serde(deserialize_with = "null_default")]
    pub cpu_period: i64,
    /// CFS quota (µs).
    #[serde(deserialize_with = "null_default")]
    pub cpu_quota: i64,
    /// Real-time period (µs).
    #[serde(deserialize_with = "null_default")]
    pub cpu_realtime_period: i64,
    /// Real-time runtime (µs).
    #[serde(deserialize_with = "null_default")]
    pub cpu_realtime_runtime: i64,
    /// CPUs allowed (`0-3,5`).
    #[serde(deserialize_with = "null_default")]
    pub cpuset_cpus: String,
    /// Memory nodes allowed.
    #[serde(deserialize_with = "null_default")]
    pub cpuset_mems: String,
    /// `--device` mappings.
    pub devices: Option<Vec<DeviceMapping>>,
    /// Device cgroup rules (`c 1:3 mr`).
    pub device_cgroup_rules: Option<Vec<String>>,
    /// `--gpus` and other driver device requests.
    pub device_requests: Option<Vec<DeviceRequest>>,
    /// Kernel memory limit (deprecated by the kernel).
    #[serde(deserialize_with = "null_default")]
    pub kernel_memory: i64,
    /// Kernel TCP buffer limit.
    #[serde(rename = "KernelMemoryTCP", deserialize_with = "null_default")]
    pub kernel_memory_tcp: i64,
    /// Memory soft limit.
    #[serde(deserialize_with = "null_default")]
    pub memory_reservation: i64,
    /// Memory + swap limit; -1 unlimited swap.
    #[serde(deserialize_with = "null_default")]
    pub memory_swap: i64,
    /// 0..100; -1 (sent by the CLI) or `null` means unset.
    pub memory_swappiness: Option<i64>,
    /// Disable the OOM killer.
    pub oom_kill_disable: Option<bool>,
    /// PID limit; 0 or -1 unlimited, `null` unchanged.
    pub pids_limit: Option<i64>,
    /// `--ulimit` entries.
    pub ulimits: Option<Vec<Ulimit>>,
    /// Windows: CPU count.
    #[serde(deserialize_with = "null_default")]
    pub cpu_count: i64,
    /// Windows: CPU percent.
    #[serde(deserialize_with = "null_default")]
    pub cpu_percent: i64,
    /// Windows: maximum IOps of the system drive.
    #[serde(rename = "IOMaximumIOps", deserialize_with = "null_default")]
    pub io_maximum_iops: u64,
    /// Windows: maximum IO bytes/s of the system drive.
    #[serde(rename = "IOMaximumBandwidth", deserialize_with = "null_default")]
    pub io_maximum_bandwidth: u64,
}

/// `{"Name":"on-failure","MaximumRetryCount":3}`. Names: `""`/`no`, `always`, `unless-stopped`,
/// `on-failure`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// Policy name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Retries for `on-failure`.
    #[serde(deserialize_with = "null_default")]
    pub maximum_retry_count: i64,
}

/// Log driver configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// Driver name (`json-file`, `local`, `none`, ...).
    #[serde(deserialize_with = "null_default")]
    pub r#type: String,
    /// Driver options.
    pub config: Option<BTreeMap<String, String>>,
}

/// One host address of a published port; empty `HostIp` means all addresses, empty `HostPort`
/// an ephemeral port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host IP.
    #[serde(deserialize_with = "null_default")]
    pub host_ip: String,
    /// Host port (a string, possibly a range `8000-8010`).
    #[serde(deserialize_with = "null_default")]
    pub host_port: String,
}

/// A `--mount` spec (moby `mount.Mount`); every field is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs` or `npipe`.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub r#type: String,
    /// Volume name or host path (`null` from docker-py for tmpfs).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub source: String,
    /// Container path.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    /// Read-only mount.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// `default`, `consistent`, `cached`, `delegated` (macOS only).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub consistency: String,
    /// Options of bind mounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Options of volume mounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Options of tmpfs mounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Bind mount options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// `[r]private`, `[r]shared`, `[r]slave`.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub propagation: String,
    /// Not recursive.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub non_recursive: bool,
}

/// Volume mount options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Do not copy the image's content into a new volume.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub no_copy: bool,
    /// Labels of a volume created for this mount.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Driver of a volume created for this mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
}

/// Volume driver name and options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeDriverConfig {
    /// Driver name.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Driver options.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

/// tmpfs mount options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Size in bytes; 0 unlimited.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    /// Permission bits (a Go `os.FileMode`).
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub mode: u32,
}

/// A `--ulimit` (go-units `Ulimit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ...
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Hard limit.
    #[serde(deserialize_with = "null_default")]
    pub hard: i64,
    /// Soft limit.
    #[serde(deserialize_with = "null_default")]
    pub soft: i64,
}

/// A `--device` mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    /// Host device path.
    #[serde(deserialize_with = "null_default")]
    pub path_on_host: String,
    /// Path in the container.
    #[serde(deserialize_with = "null_default")]
    pub path_in_container: String,
    /// `rwm` subset.
    #[serde(deserialize_with = "null_default")]
    pub cgroup_permissions: String,
}

/// A device request for a device driver (`--gpus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    /// Driver name.
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// Number of devices; -1 all.
    #[serde(deserialize_with = "null_default")]
    pub count: i64,
    /// Device IDs.
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    /// An OR list of AND lists of capabilities.
    pub capabilities: Option<Vec<Vec<String>>>,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
}

/// A per-device rate limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    /// Device path.
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    /// Bytes or IOs per second.
    #[serde(deserialize_with = "null_default")]
    pub rate: u64,
}

/// A per-device weight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    /// Device path.
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    /// Weight.
    #[serde(deserialize_with = "null_default")]
    pub weight: u16,
}
