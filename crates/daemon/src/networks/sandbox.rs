//! A running container's network: its namespace (a handle under `<exec root>/netns/<id>`, made
//! before the container starts and passed to the runtime as the namespace path), one endpoint
//! per network (an address from the network's IPAM, a veth into the bridge or a macvlan on the
//! parent link), published ports, the files `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`,
//! and on user-defined networks the embedded DNS server at 127.0.0.11 inside the namespace.
//!
//! Everything is undone when the container exits. The persisted part ([`NetState`], kept in the
//! container's record) lets a restarted daemon re-adopt a running container's network, or clean
//! up after one that died meanwhile.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_net::netns::Netns;
use serde::{Deserialize, Serialize};

use super::ports::{self, Published, Reservation};
use super::{net_err, poisoned, NetRecord, NetworkService};
use crate::error::{Error, Result};

/// How a container is networked (its `NetworkMode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Its own namespace with endpoints on these networks (the first gets the default route).
    Networks,
    /// Its own namespace with only loopback.
    None,
    /// The host's namespace.
    Host,
    /// Another running container's namespace (by ID).
    Container(String),
}

/// One endpoint as a running container has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointState {
    pub network_id: String,
    pub network_name: String,
    pub endpoint_id: String,
    pub ip: IpAddr,
    pub prefix_len: u8,
    pub gateway: Option<IpAddr>,
    pub mac: String,
    pub aliases: Vec<String>,
    /// Inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
    /// The host end (veth) or the temporary host name (macvlan).
    pub host_link: String,
}

/// The persisted network state of a running container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetState {
    /// The namespace handle; `None` on the host network.
    pub netns: Option<PathBuf>,
    /// Set when the namespace belongs to another container (`container:<id>`).
    #[serde(default)]
    pub shared_with: Option<String>,
    pub endpoints: Vec<EndpointState>,
    pub ports: Vec<Published>,
}

/// What a container asks of one network (from create, connect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A static IPv4 address (`--ip`).
    #[serde(default)]
    pub ipv4: String,
    /// Legacy links `name:alias` (default bridge only).
    #[serde(default)]
    pub links: Vec<String>,
}

/// A running container's sandbox in memory.
#[derive(Debug)]
pub struct Sandbox {
    pub name: String,
    pub hostname: String,
    pub state: NetState,
    _ports: Reservation,
    _dns: Option<berth_net::dns::ServerHandle>,
}

/// Everything `setup` needs to know about the container.
#[derive(Debug, Clone)]
pub struct SetupRequest {
    pub id: String,
    pub name: String,
    pub hostname: String,
    pub domainname: String,
    pub mode: Mode,
    /// By network name, in order (the primary network first).
    pub attachments: Vec<(String, Attachment)>,
    pub exposed: std::collections::BTreeSet<String>,
    pub port_bindings: Option<berth_api::container::PortMap>,
    pub publish_all: bool,
    /// `--add-host name:ip` (`host-gateway` = the default bridge's gateway).
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// Where the container's files live (`containers/<id>`).
    pub dir: PathBuf,
    /// `(IP, names)` of linked containers.
    pub links: Vec<(IpAddr, Vec<String>)>,
}

/// What the spec needs: the namespace to join and the files to bind-mount.
#[derive(Debug, Clone, Default)]
pub struct SpecPatch {
    /// `None`: the host's network namespace.
    pub netns: Option<PathBuf>,
    /// (destination in the container, source on the host).
    pub files: Vec<(String, PathBuf)>,
    /// Environment added to the process (legacy links).
    pub env: Vec<String>,
}

/// The files of a container, in its directory.
fn file_paths(dir: &Path) -> [(String, PathBuf); 3] {
    [
        ("/etc/hostname".into(), dir.join("hostname")),
        ("/etc/hosts".into(), dir.join("hosts")),
        ("/etc/resolv.conf".into(), dir.join("resolv.conf")),
    ]
}

fn write_file(p: &Path, content: &str) -> Result<()> {
    crate::fsutil::write_atomic(p, content.as_bytes(), crate::fsutil::Atomic::PLAIN)
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Undo list for a setup that fails half-way.
#[derive(Default)]
struct Undo {
    netns: Option<PathBuf>,
    addrs: Vec<(String, IpAddr)>,
    links: Vec<String>,
}

impl NetworkService {
    /// The container's networks at create: the mode's network and the endpoint configs, every
    /// network checked to exist. Returns the mode and the attachments in order.
    pub fn plan(
        &self,
        network_mode: &str,
        endpoints: &BTreeMap<String, berth_api::network::EndpointSettings>,
    ) -> Result<(Mode, Vec<(String, Attachment)>)> {
        let mode_name = match network_mode {
            "" | "default" => "bridge",
            m => m,
        };
        let attach = |name: &str| -> Result<(String, Attachment)> {
            let n = self.get(name)?;
            let ep = endpoints
                .get(name)
                .or_else(|| endpoints.get(&n.name))
                .or_else(|| endpoints.get(network_mode))
                .or_else(|| {
                    n.is_default_bridge()
                        .then(|| endpoints.get("default"))
                        .flatten()
                });
            let mut a = Attachment {
                network_id: n.id.clone(),
                ..Attachment::default()
            };
            if let Some(ep) = ep {
                a.aliases = ep.aliases.clone().unwrap_or_default();
                a.links = ep.links.clone().unwrap_or_default();
                if let Some(ip) = &ep.ipam_config {
                    a.ipv4 = ip.ipv4_address.clone();
                }
            }
            if n.is_default_bridge() && !a.aliases.is_empty() {
                return Err(Error::invalid(
                    "network-scoped alias is supported only for containers in user defined networks",
                ));
            }
            if n.is_default_bridge() && !a.ipv4.is_empty() {
                return Err(Error::invalid(
                    "user specified IP address is supported only when connecting to networks with user configured subnets",
                ));
            }
            Ok((n.name.clone(), a))
        };
        if let Some(c) = mode_name.strip_prefix("container:") {
            if c.is_empty() {
                return Err(Error::invalid("invalid network mode: container:"));
            }
            return Ok((Mode::Container(c.to_string()), Vec::new()));
        }
        let n = self.get(mode_name)?;
        match n.driver.as_str() {
            "host" => Ok((Mode::Host, Vec::new())),
            "null" => Ok((Mode::None, Vec::new())),
            _ => {
                let mut out = vec![attach(&n.name)?];
                // API ≥ 1.44 may name more networks at create; they are connected in order.
                for name in endpoints.keys() {
                    if *name != n.name
                        && *name != n.id
                        && name != mode_name
                        && name != network_mode
                        && name != "default"
                    {
                        out.push(attach(name)?);
                    }
                }
                Ok((Mode::Networks, out))
            }
        }
    }

    /// Make the container's network before it starts. On error nothing is left.
    pub fn setup(self: &Arc<Self>, req: &SetupRequest) -> Result<SpecPatch> {
        let mut undo = Undo::default();
        let t = std::time::Instant::now();
        match self.setup_inner(req, &mut undo) {
            Ok(p) => {
                tracing::debug!(container = %req.id, elapsed = ?t.elapsed(), "network set up");
                Ok(p)
            }
            Err(e) => {
                self.undo(&req.id, undo);
                Err(e)
            }
        }
    }

    fn undo(&self, id: &str, u: Undo) {
        for l in &u.links {
            let _ = berth_net::link::delete_link(l);
        }
        if let Some(p) = &u.netns {
            let _ = Netns::remove(p);
        }
        if let Ok(mut st) = self.state.lock() {
            for (net, ip) in &u.addrs {
                let _ = st.ipam.release(net, *ip);
            }
            st.sandboxes.remove(id);
        }
    }

    fn setup_inner(self: &Arc<Self>, req: &SetupRequest, undo: &mut Undo) -> Result<SpecPatch> {
        let files = file_paths(&req.dir);
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut state = NetState::default();
        match &req.mode {
            Mode::Host => {
                let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                write_file(&files[0].1, &format!("{hostname}\n"))?;
                write_file(
                    &files[1].1,
                    &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
                )?;
                write_file(&files[2].1, &host_resolv)?;
                self.register(req, state, Reservation::default(), None)?;
                return Ok(SpecPatch {
                    netns: None,
                    files: files.to_vec(),
                    env: Vec::new(),
                });
            }
            Mode::Container(other) => {
                let st = self.state.lock().map_err(poisoned)?;
                let sb = st.sandboxes.get(other).ok_or_else(|| {
                    Error::conflict(format!(
                        "cannot join network of a non running container: {other}"
                    ))
                })?;
                let netns = sb.state.netns.clone();
                state.netns = netns.clone();
                state.shared_with = Some(other.clone());
                drop(st);
                // The other container's files, as Docker shares them.
                let other_dir = req.dir.parent().map(|d| d.join(other)).unwrap_or_default();
                let shared = file_paths(&other_dir).to_vec();
                self.register(req, state, Reservation::default(), None)?;
                return Ok(SpecPatch {
                    netns,
                    files: shared,
                    env: Vec::new(),
                });
            }
            Mode::None | Mode::Networks => {}
        }
        let path = self.netns_path(&req.id);
        // A handle left by a crash is stale by now.
        let _ = Netns::remove(&path);
        let t = std::time::Instant::now();
        let ns = Netns::create(&path).map_err(net_err)?;
        undo.netns = Some(path.clone());
        let t_ns = t.elapsed();
        ns.set_loopback_up().map_err(net_err)?;
        let t_lo = t.elapsed();
        state.netns = Some(path.clone());
        for (i, (_, a)) in req.attachments.iter().enumerate() {
            let ep = self.plug(&ns, req, a, i, i == 0, undo)?;
            state.endpoints.push(ep);
        }
        tracing::debug!(netns = ?t_ns, lo = ?t_lo, endpoints = ?t.elapsed(), "network steps");
        // Published ports (only meaningful with a bridge endpoint).
        let wanted = ports::wanted(&req.exposed, req.port_bindings.as_ref(), req.publish_all)?;
        let (published, reservation) = if req.mode == Mode::Networks && !wanted.is_empty() {
            ports::reserve(&wanted)?
        } else {
            (Vec::new(), Reservation::default())
        };
        state.ports = published;
        // Files.
        let user_network = state.endpoints.iter().any(|e| {
            self.get(&e.network_id)
                .map(|n| !n.predefined)
                .unwrap_or(false)
        });
        let hostname = req.hostname.clone();
        write_file(&files[0].1, &berth_net::files::hostname(&hostname))?;
        let gateway = self.default_gateway();
        let mut extra = Vec::new();
        for h in &req.extra_hosts {
            let (n, ip) = h
                .split_once(':')
                .ok_or_else(|| Error::invalid(format!("invalid extra host {h}: use name:ip")))?;
            let ip = if ip == "host-gateway" {
                gateway.ok_or_else(|| {
                    Error::invalid("host-gateway: the default bridge has no gateway")
                })?
            } else {
                super::parse_ip("extra host", ip)?
            };
            extra.push((n.to_string(), ip));
        }
        let mut aliases: Vec<String> = Vec::new();
        for e in &state.endpoints {
            for a in &e.aliases {
                if !aliases.contains(a) {
                    aliases.push(a.clone());
                }
            }
        }
        let hosts = berth_net::files::hosts(&berth_net::files::HostsSpec {
            ips: state.endpoints.iter().map(|e| e.ip).collect(),
            hostname: hostname.clone(),
            domainname: Some(req.domainname.clone()).filter(|d| !d.is_empty()),
            aliases,
            extra,
            links: req.links.clone(),
            ipv6: true,
        });
        write_file(&files[1].1, &hosts)?;
        let dns: Vec<IpAddr> = req
            .dns
            .iter()
            .chain(self.cfg.net.dns.iter().filter(|_| req.dns.is_empty()))
            .map(|d| super::parse_ip("DNS server", d))
            .collect::<Result<_>>()?;
        let search = if req.dns_search.is_empty() {
            self.cfg.net.dns_search.clone()
        } else {
            req.dns_search.clone()
        };
        let options = if req.dns_options.is_empty() {
            self.cfg.net.dns_opts.clone()
        } else {
            req.dns_options.clone()
        };
        let resolv = berth_net::files::resolv_conf(
            &host_resolv,
            &berth_net::files::ResolvSpec {
                embedded_dns: user_network,
                dns,
                search,
                options,
                drop_loopback: !user_network,
            },
        );
        write_file(&files[2].1, &resolv.content)?;
        let dns_server = if user_network {
            Some(self.serve_dns(&ns, &req.id, resolv.upstreams.clone())?)
        } else {
            None
        };
        let has_ports = !state.ports.is_empty();
        let connected: Vec<(String, String)> = state
            .endpoints
            .iter()
            .map(|e| (e.network_id.clone(), e.network_name.clone()))
            .collect();
        self.register(req, state, reservation, dns_server)?;
        for (id, name) in connected {
            self.endpoint_event("connect", &id, &name, &req.id);
        }
        if has_ports {
            // A rule that cannot be installed fails the start: nothing stays exposed.
            self.apply_firewall_checked()?;
        }
        Ok(SpecPatch {
            netns: Some(path),
            files: files.to_vec(),
            env: Vec::new(),
        })
    }

    fn register(
        &self,
        req: &SetupRequest,
        state: NetState,
        ports: Reservation,
        dns: Option<berth_net::dns::ServerHandle>,
    ) -> Result<()> {
        let mut st = self.state.lock().map_err(poisoned)?;
        st.sandboxes.insert(
            req.id.clone(),
            Sandbox {
                name: req.name.clone(),
                hostname: req.hostname.clone(),
                state,
                _ports: ports,
                _dns: dns,
            },
        );
        Ok(())
    }

    /// The default bridge's gateway (`host-gateway`).
    fn default_gateway(&self) -> Option<IpAddr> {
        let st = self.state.lock().ok()?;
        let n = st.nets.values().find(|n| n.is_default_bridge())?;
        n.pools.first()?.gateway.parse().ok()
    }

    /// One endpoint: an address, then a veth (bridge) or macvlan into `ns`.
    fn plug(
        &self,
        ns: &Netns,
        req: &SetupRequest,
        a: &Attachment,
        index: usize,
        default_route: bool,
        undo: &mut Undo,
    ) -> Result<EndpointState> {
        let (net, ip) = {
            let mut st = self.state.lock().map_err(poisoned)?;
            let net: NetRecord =
                st.nets.get(&a.network_id).cloned().ok_or_else(|| {
                    Error::not_found(format!("network {} not found", a.network_id))
                })?;
            let requested = if a.ipv4.is_empty() {
                None
            } else {
                Some(super::parse_ip("IPv4", &a.ipv4)?)
            };
            let ip = st
                .ipam
                .allocate(&net.id, &req.id, requested)
                .map_err(net_err)?;
            (net, ip)
        };
        undo.addrs.push((net.id.clone(), ip));
        let pool = net
            .pools
            .first()
            .ok_or_else(|| Error::internal(format!("network {} has no address pool", net.name)))?;
        let subnet: berth_net::ipam::Subnet = super::parse_subnet(&pool.subnet)?;
        let gateway: Option<IpAddr> = pool.gateway.parse().ok();
        let mac = match ip {
            IpAddr::V4(v4) => berth_net::ipam::mac_for(v4),
            IpAddr::V6(_) => {
                let mut m = rand::random::<[u8; 6]>();
                m[0] = (m[0] & 0xfe) | 0x02;
                m
            }
        };
        let ifname = format!("eth{index}");
        // Only the first network routes by default, and never an internal one.
        let route = if default_route && !net.internal {
            gateway
        } else {
            None
        };
        let addrs = vec![(ip, subnet.prefix_len())];
        let host_link = berth_net::link::veth_name(&req.id, &net.id);
        let mtu = net.mtu().or(Some(self.cfg.net.mtu).filter(|m| *m > 0));
        match net.driver.as_str() {
            "bridge" => {
                berth_net::link::attach_veth(&berth_net::link::VethSpec {
                    host_name: host_link.clone(),
                    bridge: net.ifname.clone(),
                    netns: ns,
                    ifname: ifname.clone(),
                    mac: Some(mac),
                    addrs,
                    gateway: route,
                    mtu,
                })
                .map_err(net_err)?;
                undo.links.push(host_link.clone());
            }
            "macvlan" => {
                berth_net::link::attach_macvlan(&berth_net::link::MacvlanSpec {
                    name: host_link.clone(),
                    parent: net.ifname.clone(),
                    netns: ns,
                    ifname: ifname.clone(),
                    mac: Some(mac),
                    addrs,
                    gateway: route,
                    mtu,
                })
                .map_err(net_err)?;
            }
            other => {
                return Err(Error::invalid(format!(
                    "network driver {other} has no endpoints"
                )))
            }
        }
        let mut aliases = a.aliases.clone();
        if !net.predefined {
            // Docker adds the short ID as an alias on user networks.
            let short = req.id[..12].to_string();
            if !aliases.contains(&short) {
                aliases.push(short);
            }
        }
        Ok(EndpointState {
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            endpoint_id: super::random_id(),
            ip,
            prefix_len: subnet.prefix_len(),
            gateway,
            mac: mac_text(mac),
            aliases,
            ifname,
            host_link,
        })
    }

    fn serve_dns(
        self: &Arc<Self>,
        ns: &Netns,
        id: &str,
        upstreams: Vec<std::net::SocketAddr>,
    ) -> Result<berth_net::dns::ServerHandle> {
        let (udp, tcp) = ns
            .run(|| -> std::io::Result<_> {
                let u = std::net::UdpSocket::bind("127.0.0.11:53")?;
                let t = std::net::TcpListener::bind("127.0.0.11:53")?;
                Ok((u, t))
            })
            .map_err(net_err)?
            .map_err(|e| Error::internal(format!("embedded DNS: bind 127.0.0.11:53: {e}")))?;
        let resolver = Arc::new(super::resolver::Names {
            svc: Arc::downgrade(self),
        });
        berth_net::dns::Server::serve(udp, tcp, id.to_string(), resolver, upstreams)
            .map_err(|e| Error::internal(format!("embedded DNS: {e}")))
    }

    /// Undo a container's network after it exited (or when it is removed): DNS server, ports,
    /// addresses, the namespace (its veths and macvlans go with it).
    pub fn teardown(&self, id: &str, persisted: Option<&NetState>) {
        let t = std::time::Instant::now();
        self.teardown_inner(id, persisted);
        tracing::debug!(container = %id, elapsed = ?t.elapsed(), "network torn down");
    }

    fn teardown_inner(&self, id: &str, persisted: Option<&NetState>) {
        let sb = self
            .state
            .lock()
            .ok()
            .and_then(|mut st| st.sandboxes.remove(id));
        let state = sb
            .as_ref()
            .map(|s| s.state.clone())
            .or_else(|| persisted.cloned());
        drop(sb);
        let Some(state) = state else { return };
        if state.shared_with.is_none() {
            if let Some(p) = &state.netns {
                if let Err(e) = Netns::remove(p) {
                    tracing::warn!(container = %id, "remove the network namespace: {e}");
                }
            }
            for e in &state.endpoints {
                // Gone with the namespace already, unless the namespace outlived us.
                let _ = berth_net::link::delete_link(&e.host_link);
            }
        }
        if let Ok(mut st) = self.state.lock() {
            for e in &state.endpoints {
                let _ = st.ipam.release(&e.network_id, e.ip);
            }
        }
        for e in &state.endpoints {
            self.endpoint_event("disconnect", &e.network_id, &e.network_name, id);
        }
        if !state.ports.is_empty() {
            self.apply_firewall();
        }
    }

    /// After a daemon restart: a running container's network is taken back (ports held again,
    /// DNS served again) without touching the kernel state it has.
    pub fn readopt(
        self: &Arc<Self>,
        id: &str,
        name: &str,
        hostname: &str,
        state: &NetState,
        resolv: &Path,
    ) {
        let reservation = ports::rereserve(&state.ports);
        let user_network = state.endpoints.iter().any(|e| {
            self.get(&e.network_id)
                .map(|n| !n.predefined)
                .unwrap_or(false)
        });
        let mut dns = None;
        if user_network && state.shared_with.is_none() {
            if let Some(p) = &state.netns {
                let upstreams = std::fs::read_to_string(resolv)
                    .map(|r| berth_net::files::ext_servers(&r))
                    .unwrap_or_default();
                match Netns::open(p)
                    .map_err(net_err)
                    .and_then(|ns| self.serve_dns(&ns, id, upstreams))
                {
                    Ok(h) => dns = Some(h),
                    Err(e) => tracing::warn!(container = %id, "embedded DNS after restart: {e}"),
                }
            }
        }
        if let Ok(mut st) = self.state.lock() {
            for e in &state.endpoints {
                let _ = st.ipam.reserve(&e.network_id, id, e.ip);
            }
            st.sandboxes.insert(
                id.to_string(),
                Sandbox {
                    name: name.to_string(),
                    hostname: hostname.to_string(),
                    state: state.clone(),
                    _ports: reservation,
                    _dns: dns,
                },
            );
        }
    }

    /// `network connect`/`disconnect` events, as dockerd logs them when a container starts
    /// and stops.
    pub(crate) fn endpoint_event(
        &self,
        action: &str,
        net_id: &str,
        net_name: &str,
        container: &str,
    ) {
        let driver = self.get(net_id).map(|n| n.driver).unwrap_or_default();
        self.events.publish(
            "network",
            action,
            net_id,
            BTreeMap::from([
                ("container".to_string(), container.to_string()),
                ("name".to_string(), net_name.to_string()),
                ("type".to_string(), driver),
            ]),
        );
    }

    /// The running sandbox of a container (for inspect).
    pub fn sandbox_state(&self, id: &str) -> Option<NetState> {
        self.state
            .lock()
            .ok()?
            .sandboxes
            .get(id)
            .map(|s| s.state.clone())
    }
}

impl NetworkService {
    /// `network connect` of a running container: one more endpoint in its namespace.
    pub fn hotplug(self: &Arc<Self>, id: &str, a: &Attachment) -> Result<()> {
        let (netns, index, cname) = {
            let st = self.state.lock().map_err(poisoned)?;
            let sb = st
                .sandboxes
                .get(id)
                .ok_or_else(|| Error::conflict(format!("container {id} is not running")))?;
            if sb.state.shared_with.is_some() {
                return Err(Error::invalid(
                    "container sharing network namespace with another container or host cannot be connected to any other network",
                ));
            }
            let netns = sb.state.netns.clone().ok_or_else(|| {
                Error::invalid("container cannot be disconnected from host network or connected to host network")
            })?;
            // The next free ethN.
            let index = (0..)
                .find(|i| {
                    !sb.state
                        .endpoints
                        .iter()
                        .any(|e| e.ifname == format!("eth{i}"))
                })
                .unwrap_or(0);
            (netns, index, sb.name.clone())
        };
        let ns = Netns::open(&netns).map_err(net_err)?;
        let req = SetupRequest {
            id: id.to_string(),
            name: cname,
            hostname: String::new(),
            domainname: String::new(),
            mode: Mode::Networks,
            attachments: Vec::new(),
            exposed: Default::default(),
            port_bindings: None,
            publish_all: false,
            extra_hosts: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            dir: PathBuf::new(),
            links: Vec::new(),
        };
        let mut undo = Undo::default();
        // Only a container left without any network gets a default route from a hot-plug.
        let ep = match self.plug(&ns, &req, a, index, index == 0, &mut undo) {
            Ok(ep) => ep,
            Err(e) => {
                for l in &undo.links {
                    let _ = berth_net::link::delete_link(l);
                }
                if let Ok(mut st) = self.state.lock() {
                    for (net, ip) in &undo.addrs {
                        let _ = st.ipam.release(net, *ip);
                    }
                }
                return Err(e);
            }
        };
        let mut st = self.state.lock().map_err(poisoned)?;
        if let Some(sb) = st.sandboxes.get_mut(id) {
            sb.state.endpoints.push(ep);
        }
        Ok(())
    }

    /// `network disconnect` of a running container: its endpoint on `network_id` goes.
    pub fn unplug(&self, id: &str, network_id: &str) -> Result<()> {
        let (netns, ep) = {
            let mut st = self.state.lock().map_err(poisoned)?;
            let Some(sb) = st.sandboxes.get_mut(id) else {
                return Ok(());
            };
            let Some(pos) = sb
                .state
                .endpoints
                .iter()
                .position(|e| e.network_id == network_id)
            else {
                return Ok(());
            };
            let ep = sb.state.endpoints.remove(pos);
            let netns = sb.state.netns.clone();
            let _ = st.ipam.release(network_id, ep.ip);
            (netns, ep)
        };
        if let Some(p) = netns {
            let ns = Netns::open(&p).map_err(net_err)?;
            berth_net::link::detach_from_netns(&ns, &ep.ifname).map_err(net_err)?;
        }
        let _ = berth_net::link::delete_link(&ep.host_link);
        Ok(())
    }
}
