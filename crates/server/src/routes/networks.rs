//! `/networks`: list, inspect, create, remove, prune, connect, disconnect.
use berth_api::network::{
    ConfigReference, Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkContainer,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse,
};
use berth_daemon::networks::{CreateNetwork, NetFilter, NetRecord, PoolConfig};
use berth_daemon::{Error, Result};
use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::http::{self as h, Resp};
use crate::router::Ctx;

fn to_api(c: &Ctx, n: &NetRecord, with_containers: bool) -> Network {
    let mut containers = std::collections::BTreeMap::new();
    if with_containers {
        for (id, ep, name) in c.daemon.networks.endpoints_on(&n.id) {
            containers.insert(
                id,
                NetworkContainer {
                    name,
                    endpoint_id: ep.endpoint_id.clone(),
                    mac_address: ep.mac.clone(),
                    ipv4_address: format!("{}/{}", ep.ip, ep.prefix_len),
                    ipv6_address: String::new(),
                },
            );
        }
    }
    Network {
        name: n.name.clone(),
        id: n.id.clone(),
        created: berth_daemon::containers::record::rfc3339_ns(n.created_ns),
        scope: "local".into(),
        driver: n.driver.clone(),
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default".into(),
            options: None,
            config: Some(
                n.pools
                    .iter()
                    .map(|p| IpamConfig {
                        subnet: p.subnet.clone(),
                        gateway: p.gateway.clone(),
                        ip_range: p.ip_range.clone(),
                        ..IpamConfig::default()
                    })
                    .collect(),
            ),
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_from: ConfigReference::default(),
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

fn filter(c: &Ctx, prune: bool) -> Result<NetFilter> {
    let f = c.query.filters()?;
    let allowed = if prune {
        berth_api::filters::NETWORK_PRUNE_FILTERS
    } else {
        berth_api::filters::NETWORK_LIST_FILTERS
    };
    f.validate(allowed)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let own = |k: &str| f.get(k).iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for t in own("type") {
        if t != "custom" && t != "builtin" {
            return Err(Error::invalid(format!("invalid filter: 'type'='{t}'")));
        }
    }
    let dangling = match f.get("dangling").first() {
        None => None,
        Some(&("true" | "1")) => Some(true),
        Some(&("false" | "0")) => Some(false),
        Some(x) => return Err(Error::invalid(format!("invalid filter 'dangling={x}'"))),
    };
    let until_ns = match f.get("until").first() {
        None => None,
        Some(u) => Some(berth_daemon::containers::until_ns(
            u,
            berth_daemon::containers::record::now_ns(),
        )?),
    };
    Ok(NetFilter {
        names: own("name"),
        ids: own("id"),
        drivers: own("driver"),
        labels: own("label"),
        labels_not: own("label!"),
        types: own("type"),
        dangling,
        until_ns,
    })
}

pub fn list(c: &Ctx) -> Result<Resp> {
    let f = filter(c, false)?;
    let nets = c.daemon.networks.list(&f)?;
    let out: Vec<Network> = nets.iter().map(|n| to_api(c, n, false)).collect();
    Ok(h::json(StatusCode::OK, &out))
}

pub fn inspect(c: &Ctx, key: &str) -> Result<Resp> {
    let n = c.daemon.networks.get(key)?;
    Ok(h::json(StatusCode::OK, &to_api(c, &n, true)))
}

pub async fn create(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let r: NetworkCreateRequest = h::parse_json(&body)?;
    if r.name.is_empty() {
        return Err(Error::invalid("network name cannot be empty"));
    }
    if r.config_only
        || r.config_from
            .as_ref()
            .is_some_and(|x| !x.network.is_empty())
        || r.ingress
    {
        return Err(Error::invalid(
            "config-only, config-from and ingress networks are swarm features berthd does not have",
        ));
    }
    if !r.scope.is_empty() && r.scope != "local" {
        return Err(Error::invalid(format!(
            "scope {} is not supported: berthd networks are local",
            r.scope
        )));
    }
    let ipam = r.ipam.clone().unwrap_or_default();
    if !ipam.driver.is_empty() && ipam.driver != "default" {
        return Err(Error::not_found(format!(
            "plugin \"{}\" not found",
            ipam.driver
        )));
    }
    let mut pools = Vec::new();
    for p in ipam.config.unwrap_or_default() {
        if !p.auxiliary_addresses.is_empty() {
            return Err(Error::invalid(
                "auxiliary addresses are not supported by berthd yet",
            ));
        }
        if p.subnet.is_empty() {
            if !p.gateway.is_empty() || !p.ip_range.is_empty() {
                return Err(Error::invalid("gateway and ip-range need a subnet"));
            }
            continue;
        }
        pools.push(PoolConfig {
            subnet: p.subnet,
            gateway: p.gateway,
            ip_range: p.ip_range,
        });
    }
    let nets = c.daemon.networks.clone();
    let req = CreateNetwork {
        name: r.name.clone(),
        driver: r.driver.clone(),
        internal: r.internal,
        attachable: r.attachable,
        ipv6: r.enable_ipv6,
        labels: r.labels.clone().unwrap_or_default(),
        options: r.options.clone().unwrap_or_default(),
        pools,
    };
    let (id, warning) = tokio::task::spawn_blocking(move || nets.create(req))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::json(
        StatusCode::CREATED,
        &NetworkCreateResponse { id, warning },
    ))
}

pub async fn remove(c: &Ctx, key: &str) -> Result<Resp> {
    let nets = c.daemon.networks.clone();
    let key = key.to_string();
    tokio::task::spawn_blocking(move || nets.remove(&key))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::empty(StatusCode::NO_CONTENT))
}

pub async fn prune(c: &Ctx) -> Result<Resp> {
    let f = filter(c, true)?;
    let nets = c.daemon.networks.clone();
    let gone = tokio::task::spawn_blocking(move || nets.prune(&f))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::json(
        StatusCode::OK,
        &NetworkPruneResponse {
            networks_deleted: gone,
        },
    ))
}

pub async fn connect(c: &Ctx, key: &str, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let r: NetworkConnectRequest = h::parse_json(&body)?;
    c.daemon
        .containers
        .connect(&r.container, key, r.endpoint_config)
        .await?;
    Ok(h::empty(StatusCode::OK))
}

pub async fn disconnect(c: &Ctx, key: &str, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let r: NetworkDisconnectRequest = h::parse_json(&body)?;
    c.daemon
        .containers
        .disconnect(&r.container, key, r.force)
        .await?;
    Ok(h::empty(StatusCode::OK))
}
