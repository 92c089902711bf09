//! `GET /containers/json` items (moby `types.Container`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::MountPoint;
use crate::de::{is_zero, map_null_values, null_default};
use crate::network::EndpointSettings;

/// One `docker ps` row. `Names`, `Ports`, `Labels` and `Mounts` are always written (`[]`, `{}`),
/// never `null`: `docker ps --format '{{json .}}'` consumers and compose iterate them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    /// Full ID.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// Names, each with a leading `/` (`["/web"]`; links add `/other/alias`).
    #[serde(deserialize_with = "null_default")]
    pub names: Vec<String>,
    /// Image as given at create (or the image ID if the name moved).
    #[serde(deserialize_with = "null_default")]
    pub image: String,
    /// Image ID.
    #[serde(rename = "ImageID", deserialize_with = "null_default")]
    pub image_id: String,
    /// Path and args joined by single spaces.
    #[serde(deserialize_with = "null_default")]
    pub command: String,
    /// Creation time, Unix seconds.
    #[serde(deserialize_with = "null_default")]
    pub created: i64,
    /// Port mappings.
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<Port>,
    /// Writable layer size (`size=1`); omitted when 0, as Go does.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub size_rw: i64,
    /// Root filesystem size (`size=1`); omitted when 0.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub size_root_fs: i64,
    /// Labels.
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    #[serde(deserialize_with = "null_default")]
    pub state: String,
    /// Human status made by the server: `Up 39 seconds`, `Exited (3) 5 minutes ago`, ...
    #[serde(deserialize_with = "null_default")]
    pub status: String,
    /// Only the network mode.
    #[serde(deserialize_with = "null_default")]
    pub host_config: SummaryHostConfig,
    /// Endpoints by network name.
    #[serde(deserialize_with = "null_default")]
    pub network_settings: SummaryNetworkSettings,
    /// Mounts.
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<MountPoint>,
}

/// An entry of `Ports`: `{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}`;
/// an exposed, unpublished port is `{"PrivatePort":80,"Type":"tcp"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    /// Host IP; omitted when empty.
    #[serde(
        rename = "IP",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip: String,
    /// Container port.
    #[serde(deserialize_with = "null_default")]
    pub private_port: u16,
    /// Host port; omitted when 0.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub public_port: u16,
    /// `tcp`, `udp`, `sctp`.
    #[serde(deserialize_with = "null_default")]
    pub r#type: String,
}

/// `HostConfig` of a summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    /// Network mode; omitted when empty.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub network_mode: String,
}

/// `NetworkSettings` of a summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    /// Endpoints by network name.
    #[serde(deserialize_with = "map_null_values")]
    pub networks: BTreeMap<String, EndpointSettings>,
}
