//! System: `GET /version`, `GET /info`, `GET /events` messages, `GET /system/df`, `POST /auth`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::ContainerSummary;
use crate::de::{is_false, is_zero, null_default};
use crate::image::ImageSummary;
use crate::volume::Volume;

/// `GET /version` (moby `types.Version`). docker-py and compose read `ApiVersion` from it
/// (unversioned request) to pick their API version; `docker version` prints the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemVersion {
    /// `{"Name":"Berth Engine - Community"}`.
    #[serde(deserialize_with = "null_default")]
    pub platform: Platform,
    /// Components; the CLI shows each (`Engine` first).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub components: Vec<ComponentVersion>,
    /// Server version.
    #[serde(deserialize_with = "null_default")]
    pub version: String,
    /// Announced (maximum) API version.
    #[serde(rename = "ApiVersion", deserialize_with = "null_default")]
    pub api_version: String,
    /// Minimum API version.
    #[serde(
        rename = "MinAPIVersion",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub min_api_version: String,
    /// Source commit.
    #[serde(deserialize_with = "null_default")]
    pub git_commit: String,
    /// Go version; Berth writes its rustc version.
    #[serde(deserialize_with = "null_default")]
    pub go_version: String,
    /// `linux`.
    #[serde(deserialize_with = "null_default")]
    pub os: String,
    /// `amd64`, `arm64` (Go names).
    #[serde(deserialize_with = "null_default")]
    pub arch: String,
    /// Host kernel release.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub kernel_version: String,
    /// Experimental features on.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub experimental: bool,
    /// Build time.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub build_time: String,
}

/// `Platform` of `/version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    /// Product name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
}

/// One entry of `Components`; `Details` of `Engine` repeats the top-level fields as strings
/// (`ApiVersion`, `MinAPIVersion`, `GitCommit`, `GoVersion`, `Os`, `Arch`, `KernelVersion`,
/// `BuildTime`, `Experimental`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    /// `Engine`, `containerd`, `runc`, ...
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Version.
    #[serde(deserialize_with = "null_default")]
    pub version: String,
    /// Free-form details.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub details: BTreeMap<String, String>,
}

/// `GET /info` (moby `types.Info` at 1.41). `docker info` tolerates missing keys, but reads
/// `Swarm.LocalNodeState` (write `inactive`), `RegistryConfig`, `Runtimes`, `SecurityOptions`
/// and `Warnings`; compose calls it before `up`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemInfo {
    /// Daemon ID.
    #[serde(rename = "ID", deserialize_with = "null_default")]
    pub id: String,
    /// All containers.
    #[serde(deserialize_with = "null_default")]
    pub containers: i64,
    /// Running.
    #[serde(deserialize_with = "null_default")]
    pub containers_running: i64,
    /// Paused.
    #[serde(deserialize_with = "null_default")]
    pub containers_paused: i64,
    /// Stopped.
    #[serde(deserialize_with = "null_default")]
    pub containers_stopped: i64,
    /// Images.
    #[serde(deserialize_with = "null_default")]
    pub images: i64,
    /// Storage driver (`overlay2`).
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// Driver status pairs (`[["Backing Filesystem","extfs"],...]`).
    #[serde(deserialize_with = "null_default")]
    pub driver_status: Vec<[String; 2]>,
    /// Plugins by kind.
    #[serde(deserialize_with = "null_default")]
    pub plugins: PluginsInfo,
    /// Memory limits supported.
    #[serde(deserialize_with = "null_default")]
    pub memory_limit: bool,
    /// Swap limits supported.
    #[serde(deserialize_with = "null_default")]
    pub swap_limit: bool,
    /// Kernel memory limits supported.
    #[serde(deserialize_with = "null_default")]
    pub kernel_memory: bool,
    /// Kernel TCP memory limits supported.
    #[serde(rename = "KernelMemoryTCP", deserialize_with = "null_default")]
    pub kernel_memory_tcp: bool,
    /// CFS period supported.
    #[serde(deserialize_with = "null_default")]
    pub cpu_cfs_period: bool,
    /// CFS quota supported.
    #[serde(deserialize_with = "null_default")]
    pub cpu_cfs_quota: bool,
    /// CPU shares supported.
    #[serde(rename = "CPUShares", deserialize_with = "null_default")]
    pub cpu_shares: bool,
    /// cpuset supported.
    #[serde(rename = "CPUSet", deserialize_with = "null_default")]
    pub cpu_set: bool,
    /// PID limits supported.
    #[serde(deserialize_with = "null_default")]
    pub pids_limit: bool,
    /// `net.ipv4.ip_forward` on.
    #[serde(rename = "IPv4Forwarding", deserialize_with = "null_default")]
    pub ipv4_forwarding: bool,
    /// `bridge-nf-call-iptables` on.
    #[serde(deserialize_with = "null_default")]
    pub bridge_nf_iptables: bool,
    /// `bridge-nf-call-ip6tables` on.
    #[serde(rename = "BridgeNfIp6tables", deserialize_with = "null_default")]
    pub bridge_nf_ip6tables: bool,
    /// Debug mode.
    #[serde(deserialize_with = "null_default")]
    pub debug: bool,
    /// Open file descriptors of the daemon.
    #[serde(rename = "NFd", deserialize_with = "null_default")]
    pub nfd: i64,
    /// OOM-kill disable supported.
    #[serde(deserialize_with = "null_default")]
    pub oom_kill_disable: bool,
    /// Go: goroutines; Berth: tasks or threads.
    #[serde(rename = "NGoroutines", deserialize_with = "null_default")]
    pub ngoroutines: i64,
    /// Current time, RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub system_time: String,
    /// Default log driver.
    #[serde(deserialize_with = "null_default")]
    pub logging_driver: String,
    /// `cgroupfs` or `systemd`.
    #[serde(deserialize_with = "null_default")]
    pub cgroup_driver: String,
    /// `1` or `2`.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub cgroup_version: String,
    /// Event listeners.
    #[serde(rename = "NEventsListener", deserialize_with = "null_default")]
    pub nevents_listener: i64,
    /// Kernel release.
    #[serde(deserialize_with = "null_default")]
    pub kernel_version: String,
    /// `PRETTY_NAME` of os-release.
    #[serde(deserialize_with = "null_default")]
    pub operating_system: String,
    /// `VERSION_ID` of os-release.
    #[serde(rename = "OSVersion", deserialize_with = "null_default")]
    pub os_version: String,
    /// `linux`.
    #[serde(rename = "OSType", deserialize_with = "null_default")]
    pub os_type: String,
    /// `x86_64` (uname, not Go's name).
    #[serde(deserialize_with = "null_default")]
    pub architecture: String,
    /// Default registry index (`https://index.docker.io/v1/`).
    #[serde(deserialize_with = "null_default")]
    pub index_server_address: String,
    /// Registry configuration.
    #[serde(deserialize_with = "null_default")]
    pub registry_config: RegistryConfig,
    /// CPUs.
    #[serde(rename = "NCPU", deserialize_with = "null_default")]
    pub ncpu: i64,
    /// Host memory in bytes.
    #[serde(deserialize_with = "null_default")]
    pub mem_total: i64,
    /// Swarm generic resources (unused, `null`).
    pub generic_resources: Option<Vec<serde_json::Value>>,
    /// Data root.
    #[serde(deserialize_with = "null_default")]
    pub docker_root_dir: String,
    /// HTTP proxy of the daemon.
    #[serde(rename = "HttpProxy", deserialize_with = "null_default")]
    pub http_proxy: String,
    /// HTTPS proxy of the daemon.
    #[serde(rename = "HttpsProxy", deserialize_with = "null_default")]
    pub https_proxy: String,
    /// No-proxy list.
    #[serde(deserialize_with = "null_default")]
    pub no_proxy: String,
    /// Host name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Daemon labels.
    #[serde(deserialize_with = "null_default")]
    pub labels: Vec<String>,
    /// Experimental build.
    #[serde(deserialize_with = "null_default")]
    pub experimental_build: bool,
    /// Server version.
    #[serde(deserialize_with = "null_default")]
    pub server_version: String,
    /// OCI runtimes by name.
    #[serde(deserialize_with = "null_default")]
    pub runtimes: BTreeMap<String, Runtime>,
    /// Default runtime name.
    #[serde(deserialize_with = "null_default")]
    pub default_runtime: String,
    /// Swarm state (always inactive for Berth).
    #[serde(deserialize_with = "null_default")]
    pub swarm: SwarmInfo,
    /// Live restore (Berth's shims make containers outlive the daemon).
    #[serde(deserialize_with = "null_default")]
    pub live_restore_enabled: bool,
    /// Windows isolation; `""` on Linux.
    #[serde(deserialize_with = "null_default")]
    pub isolation: String,
    /// Init binary name (`docker-init`).
    #[serde(deserialize_with = "null_default")]
    pub init_binary: String,
    /// containerd commit.
    #[serde(deserialize_with = "null_default")]
    pub containerd_commit: Commit,
    /// runc commit.
    #[serde(deserialize_with = "null_default")]
    pub runc_commit: Commit,
    /// init commit.
    #[serde(deserialize_with = "null_default")]
    pub init_commit: Commit,
    /// `name=seccomp,profile=default`, `name=cgroupns`, ...
    #[serde(deserialize_with = "null_default")]
    pub security_options: Vec<String>,
    /// Product license; omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub product_license: String,
    /// Default address pools; omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub default_address_pools: Vec<AddressPool>,
    /// Warnings printed by `docker info` (`WARNING: No swap limit support`).
    #[serde(deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// `Plugins` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    /// Volume drivers (`local`).
    #[serde(deserialize_with = "null_default")]
    pub volume: Vec<String>,
    /// Network drivers (`bridge`, `host`, `null`, ...).
    #[serde(deserialize_with = "null_default")]
    pub network: Vec<String>,
    /// Authorization plugins.
    pub authorization: Option<Vec<String>>,
    /// Log drivers.
    #[serde(deserialize_with = "null_default")]
    pub log: Vec<String>,
}

/// `RegistryConfig` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryConfig {
    /// CIDRs allowed to push non-distributable layers.
    #[serde(
        rename = "AllowNondistributableArtifactsCIDRs",
        deserialize_with = "null_default"
    )]
    pub allow_nondistributable_artifacts_cidrs: Vec<String>,
    /// Hostnames allowed to push non-distributable layers.
    #[serde(deserialize_with = "null_default")]
    pub allow_nondistributable_artifacts_hostnames: Vec<String>,
    /// Insecure registry CIDRs (`127.0.0.0/8`).
    #[serde(rename = "InsecureRegistryCIDRs", deserialize_with = "null_default")]
    pub insecure_registry_cidrs: Vec<String>,
    /// Index configurations by name (`docker.io`).
    #[serde(deserialize_with = "null_default")]
    pub index_configs: BTreeMap<String, IndexInfo>,
    /// Registry mirrors.
    #[serde(deserialize_with = "null_default")]
    pub mirrors: Vec<String>,
}

/// A registry index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexInfo {
    /// `docker.io`.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Mirrors.
    #[serde(deserialize_with = "null_default")]
    pub mirrors: Vec<String>,
    /// TLS required.
    #[serde(deserialize_with = "null_default")]
    pub secure: bool,
    /// Docker Hub.
    #[serde(deserialize_with = "null_default")]
    pub official: bool,
}

/// An OCI runtime: `{"path":"berth-runc"}` (lower-case keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    /// Binary.
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    /// Extra arguments; omitted when empty.
    #[serde(
        rename = "runtimeArgs",
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub runtime_args: Vec<String>,
}

/// A component commit: `{"ID":"...","Expected":"..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Commit {
    /// Actual commit.
    #[serde(rename = "ID", deserialize_with = "null_default")]
    pub id: String,
    /// Expected commit.
    #[serde(deserialize_with = "null_default")]
    pub expected: String,
}

/// A default address pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddressPool {
    /// CIDR.
    #[serde(deserialize_with = "null_default")]
    pub base: String,
    /// Subnet size.
    #[serde(deserialize_with = "null_default")]
    pub size: i64,
}

/// `Swarm` of `/info`. The CLI and compose only need `LocalNodeState`; see
/// [`SwarmInfo::inactive`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    /// Node ID.
    #[serde(rename = "NodeID", deserialize_with = "null_default")]
    pub node_id: String,
    /// Node address.
    #[serde(deserialize_with = "null_default")]
    pub node_addr: String,
    /// `inactive`, `pending`, `active`, `error`, `locked`.
    #[serde(deserialize_with = "null_default")]
    pub local_node_state: String,
    /// Manager.
    #[serde(deserialize_with = "null_default")]
    pub control_available: bool,
    /// Error.
    #[serde(deserialize_with = "null_default")]
    pub error: String,
    /// Known managers; `null` when inactive.
    pub remote_managers: Option<Vec<serde_json::Value>>,
    /// Nodes; omitted when 0.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub nodes: i64,
    /// Managers; omitted when 0.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub managers: i64,
}

impl SwarmInfo {
    /// What a daemon outside any swarm writes:
    /// `{"NodeID":"","NodeAddr":"","LocalNodeState":"inactive","ControlAvailable":false,"Error":"","RemoteManagers":null}`.
    pub fn inactive() -> Self {
        SwarmInfo {
            local_node_state: "inactive".into(),
            ..SwarmInfo::default()
        }
    }
}

/// One `GET /events` message (moby `events.Message`). From 1.22 to 1.50 dockerd keeps the
/// deprecated top-level `status`, `id`, `from` on container (and image) events, and compose 1.29
/// requires them, with the container's labels in `Actor.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    /// Legacy: the action.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub status: String,
    /// Legacy: the actor ID.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// Legacy: the image of a container event.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub from: String,
    /// `container`, `image`, `network`, `volume`, `daemon`, ...
    #[serde(rename = "Type", deserialize_with = "null_default")]
    pub r#type: String,
    /// `create`, `start`, `die`, `destroy`, `exec_start: sh`, `health_status: healthy`, ...
    #[serde(rename = "Action", deserialize_with = "null_default")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor", deserialize_with = "null_default")]
    pub actor: EventActor,
    /// `local` (or `swarm`).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub scope: String,
    /// Unix seconds.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(
        rename = "timeNano",
        deserialize_with = "null_default",
        skip_serializing_if = "is_zero"
    )]
    pub time_nano: i64,
}

/// `Actor` of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventActor {
    /// Object ID.
    #[serde(rename = "ID", deserialize_with = "null_default")]
    pub id: String,
    /// `name`, `image`, `exitCode`, labels, ...
    #[serde(deserialize_with = "null_default")]
    pub attributes: BTreeMap<String, String>,
}

/// `GET /system/df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DiskUsage {
    /// Bytes of all layers.
    #[serde(deserialize_with = "null_default")]
    pub layers_size: i64,
    /// Images with real `Containers` and `SharedSize`.
    #[serde(deserialize_with = "null_default")]
    pub images: Vec<ImageSummary>,
    /// Containers with `SizeRw`/`SizeRootFs`.
    #[serde(deserialize_with = "null_default")]
    pub containers: Vec<ContainerSummary>,
    /// Volumes with `UsageData`.
    #[serde(deserialize_with = "null_default")]
    pub volumes: Vec<Volume>,
    /// Build cache records (none for the classic builder).
    #[serde(deserialize_with = "null_default")]
    pub build_cache: Vec<serde_json::Value>,
}

/// `POST /auth` body (lower-case keys, as the CLI and docker-py send them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// User name.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub username: String,
    /// Password or token.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub password: String,
    /// Deprecated e-mail.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub email: String,
    /// Registry (`https://index.docker.io/v1/` or `host:port`).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub serveraddress: String,
    /// Identity token.
    #[serde(
        rename = "identitytoken",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub identity_token: String,
    /// Registry token.
    #[serde(
        rename = "registrytoken",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub registry_token: String,
}

/// `POST /auth` response: `{"IdentityToken":"","Status":"Login Succeeded"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthResponse {
    /// Token to use instead of the password.
    #[serde(deserialize_with = "null_default")]
    pub identity_token: String,
    /// `Login Succeeded`.
    #[serde(deserialize_with = "null_default")]
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_API_VERSION, MIN_API_VERSION};

    #[test]
    fn version_body_for_docker_version_and_docker_py() {
        let details: BTreeMap<String, String> = [
            ("ApiVersion", MAX_API_VERSION.to_string()),
            ("Arch", "amd64".into()),
            ("MinAPIVersion", MIN_API_VERSION.to_string()),
            ("Os", "linux".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let v = SystemVersion {
            platform: Platform {
                name: "Berth Engine".into(),
            },
            components: vec![ComponentVersion {
                name: "Engine".into(),
                version: "0.1.0".into(),
                details,
            }],
            version: "0.1.0".into(),
            api_version: MAX_API_VERSION.to_string(),
            min_api_version: MIN_API_VERSION.to_string(),
            git_commit: "abc".into(),
            go_version: "rustc 1.85".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            kernel_version: "6.1.0".into(),
            experimental: false,
            build_time: "2024-05-01T10:00:00Z".into(),
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"Platform":{"Name":"Berth Engine"},"Components":[{"Name":"Engine","Version":"0.1.0","Details":{"ApiVersion":"1.41","Arch":"amd64","MinAPIVersion":"1.24","Os":"linux"}}],"Version":"0.1.0","ApiVersion":"1.41","MinAPIVersion":"1.24","GitCommit":"abc","GoVersion":"rustc 1.85","Os":"linux","Arch":"amd64","KernelVersion":"6.1.0","BuildTime":"2024-05-01T10:00:00Z"}"#
        );
    }

    #[test]
    fn info_reads_dockerd_and_writes_inactive_swarm() {
        let text = r#"{"ID":"ABCD:EFGH","Containers":2,"ContainersRunning":1,"ContainersPaused":0,"ContainersStopped":1,"Images":3,"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"]],"Plugins":{"Volume":["local"],"Network":["bridge","host","ipvlan","macvlan","null","overlay"],"Authorization":null,"Log":["awslogs","json-file","local"]},"MemoryLimit":true,"SwapLimit":false,"KernelMemory":true,"KernelMemoryTCP":true,"CpuCfsPeriod":true,"CpuCfsQuota":true,"CPUShares":true,"CPUSet":true,"PidsLimit":true,"IPv4Forwarding":true,"BridgeNfIptables":true,"BridgeNfIp6tables":true,"Debug":false,"NFd":33,"OomKillDisable":true,"NGoroutines":40,"SystemTime":"2024-05-01T10:00:00.1Z","LoggingDriver":"json-file","CgroupDriver":"cgroupfs","CgroupVersion":"1","NEventsListener":0,"KernelVersion":"6.1.0-18-amd64","OperatingSystem":"Debian GNU/Linux 12 (bookworm)","OSVersion":"12","OSType":"linux","Architecture":"x86_64","IndexServerAddress":"https://index.docker.io/v1/","RegistryConfig":{"AllowNondistributableArtifactsCIDRs":[],"AllowNondistributableArtifactsHostnames":[],"InsecureRegistryCIDRs":["127.0.0.0/8"],"IndexConfigs":{"docker.io":{"Name":"docker.io","Mirrors":[],"Secure":true,"Official":true}},"Mirrors":[]},"NCPU":2,"MemTotal":4100000000,"GenericResources":null,"DockerRootDir":"/var/lib/docker","HttpProxy":"","HttpsProxy":"","NoProxy":"","Name":"host","Labels":[],"ExperimentalBuild":false,"ServerVersion":"20.10.24","Runtimes":{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}},"DefaultRuntime":"runc","Swarm":{"NodeID":"","NodeAddr":"","LocalNodeState":"inactive","ControlAvailable":false,"Error":"","RemoteManagers":null},"LiveRestoreEnabled":false,"Isolation":"","InitBinary":"docker-init","ContainerdCommit":{"ID":"1.6.20","Expected":"1.6.20"},"RuncCommit":{"ID":"1.1.5","Expected":"1.1.5"},"InitCommit":{"ID":"","Expected":""},"SecurityOptions":["name=apparmor","name=seccomp,profile=default"],"Warnings":["WARNING: No swap limit support"]}"#;
        let info: SystemInfo = serde_json::from_str(text).unwrap();
        assert_eq!(info.swarm, SwarmInfo::inactive());
        assert_eq!(info.ncpu, 2);
        assert_eq!(info.runtimes["runc"].path, "runc");
        assert_eq!(
            info.driver_status[0],
            ["Backing Filesystem".to_string(), "extfs".to_string()]
        );
        // Every key dockerd 20.10 wrote is written back identically.
        assert_eq!(serde_json::to_string(&info).unwrap(), text);

        let v = serde_json::to_value(SystemInfo {
            swarm: SwarmInfo::inactive(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            v["Swarm"],
            serde_json::json!({"NodeID":"","NodeAddr":"","LocalNodeState":"inactive","ControlAvailable":false,"Error":"","RemoteManagers":null})
        );
        assert_eq!(v["Warnings"], serde_json::json!([]));
        assert_eq!(v["SecurityOptions"], serde_json::json!([]));
        assert!(v["RegistryConfig"]["IndexConfigs"].is_object());
    }

    #[test]
    fn event_keeps_legacy_fields_compose_needs() {
        let mut attrs = BTreeMap::new();
        attrs.insert("com.docker.compose.service".to_string(), "web".to_string());
        attrs.insert("image".to_string(), "busybox".to_string());
        attrs.insert("name".to_string(), "p_web_1".to_string());
        let e = EventMessage {
            status: "start".into(),
            id: "c1".into(),
            from: "busybox".into(),
            r#type: "container".into(),
            action: "start".into(),
            actor: EventActor {
                id: "c1".into(),
                attributes: attrs,
            },
            scope: "local".into(),
            time: 1795336873,
            time_nano: 1795336873515366612,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"status":"start","id":"c1","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{"com.docker.compose.service":"web","image":"busybox","name":"p_web_1"}},"scope":"local","time":1795336873,"timeNano":1795336873515366612}"#
        );
        // Network events have no legacy fields.
        let n = EventMessage {
            r#type: "network".into(),
            action: "connect".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"Type":"network","Action":"connect","Actor":{"ID":"","Attributes":{}}}"#
        );
    }

    #[test]
    fn auth_bodies() {
        let a: AuthConfig = serde_json::from_str(
            r#"{"username":"u","password":"p","serveraddress":"localhost:5055"}"#,
        )
        .unwrap();
        assert_eq!(
            (a.username.as_str(), a.serveraddress.as_str()),
            ("u", "localhost:5055")
        );
        let r = AuthResponse {
            identity_token: String::new(),
            status: "Login Succeeded".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"IdentityToken":"","Status":"Login Succeeded"}"#
        );
    }

    #[test]
    fn disk_usage_shape() {
        let df = DiskUsage::default();
        assert_eq!(
            serde_json::to_string(&df).unwrap(),
            r#"{"LayersSize":0,"Images":[],"Containers":[],"Volumes":[],"BuildCache":[]}"#
        );
    }
}
