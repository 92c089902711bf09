//! Networks: `GET /networks[/{id}]`, `POST /networks/create`, connect / disconnect, prune, and
//! the endpoint settings shared with container create and inspect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{map_null_values, null_default};

/// A network (moby `types.NetworkResource`), as `network ls` and `network inspect` show it.
/// `Containers`, `Options` and `Labels` are always objects (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    /// Name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Full ID.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// Creation time, RFC 3339 nano.
    #[serde(deserialize_with = "null_default")]
    pub created: String,
    /// `local` (or `swarm`, `global`).
    #[serde(deserialize_with = "null_default")]
    pub scope: String,
    /// `bridge`, `host`, `null`, `macvlan`, ...
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// IPv6 enabled.
    #[serde(rename = "EnableIPv6", deserialize_with = "null_default")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM", deserialize_with = "null_default")]
    pub ipam: Ipam,
    /// No external connectivity.
    #[serde(deserialize_with = "null_default")]
    pub internal: bool,
    /// Attachable by standalone containers (swarm).
    #[serde(deserialize_with = "null_default")]
    pub attachable: bool,
    /// Swarm routing mesh.
    #[serde(deserialize_with = "null_default")]
    pub ingress: bool,
    /// Network this one takes its configuration from.
    #[serde(deserialize_with = "null_default")]
    pub config_from: ConfigReference,
    /// Configuration-only placeholder.
    #[serde(deserialize_with = "null_default")]
    pub config_only: bool,
    /// Attached containers by ID.
    #[serde(deserialize_with = "map_null_values")]
    pub containers: BTreeMap<String, NetworkContainer>,
    /// Driver options.
    #[serde(deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    /// Labels.
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
}

/// IP address management of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    /// `default`.
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// IPAM driver options; `null` when none (as dockerd writes it).
    pub options: Option<BTreeMap<String, String>>,
    /// Pools.
    pub config: Option<Vec<IpamConfig>>,
}

/// One address pool; every field is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    /// CIDR.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    /// Sub-range to allocate from.
    #[serde(
        rename = "IPRange",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    /// Gateway.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    /// Reserved addresses by name.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// `ConfigFrom`: `{"Network":""}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigReference {
    /// Source network name.
    #[serde(deserialize_with = "null_default")]
    pub network: String,
}

/// A container attached to a network, as the network shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkContainer {
    /// Container name (no leading `/`).
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    /// MAC address.
    #[serde(deserialize_with = "null_default")]
    pub mac_address: String,
    /// `172.17.0.2/16`.
    #[serde(rename = "IPv4Address", deserialize_with = "null_default")]
    pub ipv4_address: String,
    /// IPv6 address with prefix, or empty.
    #[serde(rename = "IPv6Address", deserialize_with = "null_default")]
    pub ipv6_address: String,
}

/// `POST /networks/create` body. The CLI sends every field; compose sends
/// `{"Name","CheckDuplicate":true,"Labels","Attachable":true}` (no `Driver`: bridge).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    /// Name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// Refuse duplicate names (ignored from 1.44, where duplicates are always refused).
    #[serde(deserialize_with = "null_default")]
    pub check_duplicate: bool,
    /// Driver; empty means `bridge`.
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    /// Scope.
    #[serde(deserialize_with = "null_default")]
    pub scope: String,
    /// IPv6.
    #[serde(rename = "EnableIPv6", deserialize_with = "null_default")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    /// Internal.
    #[serde(deserialize_with = "null_default")]
    pub internal: bool,
    /// Attachable.
    #[serde(deserialize_with = "null_default")]
    pub attachable: bool,
    /// Ingress.
    #[serde(deserialize_with = "null_default")]
    pub ingress: bool,
    /// Config-only.
    #[serde(deserialize_with = "null_default")]
    pub config_only: bool,
    /// Config source.
    pub config_from: Option<ConfigReference>,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
}

/// `201 {"Id":"...","Warning":""}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateResponse {
    /// Network ID.
    #[serde(rename = "Id", deserialize_with = "null_default")]
    pub id: String,
    /// A warning, usually empty (always written).
    #[serde(deserialize_with = "null_default")]
    pub warning: String,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    /// Container ID or name.
    #[serde(deserialize_with = "null_default")]
    pub container: String,
    /// Endpoint configuration (aliases, static IP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnectRequest {
    /// Container ID or name.
    #[serde(deserialize_with = "null_default")]
    pub container: String,
    /// Disconnect even if the container is gone.
    #[serde(deserialize_with = "null_default")]
    pub force: bool,
}

/// `POST /networks/prune` response: `{"NetworksDeleted":["n"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkPruneResponse {
    /// Names of removed networks.
    #[serde(deserialize_with = "null_default")]
    pub networks_deleted: Vec<String>,
}

/// `NetworkingConfig` of container create: endpoint settings by network name. A `null` entry
/// (`{"bridge":null}`) reads as default settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Endpoints by network name (`default` = the daemon's default bridge).
    #[serde(deserialize_with = "map_null_values")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// An endpoint on a network (moby `network.EndpointSettings`): configuration given at create or
/// connect, and operational data shown by inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    /// Static addresses.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// Legacy links.
    pub links: Option<Vec<String>>,
    /// DNS aliases on this network.
    pub aliases: Option<Vec<String>>,
    /// Network ID.
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    /// IPv4 gateway.
    #[serde(deserialize_with = "null_default")]
    pub gateway: String,
    /// IPv4 address.
    #[serde(rename = "IPAddress", deserialize_with = "null_default")]
    pub ip_address: String,
    /// IPv4 prefix length.
    #[serde(rename = "IPPrefixLen", deserialize_with = "null_default")]
    pub ip_prefix_len: i64,
    /// IPv6 gateway.
    #[serde(rename = "IPv6Gateway", deserialize_with = "null_default")]
    pub ipv6_gateway: String,
    /// Global IPv6 address.
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "null_default")]
    pub global_ipv6_address: String,
    /// Its prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen", deserialize_with = "null_default")]
    pub global_ipv6_prefix_len: i64,
    /// MAC address (a request field from 1.44).
    #[serde(deserialize_with = "null_default")]
    pub mac_address: String,
    /// Driver options.
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// Static addresses of an endpoint; every field is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    /// IPv4 address.
    #[serde(
        rename = "IPv4Address",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    /// IPv6 address.
    #[serde(
        rename = "IPv6Address",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    /// Link-local addresses.
    #[serde(
        rename = "LinkLocalIPs",
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub link_local_ips: Vec<String>,
}
