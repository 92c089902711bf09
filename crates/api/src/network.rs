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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_and_compose_create_bodies() {
        // docker network create --subnet 172.30.0.0/16 --gateway 172.30.0.1 tnet (CLI 28 at 1.41)
        let req: NetworkCreateRequest = serde_json::from_str(
            r#"{"Name":"tnet","CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":false,"IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"172.30.0.0/16","Gateway":"172.30.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{}}"#,
        )
        .unwrap();
        assert_eq!(req.name, "tnet");
        assert!(req.check_duplicate);
        let ipam = req.ipam.unwrap();
        assert_eq!(ipam.config.unwrap()[0].gateway, "172.30.0.1");
        assert_eq!(req.config_from, None);

        let req: NetworkCreateRequest = serde_json::from_str(
            r#"{"Name": "p_front", "CheckDuplicate": true, "Labels": {"com.docker.compose.network": "front", "com.docker.compose.project": "p", "com.docker.compose.version": "1.29.2"}, "Attachable": true}"#,
        )
        .unwrap();
        assert_eq!(req.driver, "");
        assert!(req.attachable);
        assert_eq!(req.labels.unwrap().len(), 3);
    }

    #[test]
    fn network_as_ls_and_inspect_show_it() {
        let n = Network {
            name: "bridge".into(),
            id: "n1".into(),
            created: "2024-05-01T09:00:00.000000001Z".into(),
            scope: "local".into(),
            driver: "bridge".into(),
            ipam: Ipam {
                driver: "default".into(),
                options: None,
                config: Some(vec![IpamConfig {
                    subnet: "172.17.0.0/16".into(),
                    gateway: "172.17.0.1".into(),
                    ..Default::default()
                }]),
            },
            ..Default::default()
        };
        let text = serde_json::to_string(&n).unwrap();
        assert_eq!(
            text,
            r#"{"Name":"bridge","Id":"n1","Created":"2024-05-01T09:00:00.000000001Z","Scope":"local","Driver":"bridge","EnableIPv6":false,"IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigFrom":{"Network":""},"ConfigOnly":false,"Containers":{},"Options":{},"Labels":{}}"#
        );
        let mut n2 = n.clone();
        n2.containers.insert(
            "c1".into(),
            NetworkContainer {
                name: "web".into(),
                endpoint_id: "e1".into(),
                mac_address: "02:42:ac:11:00:02".into(),
                ipv4_address: "172.17.0.2/16".into(),
                ipv6_address: String::new(),
            },
        );
        let text = serde_json::to_string(&n2).unwrap();
        assert!(text.contains(r#""Containers":{"c1":{"Name":"web","EndpointID":"e1","MacAddress":"02:42:ac:11:00:02","IPv4Address":"172.17.0.2/16","IPv6Address":""}}"#));
        assert_eq!(serde_json::from_str::<Network>(&text).unwrap(), n2);
        assert_eq!(
            serde_json::to_string(&NetworkCreateResponse {
                id: "n1".into(),
                warning: String::new()
            })
            .unwrap(),
            r#"{"Id":"n1","Warning":""}"#
        );
    }

    #[test]
    fn connect_and_disconnect() {
        // compose re-attaches each created container with its short ID as an alias.
        let c: NetworkConnectRequest = serde_json::from_str(
            r#"{"Container": "4c1f0e6a2b3d", "EndpointConfig": {"Aliases": ["4c1f0e6a2b3d", "web"]}}"#,
        )
        .unwrap();
        let ep = c.endpoint_config.unwrap();
        assert_eq!(ep.aliases.unwrap(), ["4c1f0e6a2b3d", "web"]);
        let c: NetworkConnectRequest = serde_json::from_str(
            r#"{"Container":"t_log","EndpointConfig":{"IPAMConfig":{"IPv4Address":"172.30.0.10"},"Links":null,"Aliases":["foo"],"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}}"#,
        )
        .unwrap();
        assert_eq!(
            c.endpoint_config.unwrap().ipam_config.unwrap().ipv4_address,
            "172.30.0.10"
        );
        let c: NetworkConnectRequest = serde_json::from_str(r#"{"Container":"x"}"#).unwrap();
        assert_eq!(c.endpoint_config, None);
        let d: NetworkDisconnectRequest =
            serde_json::from_str(r#"{"Container":"t_log","Force":true}"#).unwrap();
        assert!(d.force);
        assert_eq!(
            serde_json::to_string(&NetworkPruneResponse {
                networks_deleted: vec!["tnet2".into()]
            })
            .unwrap(),
            r#"{"NetworksDeleted":["tnet2"]}"#
        );
    }

    #[test]
    fn endpoint_settings_write_go_nulls() {
        let ep = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: "172.30.0.10".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&ep).unwrap(),
            r#"{"IPAMConfig":{"IPv4Address":"172.30.0.10"},"Links":null,"Aliases":null,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}"#
        );
    }
}
