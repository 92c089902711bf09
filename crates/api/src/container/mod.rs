//! Containers: create, list, inspect, wait, top, changes, update, exec, stats, prune.
//!
//! - [`config`]: `Config` ([`ContainerConfig`], [`HealthConfig`]).
//! - [`host_config`]: [`HostConfig`], [`Resources`] and their parts ([`Mount`], [`PortBinding`], ...).
//! - [`inspect`]: `GET /containers/{id}/json` ([`ContainerInspect`], [`ContainerState`], ...).
//! - [`summary`]: `GET /containers/json` items ([`ContainerSummary`], [`Port`]).
//! - [`exec`]: exec create / start / inspect bodies.
//! - [`stats`]: the stats object.

pub mod config;
pub mod exec;
pub mod host_config;
pub mod inspect;
pub mod stats;
pub mod summary;

pub use config::{ContainerConfig, HealthConfig};
pub use exec::{ExecCreateRequest, ExecInspect, ExecProcessConfig, ExecStartRequest};
pub use host_config::{
    BindOptions, DeviceMapping, DeviceRequest, HostConfig, LogConfig, Mount, PortBinding, PortMap,
    Resources, RestartPolicy, ThrottleDevice, TmpfsOptions, Ulimit, VolumeDriverConfig,
    VolumeOptions, WeightDevice,
};
pub use inspect::{
    Address, ContainerInspect, ContainerState, GraphDriverData, Health, HealthcheckResult,
    MountPoint, NetworkSettings,
};
pub use stats::Stats;
pub use summary::{ContainerSummary, Port, SummaryHostConfig, SummaryNetworkSettings};

use serde::{Deserialize, Serialize};

use crate::de::null_default;
use crate::network::NetworkingConfig;

/// `POST /containers/create[?name=n]` body (moby `container.CreateRequest`): the `Config`
/// fields at the top level, plus `HostConfig` and `NetworkingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    /// The portable configuration (flattened).
    #[serde(flatten)]
    pub config: ContainerConfig,
    /// Host configuration; absent from some old clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_config: Option<HostConfig>,
    /// Endpoints to create on start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}

/// `201 {"Id":"<64 hex>","Warnings":[]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    /// New container's ID.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// Warnings (`[]` when none, never `null`).
    #[serde(deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// `{"Id":"..."}`: exec create and commit responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdResponse {
    /// The new object's ID.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
}

/// `POST /containers/{id}/wait` body, sent once the condition is met:
/// `{"Error":null,"StatusCode":0}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWaitResponse {
    /// Set when waiting failed; `null` otherwise (always written).
    pub error: Option<WaitError>,
    /// Exit status (-1 when unknown).
    #[serde(deserialize_with = "null_default")]
    pub status_code: i64,
}

/// `Error` of a wait response: `{"Message":"..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitError {
    /// Message.
    #[serde(deserialize_with = "null_default")]
    pub message: String,
}

/// `GET /containers/{id}/top`: `{"Processes":[["9880","sh"]],"Titles":["PID","COMMAND"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerTopResponse {
    /// One row per process, one cell per title.
    #[serde(deserialize_with = "null_default")]
    pub processes: Vec<Vec<String>>,
    /// Column titles from `ps`.
    #[serde(deserialize_with = "null_default")]
    pub titles: Vec<String>,
}

/// `GET /containers/{id}/changes` item: `{"Path":"/tmp","Kind":0}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerChange {
    /// Changed path.
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    /// [`ContainerChange::MODIFIED`], [`ContainerChange::ADDED`] or [`ContainerChange::DELETED`].
    #[serde(deserialize_with = "null_default")]
    pub kind: u8,
}

impl ContainerChange {
    /// `C` in `docker diff`.
    pub const MODIFIED: u8 = 0;
    /// `A` in `docker diff`.
    pub const ADDED: u8 = 1;
    /// `D` in `docker diff`.
    pub const DELETED: u8 = 2;
}

/// `POST /containers/{id}/update` body (moby `container.UpdateConfig`): resource fields at
/// the top level, plus `RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateRequest {
    /// New limits (flattened); zero fields mean "unchanged".
    #[serde(flatten)]
    pub resources: Resources,
    /// New restart policy; an empty `Name` means unchanged.
    #[serde(deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
}

/// `200 {"Warnings":null}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateResponse {
    /// Warnings; `null` when none, as dockerd writes it.
    pub warnings: Option<Vec<String>>,
}

/// `POST /containers/prune` response: `{"ContainersDeleted":[],"SpaceReclaimed":0}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerPruneResponse {
    /// IDs of removed containers.
    #[serde(deserialize_with = "null_default")]
    pub containers_deleted: Vec<String>,
    /// Bytes freed.
    #[serde(deserialize_with = "null_default")]
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests;
