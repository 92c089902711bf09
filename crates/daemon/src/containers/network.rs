//! The container side of networking: what a container's record asks of the network service at
//! start, how the OCI spec joins the namespace and mounts the files, and what inspect and `ps`
//! show of it.
use std::collections::BTreeMap;

use berth_api::container::{NetworkSettings, Port};
use berth_api::network::EndpointSettings;
use serde_json::{json, Value};

use super::record::Record;
use super::ContainerService;
use crate::error::{Error, Result};
use crate::networks::ports;
use crate::networks::sandbox::{Mode, SetupRequest, SpecPatch};

/// The container's hostname as the spec sets it.
pub(crate) fn hostname(r: &Record) -> String {
    if r.config.hostname.is_empty() {
        r.id[..12].to_string()
    } else {
        r.config.hostname.clone()
    }
}

impl ContainerService {
    /// The network mode of a record, with `container:<name>` resolved to a running container's
    /// ID.
    fn mode_of(&self, r: &Record) -> Result<Mode> {
        let (mode, _) = self
            .networks
            .plan(&r.host_config.network_mode, &BTreeMap::new())?;
        Ok(match mode {
            Mode::Container(other) => {
                let c = self
                    .get(&other)
                    .map_err(|_| Error::not_found(format!("No such container: {other}")))?;
                let (id, live) = {
                    let o = c.rec.lock().map_err(super::poisoned)?;
                    (o.id.clone(), o.state.status.is_live())
                };
                if !live {
                    return Err(Error::conflict(format!(
                        "cannot join network namespace of a non running container: {other}"
                    )));
                }
                Mode::Container(id)
            }
            m => m,
        })
    }

    /// Make the network of `r` before its start (blocking).
    pub(crate) fn network_setup(self: &std::sync::Arc<Self>, r: &Record) -> Result<SpecPatch> {
        let mode = self.mode_of(r)?;
        let h = &r.host_config;
        let mut links = Vec::new();
        let mut link_env = Vec::new();
        for l in h.links.iter().flatten() {
            // `name:alias` (the CLI sends `/name:/me/alias` on old versions).
            let (target, alias) = l.split_once(':').unwrap_or((l, l));
            let target = target.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let c = self
                .get(target)
                .map_err(|_| Error::invalid(format!("could not get container for {target}")))?;
            let (tid, tname, t_exposed, t_env) = {
                let t = c.rec.lock().map_err(super::poisoned)?;
                (
                    t.id.clone(),
                    t.name.clone(),
                    t.config.exposed_ports.clone(),
                    t.config.env.clone().unwrap_or_default(),
                )
            };
            let ip = self
                .networks
                .sandbox_state(&tid)
                .and_then(|s| s.endpoints.first().map(|e| e.ip))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "cannot link to a non running container: /{tname} AS /{}/{alias}",
                        r.name
                    ))
                })?;
            link_env.extend(link_vars(&r.name, alias, ip, &t_exposed, &t_env));
            let mut names = vec![alias.to_string()];
            if alias != tname {
                names.push(tname.clone());
            }
            names.push(tid[..12].to_string());
            links.push((ip, names));
        }
        let req = SetupRequest {
            id: r.id.clone(),
            name: r.name.clone(),
            hostname: hostname(r),
            domainname: r.config.domainname.clone(),
            mode,
            attachments: r.networks.clone(),
            exposed: r.config.exposed_ports.clone(),
            port_bindings: h.port_bindings.clone(),
            publish_all: h.publish_all_ports,
            extra_hosts: h.extra_hosts.clone().unwrap_or_default(),
            dns: h.dns.clone().unwrap_or_default(),
            dns_search: h.dns_search.clone().unwrap_or_default(),
            dns_options: h.dns_options.clone().unwrap_or_default(),
            dir: self.dir(&r.id),
            links,
        };
        let mut patch = self.networks.setup(&req)?;
        patch.env = link_env;
        Ok(patch)
    }
}

/// Docker's legacy link variables for `alias` of a linked container (`ALIAS_NAME`,
/// `ALIAS_PORT[_<port>_<proto>[_ADDR|_PORT|_PROTO]]`, `ALIAS_ENV_<var>`).
fn link_vars(
    me: &str,
    alias: &str,
    ip: std::net::IpAddr,
    exposed: &std::collections::BTreeSet<String>,
    env: &[String],
) -> Vec<String> {
    let p: String = alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut out = vec![format!("{p}_NAME=/{me}/{alias}")];
    let mut ports: Vec<(u16, &'static str)> = exposed
        .iter()
        .filter_map(|k| ports::parse_port_key(k).ok())
        .map(|(n, proto)| (n, proto.as_str()))
        .collect();
    ports.sort();
    if let Some((n, proto)) = ports.first() {
        out.push(format!("{p}_PORT={proto}://{ip}:{n}"));
    }
    for (n, proto) in &ports {
        let k = format!("{p}_PORT_{n}_{}", proto.to_ascii_uppercase());
        out.push(format!("{k}={proto}://{ip}:{n}"));
        out.push(format!("{k}_ADDR={ip}"));
        out.push(format!("{k}_PORT={n}"));
        out.push(format!("{k}_PROTO={proto}"));
    }
    for kv in env {
        if let Some((k, v)) = kv.split_once('=') {
            if !matches!(k, "HOME" | "PATH" | "HOSTNAME") {
                out.push(format!("{p}_ENV_{k}={v}"));
            }
        }
    }
    out
}

/// Join the namespace and bind-mount the files in an OCI spec.
pub(crate) fn patch_spec(spec: &mut Value, p: &SpecPatch) {
    if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        if let Some(path) = &p.netns {
            ns.push(json!({"type": "network", "path": path}));
        }
    }
    if let Some(m) = spec["mounts"].as_array_mut() {
        for (dst, src) in &p.files {
            // A user mount of the same file wins, as in Docker.
            if m.iter().any(|x| x["destination"] == dst.as_str()) {
                continue;
            }
            m.push(json!({"destination": dst, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
        }
    }
    if !p.env.is_empty() {
        if let Some(env) = spec["process"]["env"].as_array_mut() {
            env.extend(p.env.iter().map(|e| json!(e)));
        }
    }
    if p.netns.is_none() {
        // The host's network: no per-namespace sysctls.
        if let Some(s) = spec["linux"]["sysctl"].as_object_mut() {
            s.retain(|k, _| !k.starts_with("net."));
        }
    }
}

/// `NetworkSettings` for inspect.
pub(crate) fn settings(r: &Record) -> NetworkSettings {
    let mut ns = NetworkSettings::default();
    let net = r.net.as_ref();
    ns.ports = ports::port_map(
        &r.config.exposed_ports,
        net.map(|n| n.ports.as_slice()).unwrap_or_default(),
    );
    if let Some(n) = net {
        ns.sandbox_key = n
            .netns
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        ns.sandbox_id = n.netns.as_ref().map(|_| r.id.clone()).unwrap_or_default();
    }
    let mode = r.host_config.network_mode.as_str();
    let mut names: Vec<(String, String)> = r
        .networks
        .iter()
        .map(|(n, a)| (n.clone(), a.network_id.clone()))
        .collect();
    if names.is_empty() && matches!(mode, "host" | "none") {
        names.push((mode.to_string(), String::new()));
    }
    for (name, id) in names {
        let att = r.networks.iter().find(|(n, _)| *n == name).map(|(_, a)| a);
        let ep = net.and_then(|n| n.endpoints.iter().find(|e| e.network_name == name));
        let mut e = EndpointSettings {
            network_id: id,
            aliases: att.map(|a| a.aliases.clone()).filter(|a| !a.is_empty()),
            links: att.map(|a| a.links.clone()).filter(|l| !l.is_empty()),
            ..EndpointSettings::default()
        };
        if let Some(a) = att.filter(|a| !a.ipv4.is_empty()) {
            e.ipam_config = Some(berth_api::network::EndpointIpamConfig {
                ipv4_address: a.ipv4.clone(),
                ..Default::default()
            });
        }
        if let Some(ep) = ep {
            e.endpoint_id = ep.endpoint_id.clone();
            e.ip_address = ep.ip.to_string();
            e.ip_prefix_len = i64::from(ep.prefix_len);
            e.gateway = ep.gateway.map(|g| g.to_string()).unwrap_or_default();
            e.mac_address = ep.mac.clone();
            e.aliases = Some(ep.aliases.clone()).filter(|a| !a.is_empty());
            if name == "bridge" {
                ns.endpoint_id = e.endpoint_id.clone();
                ns.ip_address = e.ip_address.clone();
                ns.ip_prefix_len = e.ip_prefix_len;
                ns.gateway = e.gateway.clone();
                ns.mac_address = e.mac_address.clone();
            }
        }
        ns.networks.insert(name, e);
    }
    ns
}

/// `Ports` of a `ps` row.
pub(crate) fn summary_ports(r: &Record) -> Vec<Port> {
    let mut out = Vec::new();
    let published = r.net.as_ref().map(|n| n.ports.clone()).unwrap_or_default();
    for p in &published {
        out.push(Port {
            ip: p
                .host_ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "0.0.0.0".into()),
            private_port: p.container_port,
            public_port: p.host_port,
            r#type: p.proto.as_str().into(),
        });
    }
    for k in &r.config.exposed_ports {
        if let Ok((port, proto)) = ports::parse_port_key(k) {
            if !published
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                out.push(Port {
                    private_port: port,
                    r#type: proto.as_str().into(),
                    ..Port::default()
                });
            }
        }
    }
    out
}

impl ContainerService {
    /// `POST /networks/{id}/connect`.
    pub async fn connect(
        self: &std::sync::Arc<Self>,
        container: &str,
        network: &str,
        ep: Option<EndpointSettings>,
    ) -> Result<()> {
        let c = self.get(container)?;
        let n = self.networks.get(network)?;
        let _op = c.op.lock().await;
        let (id, live, mode) = {
            let r = c.rec.lock().map_err(super::poisoned)?;
            (
                r.id.clone(),
                r.state.status.is_live(),
                r.host_config.network_mode.clone(),
            )
        };
        if matches!(mode.as_str(), "host" | "none")
            || mode.starts_with("container:")
            || !n.has_ipam()
        {
            return Err(Error::invalid(format!(
                "container cannot be connected to network {} in network mode {}",
                n.name,
                if mode.is_empty() { "default" } else { &mode }
            )));
        }
        let endpoints = BTreeMap::from([(n.name.clone(), ep.unwrap_or_default())]);
        let (_, mut atts) = self.networks.plan(&n.name, &endpoints)?;
        let (name, att) = atts.remove(0);
        {
            let r = c.rec.lock().map_err(super::poisoned)?;
            if r.networks.iter().any(|(_, a)| a.network_id == n.id) {
                return Err(Error::forbidden(format!(
                    "endpoint with name {} already exists in network {}",
                    r.name, n.name
                )));
            }
        }
        if live {
            let nets = self.networks.clone();
            let (i, a) = (id.clone(), att.clone());
            tokio::task::spawn_blocking(move || nets.hotplug(&i, &a))
                .await
                .map_err(|e| Error::internal(e.to_string()))??;
        }
        {
            let mut r = c.rec.lock().map_err(super::poisoned)?;
            r.networks.push((name, att));
            if live {
                r.net = self.networks.sandbox_state(&id);
            }
        }
        self.save(&c)?;
        self.events.publish(
            "network",
            "connect",
            &n.id,
            BTreeMap::from([
                ("container".to_string(), id),
                ("name".to_string(), n.name.clone()),
                ("type".to_string(), n.driver.clone()),
            ]),
        );
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(
        self: &std::sync::Arc<Self>,
        container: &str,
        network: &str,
        force: bool,
    ) -> Result<()> {
        let n = self.networks.get(network)?;
        let c = match self.get(container) {
            Ok(c) => c,
            Err(e) if force => {
                let _ = e;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let _op = c.op.lock().await;
        let (id, live) = {
            let r = c.rec.lock().map_err(super::poisoned)?;
            if !r.networks.iter().any(|(_, a)| a.network_id == n.id) {
                return Err(Error::forbidden(format!(
                    "container {} is not connected to network {}",
                    r.id, n.name
                )));
            }
            (r.id.clone(), r.state.status.is_live())
        };
        if live {
            let nets = self.networks.clone();
            let (i, nid) = (id.clone(), n.id.clone());
            tokio::task::spawn_blocking(move || nets.unplug(&i, &nid))
                .await
                .map_err(|e| Error::internal(e.to_string()))??;
        }
        {
            let mut r = c.rec.lock().map_err(super::poisoned)?;
            r.networks.retain(|(_, a)| a.network_id != n.id);
            if live {
                r.net = self.networks.sandbox_state(&id);
            }
        }
        self.save(&c)?;
        self.events.publish(
            "network",
            "disconnect",
            &n.id,
            BTreeMap::from([
                ("container".to_string(), id),
                ("name".to_string(), n.name.clone()),
                ("type".to_string(), n.driver.clone()),
            ]),
        );
        Ok(())
    }
}
