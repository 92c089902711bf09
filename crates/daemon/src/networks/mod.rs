//! Networks: the default bridge, user-defined bridge and macvlan networks, `host` and `none`,
//! and the sandboxes that connect running containers to them.
//!
//! - this file: [`NetworkService`]: network records (`networks/<id>.json`), the predefined
//!   networks, create / inspect / list / remove / prune, the bridges and Berth's nftables table.
//! - `sandbox.rs`: a running container's network namespace, its endpoints (addresses, veths,
//!   macvlans), published ports, `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname` and the
//!   embedded DNS server; made at start, undone at exit, re-adopted after a daemon restart.
//! - `resolver.rs`: what the embedded DNS answers (names, aliases, short IDs per network).
//! - `ports.rs`: published ports (host port choice and reservation, `NetworkSettings.Ports`).
//!
//! Kernel work goes through `berth-net`; this module decides what to ask of it.
pub mod ports;
mod resolver;
pub mod sandbox;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_net::ipam::{Ipam, Pool, Subnet};
use serde::{Deserialize, Serialize};

use crate::config::DaemonConfig;
use crate::error::{Error, Result};
use crate::events::Events;

pub use sandbox::{EndpointState, NetState, Sandbox};

const SCHEMA: u32 = 1;

/// Network drivers Berth has.
pub const DRIVERS: [&str; 4] = ["bridge", "macvlan", "host", "null"];

/// One address pool of a network, as text (what inspect shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    pub subnet: String,
    #[serde(default)]
    pub gateway: String,
    #[serde(default)]
    pub ip_range: String,
}

/// A network as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetRecord {
    pub schema: u32,
    pub id: String,
    pub name: String,
    pub driver: String,
    pub created_ns: i64,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub pools: Vec<PoolConfig>,
    /// The bridge interface (bridge driver) or the parent link (macvlan).
    #[serde(default)]
    pub ifname: String,
    /// `bridge`, `host`, `none`: made by the daemon, never removed.
    #[serde(default)]
    pub predefined: bool,
}

impl NetRecord {
    pub fn is_default_bridge(&self) -> bool {
        self.predefined && self.name == "bridge"
    }
    /// Carries addresses (a veth or macvlan per container).
    pub fn has_ipam(&self) -> bool {
        matches!(self.driver.as_str(), "bridge" | "macvlan")
    }
    fn opt_bool(&self, key: &str, default: bool) -> bool {
        self.options
            .get(key)
            .map(|v| matches!(v.as_str(), "true" | "1"))
            .unwrap_or(default)
    }
    pub fn icc(&self) -> bool {
        self.opt_bool("com.docker.network.bridge.enable_icc", true)
    }
    pub fn masquerade(&self) -> bool {
        self.opt_bool("com.docker.network.bridge.enable_ip_masquerade", true)
    }
    pub fn mtu(&self) -> Option<u32> {
        self.options
            .get("com.docker.network.driver.mtu")
            .and_then(|m| m.parse().ok())
            .filter(|m| *m > 0)
    }
}

/// `POST /networks/create`, already checked for shape by the route.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub ipv6: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub pools: Vec<PoolConfig>,
}

/// `network ls` / prune filters, parsed.
#[derive(Debug, Clone, Default)]
pub struct NetFilter {
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub drivers: Vec<String>,
    pub labels: Vec<String>,
    pub labels_not: Vec<String>,
    /// `custom` / `builtin`.
    pub types: Vec<String>,
    pub dangling: Option<bool>,
    /// Created before (Unix ns), for prune's `until`.
    pub until_ns: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub nets: BTreeMap<String, NetRecord>,
    pub ipam: Ipam,
    /// Running containers' sandboxes by container ID.
    pub sandboxes: HashMap<String, Sandbox>,
}

/// The networks service.
#[derive(Debug)]
pub struct NetworkService {
    pub(crate) cfg: Arc<DaemonConfig>,
    pub(crate) events: Events,
    pub(crate) state: Mutex<State>,
    /// Serialises nft applications so the last one reflects the last state.
    nft: Mutex<()>,
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("network state lock poisoned")
}

fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn net_err(e: berth_net::NetError) -> Error {
    match e {
        berth_net::NetError::Invalid(m) => Error::invalid(m),
        berth_net::NetError::Conflict(m) => Error::forbidden(m),
        berth_net::NetError::NotFound(m) => Error::not_found(m),
        other => Error::internal(other.to_string()),
    }
}

fn parse_subnet(s: &str) -> Result<Subnet> {
    s.parse::<Subnet>()
        .map_err(|_| Error::invalid(format!("invalid subnet {s}: invalid CIDR address: {s}")))
}

fn parse_ip(what: &str, s: &str) -> Result<IpAddr> {
    s.parse::<IpAddr>()
        .map_err(|_| Error::invalid(format!("invalid {what} address {s}")))
}

/// The host's routes as subnets (what new networks must not overlap).
fn host_routes() -> Vec<Subnet> {
    berth_net::link::host_routes()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(ip, len)| format!("{ip}/{len}").parse::<Subnet>().ok())
        .collect()
}

impl NetworkService {
    /// Load network records, make the predefined networks, bring up the bridges and the
    /// firewall table. Sandboxes are re-adopted by the container service afterwards.
    pub fn open(cfg: Arc<DaemonConfig>, events: Events) -> Result<Arc<NetworkService>> {
        let dir = cfg.networks_dir();
        std::fs::create_dir_all(&dir)?;
        let ipam = Ipam::open(&dir.join("ipam.json")).map_err(net_err)?;
        let mut nets = BTreeMap::new();
        for e in std::fs::read_dir(&dir)?.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json")
                || p.file_name().and_then(|n| n.to_str()) == Some("ipam.json")
            {
                continue;
            }
            match std::fs::read(&p).map(|b| serde_json::from_slice::<NetRecord>(&b)) {
                Ok(Ok(n)) => {
                    nets.insert(n.id.clone(), n);
                }
                _ => tracing::warn!("skipping unreadable network record {}", p.display()),
            }
        }
        let svc = Arc::new(NetworkService {
            cfg,
            events,
            state: Mutex::new(State {
                nets,
                ipam,
                sandboxes: HashMap::new(),
            }),
            nft: Mutex::new(()),
        });
        svc.predefined()?;
        let bridges: Vec<NetRecord> = svc
            .state
            .lock()
            .map_err(poisoned)?
            .nets
            .values()
            .filter(|n| n.driver == "bridge")
            .cloned()
            .collect();
        for n in &bridges {
            if let Err(e) = svc.ensure_bridge(n) {
                tracing::warn!(network = %n.name, "bring up the bridge: {e}");
            }
        }
        if svc.cfg.net.iptables {
            berth_net::link::enable_ip_forward().map_err(net_err)?;
        }
        Ok(svc)
    }

    fn save(&self, n: &NetRecord) -> Result<()> {
        let p = self.cfg.networks_dir().join(format!("{}.json", n.id));
        let data = serde_json::to_vec_pretty(n)?;
        crate::fsutil::write_atomic(&p, &data, crate::fsutil::Atomic::PLAIN)
    }

    /// `bridge` (the default bridge from `--bridge`/`--bip`), `host`, `none`.
    fn predefined(&self) -> Result<()> {
        let mut st = self.state.lock().map_err(poisoned)?;
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            let existing = st
                .nets
                .values()
                .find(|n| n.predefined && n.name == name)
                .cloned();
            let mut n = existing.unwrap_or_else(|| NetRecord {
                schema: SCHEMA,
                id: random_id(),
                name: name.into(),
                driver: driver.into(),
                created_ns: crate::containers::record::now_ns(),
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                pools: Vec::new(),
                ifname: String::new(),
                predefined: true,
            });
            if name == "bridge" {
                let pool = self.default_bridge_pool(&st)?;
                let net = &self.cfg.net;
                n.ifname = net.bridge.clone();
                n.options = BTreeMap::from([
                    (
                        "com.docker.network.bridge.default_bridge".into(),
                        "true".into(),
                    ),
                    (
                        "com.docker.network.bridge.enable_icc".into(),
                        net.icc.to_string(),
                    ),
                    (
                        "com.docker.network.bridge.enable_ip_masquerade".into(),
                        net.ip_masq.to_string(),
                    ),
                    (
                        "com.docker.network.bridge.host_binding_ipv4".into(),
                        "0.0.0.0".into(),
                    ),
                    ("com.docker.network.bridge.name".into(), net.bridge.clone()),
                    (
                        "com.docker.network.driver.mtu".into(),
                        if net.mtu > 0 { net.mtu } else { 1500 }.to_string(),
                    ),
                ]);
                if n.pools.first() != Some(&pool) {
                    // A changed --bip: the pool follows the configuration.
                    let _ = st.ipam.remove_network(&n.id);
                    n.pools = vec![pool];
                }
                if !st.ipam.has_network(&n.id) {
                    let p = &n.pools[0];
                    st.ipam
                        .add_network(&n.id, self.pool_of(p)?)
                        .map_err(net_err)?;
                }
            }
            self.save(&n)?;
            st.nets.insert(n.id.clone(), n);
        }
        Ok(())
    }

    /// The default bridge's pool: `--bip`, else 172.17.0.0/16 unless a host route overlaps it,
    /// else the first free default pool.
    fn default_bridge_pool(&self, st: &State) -> Result<PoolConfig> {
        let bip = &self.cfg.net.bip;
        if !bip.is_empty() {
            let (ip, len) = bip.split_once('/').ok_or_else(|| {
                Error::invalid(format!("invalid --bip {bip}: want address/prefix"))
            })?;
            let gw = parse_ip("--bip", ip)?;
            let subnet = parse_subnet(&format!("{ip}/{len}"))?.network();
            return Ok(PoolConfig {
                subnet: subnet.to_string(),
                gateway: gw.to_string(),
                ip_range: String::new(),
            });
        }
        // A bridge that already exists keeps its address (dockerd adopts docker0's too): one
        // bridge never collects a second subnet from a daemon with a fresh data root.
        let existing = berth_net::link::addrs_of(&self.cfg.net.bridge).unwrap_or_default();
        if let Some((ip, len)) = existing
            .iter()
            .find(|(ip, _)| matches!(ip, IpAddr::V4(v4) if !v4.is_link_local()))
        {
            let subnet = parse_subnet(&format!("{ip}/{len}"))?.network();
            return Ok(PoolConfig {
                subnet: subnet.to_string(),
                gateway: ip.to_string(),
                ip_range: String::new(),
            });
        }
        let routes = host_routes();
        let own = st.nets.values().find(|n| n.is_default_bridge());
        let own_subnets: Vec<Subnet> = own
            .into_iter()
            .flat_map(|n| n.pools.iter())
            .filter_map(|p| p.subnet.parse().ok())
            .collect();
        // Our own bridge's route is not a conflict.
        let foreign: Vec<Subnet> = routes
            .into_iter()
            .filter(|r| !own_subnets.contains(r))
            .collect();
        let docker: Subnet = parse_subnet("172.17.0.0/16")?;
        let subnet = if !foreign.iter().any(|r| r.overlaps(&docker)) {
            docker
        } else {
            self.pools()
                .next_free(&self.taken_subnets(st), &foreign)
                .ok_or_else(|| {
                    Error::invalid("no free address pool for the default bridge: set --bip")
                })?
        };
        Ok(PoolConfig {
            subnet: subnet.to_string(),
            gateway: subnet
                .nth_host(1)
                .map(|g| g.to_string())
                .unwrap_or_default(),
            ip_range: String::new(),
        })
    }

    fn pools(&self) -> berth_net::ipam::DefaultPools {
        let cfgd = &self.cfg.net.default_address_pools;
        if cfgd.is_empty() {
            berth_net::ipam::DefaultPools::docker()
        } else {
            berth_net::ipam::DefaultPools::new(
                cfgd.iter()
                    .filter_map(|(b, n)| b.parse::<Subnet>().ok().map(|s| (s, *n)))
                    .collect(),
            )
        }
    }

    fn taken_subnets(&self, st: &State) -> Vec<Subnet> {
        st.nets
            .values()
            .flat_map(|n| n.pools.iter())
            .filter_map(|p| p.subnet.parse().ok())
            .collect()
    }

    fn pool_of(&self, p: &PoolConfig) -> Result<Pool> {
        let subnet = parse_subnet(&p.subnet)?;
        let gateway = if p.gateway.is_empty() {
            None
        } else {
            Some(parse_ip("gateway", &p.gateway)?)
        };
        let ip_range = if p.ip_range.is_empty() {
            None
        } else {
            Some(parse_subnet(&p.ip_range)?)
        };
        let pool = Pool {
            subnet,
            gateway,
            ip_range,
        };
        pool.validate().map_err(net_err)?;
        Ok(pool)
    }

    /// Bring up a bridge network's interface with its gateway addresses.
    fn ensure_bridge(&self, n: &NetRecord) -> Result<()> {
        let mut addrs = Vec::new();
        for p in &n.pools {
            let s = parse_subnet(&p.subnet)?;
            if !p.gateway.is_empty() {
                addrs.push((parse_ip("gateway", &p.gateway)?, s.prefix_len()));
            }
        }
        berth_net::link::ensure_bridge(&berth_net::link::BridgeSpec {
            name: n.ifname.clone(),
            addrs,
            mtu: n.mtu(),
        })
        .map_err(net_err)?;
        berth_net::link::bridge_sysctls(&n.ifname).map_err(net_err)?;
        Ok(())
    }

    /// Find by full ID, exact name, or unique ID prefix (Docker's order).
    pub fn get(&self, key: &str) -> Result<NetRecord> {
        let st = self.state.lock().map_err(poisoned)?;
        Self::find(&st, key).cloned()
    }

    pub(crate) fn find<'a>(st: &'a State, key: &str) -> Result<&'a NetRecord> {
        if let Some(n) = st.nets.get(key) {
            return Ok(n);
        }
        if let Some(n) = st.nets.values().find(|n| n.name == key) {
            return Ok(n);
        }
        let by_prefix: Vec<&NetRecord> = st
            .nets
            .values()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match by_prefix.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::not_found(format!("network {key} not found"))),
            _ => Err(Error::invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                by_prefix.len()
            ))),
        }
    }

    /// `POST /networks/create`.
    pub fn create(&self, req: CreateNetwork) -> Result<(String, String)> {
        let driver = if req.driver.is_empty() {
            "bridge".to_string()
        } else {
            req.driver.clone()
        };
        match driver.as_str() {
            "bridge" | "macvlan" => {}
            "host" | "null" => {
                return Err(Error::forbidden(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => return Err(Error::not_found(format!("plugin \"{other}\" not found"))),
        }
        if req.name.is_empty() || !crate::volumes::valid_name(&req.name) && req.name.len() != 1 {
            return Err(Error::invalid(format!(
                "invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        if req.ipv6 {
            return Err(Error::invalid(
                "IPv6 networks are not supported by berthd yet",
            ));
        }
        if req.pools.len() > 1 {
            return Err(Error::invalid(
                "more than one IPv4 pool per network is not supported by berthd yet",
            ));
        }
        let known_opts: &[&str] = match driver.as_str() {
            "bridge" => &[
                "com.docker.network.bridge.name",
                "com.docker.network.bridge.enable_icc",
                "com.docker.network.bridge.enable_ip_masquerade",
                "com.docker.network.bridge.host_binding_ipv4",
                "com.docker.network.driver.mtu",
            ],
            _ => &["parent", "macvlan_mode", "com.docker.network.driver.mtu"],
        };
        if let Some(k) = req
            .options
            .keys()
            .find(|k| !known_opts.contains(&k.as_str()))
        {
            return Err(Error::invalid(format!(
                "network option {k} is not supported by the {driver} driver of berthd"
            )));
        }
        let mut st = self.state.lock().map_err(poisoned)?;
        if st.nets.values().any(|n| n.name == req.name) {
            return Err(Error::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let id = random_id();
        let mut pools = req.pools.clone();
        if pools.is_empty() {
            let subnet = self
                .pools()
                .next_free(&self.taken_subnets(&st), &host_routes())
                .ok_or_else(|| {
                    Error::forbidden("all predefined address pools have been fully subnetted")
                })?;
            pools.push(PoolConfig {
                subnet: subnet.to_string(),
                gateway: String::new(),
                ip_range: String::new(),
            });
        }
        for p in pools.iter_mut() {
            let s = parse_subnet(&p.subnet)?;
            if p.gateway.is_empty() && driver == "bridge" {
                p.gateway = s.nth_host(1).map(|g| g.to_string()).unwrap_or_default();
            }
            if driver == "bridge" {
                let routes = host_routes();
                if let Some(r) = routes.iter().find(|r| r.overlaps(&s)) {
                    return Err(Error::forbidden(format!(
                        "Pool overlaps with other one on this address space ({r} is a route on this host)"
                    )));
                }
            }
        }
        let mut options = req.options.clone();
        let ifname = match driver.as_str() {
            "bridge" => {
                let name = options
                    .get("com.docker.network.bridge.name")
                    .cloned()
                    .unwrap_or_else(|| berth_net::link::bridge_name(&id));
                if name.len() > 15 || name.is_empty() {
                    return Err(Error::invalid(format!("invalid bridge name {name}")));
                }
                name
            }
            _ => {
                let parent = options.get("parent").cloned().ok_or_else(|| {
                    Error::invalid("macvlan networks need a parent interface (-o parent=<link>)")
                })?;
                if !berth_net::link::link_exists(&parent).map_err(net_err)? {
                    return Err(Error::invalid(format!(
                        "-o parent interface was not found on the host: {parent}"
                    )));
                }
                if let Some(m) = options.get("macvlan_mode") {
                    if m != "bridge" {
                        return Err(Error::invalid(format!(
                            "macvlan mode {m} is not supported by berthd (bridge is)"
                        )));
                    }
                }
                options
                    .entry("macvlan_mode".into())
                    .or_insert_with(|| "bridge".into());
                parent
            }
        };
        let n = NetRecord {
            schema: SCHEMA,
            id: id.clone(),
            name: req.name.clone(),
            driver: driver.clone(),
            created_ns: crate::containers::record::now_ns(),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options,
            pools: pools.clone(),
            ifname,
            predefined: false,
        };
        st.ipam
            .add_network(&id, self.pool_of(&pools[0])?)
            .map_err(|e| match e {
                berth_net::NetError::Conflict(m) => Error::forbidden(m),
                other => net_err(other),
            })?;
        let made = (|| -> Result<()> {
            if driver == "bridge" {
                self.ensure_bridge(&n)?;
            }
            self.save(&n)
        })();
        if let Err(e) = made {
            let _ = st.ipam.remove_network(&id);
            if driver == "bridge" {
                let _ = berth_net::link::delete_link(&n.ifname);
            }
            return Err(e);
        }
        st.nets.insert(id.clone(), n.clone());
        drop(st);
        self.apply_firewall();
        self.events.publish(
            "network",
            "create",
            &id,
            BTreeMap::from([
                ("name".to_string(), n.name.clone()),
                ("type".to_string(), driver),
            ]),
        );
        Ok((id, String::new()))
    }

    /// `GET /networks`.
    pub fn list(&self, f: &NetFilter) -> Result<Vec<NetRecord>> {
        let st = self.state.lock().map_err(poisoned)?;
        Ok(st
            .nets
            .values()
            .filter(|n| self.matches(&st, n, f))
            .cloned()
            .collect())
    }

    fn in_use(st: &State, id: &str) -> bool {
        st.sandboxes
            .values()
            .any(|s| s.state.endpoints.iter().any(|e| e.network_id == id))
    }

    fn matches(&self, st: &State, n: &NetRecord, f: &NetFilter) -> bool {
        let label = |want: &String| match want.split_once('=') {
            Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
            None => n.labels.contains_key(want),
        };
        (f.names.is_empty() || f.names.iter().any(|x| n.name.contains(x.as_str())))
            && (f.ids.is_empty() || f.ids.iter().any(|x| n.id.starts_with(x.as_str())))
            && (f.drivers.is_empty() || f.drivers.contains(&n.driver))
            && f.labels.iter().all(label)
            && !f.labels_not.iter().any(label)
            && (f.types.is_empty() || f.types.iter().any(|t| (t == "custom") != n.predefined))
            && f.dangling
                .is_none_or(|d| d == (!n.predefined && !Self::in_use(st, &n.id)))
            && f.until_ns.is_none_or(|u| n.created_ns < u)
    }

    /// `DELETE /networks/{id}`: 403 for predefined networks and networks with active endpoints.
    pub fn remove(&self, key: &str) -> Result<()> {
        let mut st = self.state.lock().map_err(poisoned)?;
        let n = Self::find(&st, key)?.clone();
        if n.predefined {
            return Err(Error::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if Self::in_use(&st, &n.id) {
            return Err(Error::forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        if n.driver == "bridge" {
            berth_net::link::delete_link(&n.ifname).map_err(net_err)?;
        }
        let _ = st.ipam.remove_network(&n.id);
        match std::fs::remove_file(self.cfg.networks_dir().join(format!("{}.json", n.id))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        st.nets.remove(&n.id);
        drop(st);
        self.apply_firewall();
        self.events.publish(
            "network",
            "destroy",
            &n.id,
            BTreeMap::from([
                ("name".to_string(), n.name.clone()),
                ("type".to_string(), n.driver.clone()),
            ]),
        );
        Ok(())
    }

    /// `POST /networks/prune`: user networks without active endpoints.
    pub fn prune(&self, f: &NetFilter) -> Result<Vec<String>> {
        let victims: Vec<NetRecord> = {
            let st = self.state.lock().map_err(poisoned)?;
            st.nets
                .values()
                .filter(|n| !n.predefined && !Self::in_use(&st, &n.id))
                .filter(|n| self.matches(&st, n, f))
                .cloned()
                .collect()
        };
        let mut gone = Vec::new();
        for n in victims {
            match self.remove(&n.id) {
                Ok(()) => gone.push(n.name),
                Err(e) => tracing::warn!(network = %n.name, "prune: {e}"),
            }
        }
        Ok(gone)
    }

    /// The containers with an endpoint on network `id` (inspect's `Containers`).
    pub fn endpoints_on(&self, id: &str) -> Vec<(String, EndpointState, String)> {
        let Ok(st) = self.state.lock() else {
            return Vec::new();
        };
        st.sandboxes
            .iter()
            .flat_map(|(cid, s)| {
                s.state
                    .endpoints
                    .iter()
                    .filter(|e| e.network_id == id)
                    .map(|e| (cid.clone(), e.clone(), s.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Rebuild and apply Berth's nftables table from the networks and the running containers'
    /// published ports. Failures are logged (the caller's operation already happened); starts
    /// that publish ports call [`NetworkService::apply_firewall_checked`] instead.
    pub fn apply_firewall(&self) {
        if let Err(e) = self.apply_firewall_checked() {
            tracing::warn!("apply the firewall rules: {e}");
        }
    }

    /// As [`NetworkService::apply_firewall`], returning the error.
    pub fn apply_firewall_checked(&self) -> Result<()> {
        if !self.cfg.net.iptables {
            return Ok(());
        }
        let _serial = self.nft.lock().map_err(poisoned)?;
        let rules = {
            let st = self.state.lock().map_err(poisoned)?;
            self.ruleset(&st)
        };
        rules.apply().map_err(net_err)
    }

    fn ruleset(&self, st: &State) -> berth_net::nft::Ruleset {
        let mut bridges = Vec::new();
        for n in st.nets.values().filter(|n| n.driver == "bridge") {
            bridges.push(berth_net::nft::BridgeRules {
                ifname: n.ifname.clone(),
                subnets: n
                    .pools
                    .iter()
                    .filter_map(|p| p.subnet.parse::<Subnet>().ok())
                    .map(|s| (s.addr(), s.prefix_len()))
                    .collect(),
                masquerade: n.masquerade(),
                icc: n.icc(),
                internal: n.internal,
            });
        }
        let mut ports = Vec::new();
        for s in st.sandboxes.values() {
            // Published ports go to the first bridge endpoint of the container.
            let Some(ep) = s.state.endpoints.iter().find(|e| {
                st.nets
                    .get(&e.network_id)
                    .is_some_and(|n| n.driver == "bridge")
            }) else {
                continue;
            };
            let bridge = st
                .nets
                .get(&ep.network_id)
                .map(|n| n.ifname.clone())
                .unwrap_or_default();
            for p in &s.state.ports {
                ports.push(berth_net::nft::PortMap {
                    proto: match p.proto {
                        ports::Proto::Tcp => berth_net::nft::Proto::Tcp,
                        ports::Proto::Udp => berth_net::nft::Proto::Udp,
                        ports::Proto::Sctp => berth_net::nft::Proto::Sctp,
                    },
                    host_ip: p.host_ip,
                    host_port: p.host_port,
                    container_ip: ep.ip,
                    container_port: p.container_port,
                    bridge: bridge.clone(),
                });
            }
        }
        berth_net::nft::Ruleset {
            table: self.cfg.net.nft_table(),
            bridges,
            ports,
        }
    }

    /// After the running containers were re-adopted: what a crash left of the others (network
    /// namespace handles, addresses) goes, and the firewall table is rebuilt from what runs.
    pub fn sweep(&self) {
        let live: Vec<String> = match self.state.lock() {
            Ok(st) => st.sandboxes.keys().cloned().collect(),
            Err(_) => return,
        };
        if let Ok(rd) = std::fs::read_dir(self.cfg.netns_dir()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !live.contains(&name) {
                    tracing::info!(container = %name, "removing a stale network namespace");
                    let _ = berth_net::netns::Netns::remove(&e.path());
                }
            }
        }
        if let Ok(mut st) = self.state.lock() {
            let _ = st.ipam.retain_owners(|o| live.iter().any(|l| l == o));
        }
        self.apply_firewall();
    }

    pub(crate) fn netns_path(&self, container_id: &str) -> PathBuf {
        self.cfg.netns_dir().join(container_id)
    }
}
