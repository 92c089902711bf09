//! Links, addresses and routes over netlink: the bridge of a network, the veth pair or macvlan
//! that plugs a container's namespace into it, and the reads the daemon needs (links by prefix
//! for reconcile, the host's routes for IPAM).
//!
//! Built on the `rtnetlink` crate: its message builders cover every link kind used here, and the
//! protocol details (attribute encoding, acks, dumps) stay someone else's well-tested code. It is
//! async (tokio); each public function runs one batch of requests on a private current-thread
//! runtime and is synchronous for the caller (the daemon calls these from `spawn_blocking`).
//! A netlink socket acts in the namespace of the thread that opened it, so work inside a
//! container's namespace opens its socket on a [`Netns::run`] thread.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use crate::netns::Netns;
use crate::NetError;

/// A bridge for one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Interface name (`bthbr-…`, `berth0`).
    pub name: String,
    /// Gateway addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
    /// MTU set when the bridge is created.
    pub mtu: Option<u32>,
}

/// How an interface looks inside the container's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inside<'a> {
    ifname: &'a str,
    mac: Option<[u8; 6]>,
    addrs: &'a [(IpAddr, u8)],
    gateway: Option<IpAddr>,
    mtu: Option<u32>,
}

/// A veth pair from a bridge into a namespace.
#[derive(Debug)]
pub struct VethSpec<'a> {
    /// Name of the host end (`bth…`, see [`veth_name`]).
    pub host_name: String,
    /// The bridge the host end is enslaved to.
    pub bridge: String,
    /// The namespace the other end goes to.
    pub netns: &'a Netns,
    /// Name of the end inside (`eth0`).
    pub ifname: String,
    /// MAC address inside; the kernel picks one when absent.
    pub mac: Option<[u8; 6]>,
    /// Addresses inside with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
    /// Default route inside (only for the container's first network).
    pub gateway: Option<IpAddr>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
}

/// A macvlan (bridge mode) on a host link, moved into a namespace.
#[derive(Debug)]
pub struct MacvlanSpec<'a> {
    /// Temporary name on the host (`bth…`), unique there.
    pub name: String,
    /// The host link it sits on.
    pub parent: String,
    /// The namespace it goes to.
    pub netns: &'a Netns,
    /// Name inside (`eth0`).
    pub ifname: String,
    /// MAC address inside; the kernel picks one when absent.
    pub mac: Option<[u8; 6]>,
    /// Addresses inside with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
    /// Default route inside.
    pub gateway: Option<IpAddr>,
    /// MTU.
    pub mtu: Option<u32>,
}

impl VethSpec<'_> {
    fn inside(&self) -> Inside<'_> {
        Inside {
            ifname: &self.ifname,
            mac: self.mac,
            addrs: &self.addrs,
            gateway: self.gateway,
            mtu: self.mtu,
        }
    }
}

impl MacvlanSpec<'_> {
    fn inside(&self) -> Inside<'_> {
        Inside {
            ifname: &self.ifname,
            mac: self.mac,
            addrs: &self.addrs,
            gateway: self.gateway,
            mtu: self.mtu,
        }
    }
}

/// The host end of the veth of container `container_id` on network `network_id`:
/// `bth` + 8 hex digits of a stable hash.
pub fn veth_name(container_id: &str, network_id: &str) -> String {
    format!(
        "bth{:08x}",
        fnv1a(&[container_id.as_bytes(), b"/", network_id.as_bytes()])
    )
}

/// The bridge of network `network_id`: `bthbr-` + 8 hex digits of a stable hash.
pub fn bridge_name(network_id: &str) -> String {
    format!("bthbr-{:08x}", fnv1a(&[network_id.as_bytes()]))
}

/// 32-bit FNV-1a: stable across runs and versions, unlike std's hasher.
fn fnv1a(parts: &[&[u8]]) -> u32 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0x811c_9dc5, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
}

/// Creates the bridge if it is missing, adds the addresses it lacks and sets it up; an existing
/// bridge keeps everything else. Returns its interface index.
pub fn ensure_bridge(spec: &BridgeSpec) -> Result<u32, NetError> {
    check_name(&spec.name)?;
    with_handle(|h| async move {
        let index = match find_link(&h, &spec.name).await? {
            Some(link) if link_kind(&link) == Some(&InfoKind::Bridge) => link.header.index,
            Some(_) => {
                return Err(NetError::Conflict(format!(
                    "link {} exists and is not a bridge",
                    spec.name
                )));
            }
            None => {
                let mut b = LinkBridge::new(&spec.name);
                if let Some(mtu) = spec.mtu {
                    b = b.mtu(mtu);
                }
                match h.link().add(b.build()).execute().await {
                    Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                    r => r.map_err(|e| nl_err(format!("create bridge {}", spec.name), e))?,
                }
                index_of(&h, &spec.name).await?
            }
        };
        add_addrs(&h, index, &spec.name, &spec.addrs).await?;
        set_link(&h, LinkUnspec::new_with_index(index).up(), &spec.name).await?;
        Ok(index)
    })
}

/// Sets `route_localnet=1` on bridge `name`, so that traffic DNAT'd from 127.0.0.1 may be
/// routed out through it.
pub fn bridge_sysctls(name: &str) -> Result<(), NetError> {
    check_name(name)?;
    let path = format!("/proc/sys/net/ipv4/conf/{name}/route_localnet");
    std::fs::write(&path, "1").map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => NetError::NotFound(format!("no such link: {name}")),
        _ => NetError::io(format!("set route_localnet of {name}"), e),
    })
}

/// Sets `net.ipv4.ip_forward=1`; returns whether it was 0 before. Berth leaves it at 1 (as
/// Docker does): other networks may need it, and nothing records who enabled it first.
pub fn enable_ip_forward() -> Result<bool, NetError> {
    const PATH: &str = "/proc/sys/net/ipv4/ip_forward";
    let was =
        std::fs::read_to_string(PATH).map_err(|e| NetError::io("read net.ipv4.ip_forward", e))?;
    if was.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(PATH, "1").map_err(|e| NetError::io("set net.ipv4.ip_forward", e))?;
    Ok(true)
}

/// Plugs `spec.netns` into bridge `spec.bridge` with a veth pair: the host end is enslaved and
/// up; the other end is renamed to `spec.ifname` inside and gets its MAC, MTU, addresses and
/// default route. On failure the pair is deleted.
pub fn attach_veth(spec: &VethSpec<'_>) -> Result<(), NetError> {
    check_name(&spec.host_name)?;
    check_name(&spec.ifname)?;
    // The peer is created directly inside the namespace with its final name, MAC and MTU, and
    // the host end directly on the bridge and up: moving a link between namespaces costs the
    // kernel an RCU grace period (≈ 20 ms here), creating it there does not.
    with_handle(|h| async move {
        let bridge = match find_link(&h, &spec.bridge).await? {
            Some(link) if link_kind(&link) == Some(&InfoKind::Bridge) => link.header.index,
            _ => {
                return Err(NetError::NotFound(format!(
                    "no such bridge: {}",
                    spec.bridge
                )));
            }
        };
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(spec.ifname.clone())
            .setns_by_fd(spec.netns.fd().as_raw_fd());
        if let Some(mac) = spec.mac {
            peer = peer.address(mac.to_vec());
        }
        if let Some(mtu) = spec.mtu {
            peer = peer.mtu(mtu);
        }
        let mut veth = LinkVeth::new(&spec.host_name, &spec.ifname)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .controller(bridge)
            .up();
        if let Some(mtu) = spec.mtu {
            veth = veth.mtu(mtu);
        }
        h.link()
            .add(veth.build())
            .execute()
            .await
            .map_err(|e| match errno(&e) {
                Some(libc::EEXIST) => {
                    NetError::Conflict(format!("link {} already exists", spec.host_name))
                }
                _ => nl_err(format!("create veth {}", spec.host_name), e),
            })?;
        let hairpin = async {
            let host = index_of(&h, &spec.host_name).await?;
            // Hairpin: frames may go back out the port they came in on, so a container reaches
            // its own published port through a host address (Docker does this when it runs
            // without its userland proxy, as Berth always does).
            h.link()
                .set_port(LinkBridgePort::new(host).hairpin(true).build())
                .execute()
                .await
                .map_err(|e| nl_err(format!("set hairpin mode on {}", spec.host_name), e))
        }
        .await;
        if hairpin.is_err() {
            let _ = del_by_name(&h, &spec.host_name).await;
        }
        hairpin
    })?;
    finish_inside(spec.netns, &spec.inside()).inspect_err(|_| {
        // Deleting the host end deletes its peer wherever it is.
        let _ = delete_link(&spec.host_name);
    })
}

/// Creates a bridge-mode macvlan on host link `spec.parent`, moves it into `spec.netns` and
/// configures it there like [`attach_veth`]'s inner end. On failure it is deleted.
pub fn attach_macvlan(spec: &MacvlanSpec<'_>) -> Result<(), NetError> {
    check_name(&spec.name)?;
    check_name(&spec.ifname)?;
    with_handle(|h| async move {
        let parent = index_of(&h, &spec.parent).await?;
        let mut mv = LinkMacVlan::new(&spec.name, parent, MacVlanMode::Bridge);
        if let Some(mtu) = spec.mtu {
            mv = mv.mtu(mtu);
        }
        h.link()
            .add(mv.build())
            .execute()
            .await
            .map_err(|e| match errno(&e) {
                Some(libc::EEXIST) => {
                    NetError::Conflict(format!("link {} already exists", spec.name))
                }
                _ => nl_err(
                    format!("create macvlan {} on {}", spec.name, spec.parent),
                    e,
                ),
            })?;
        let moved = async {
            let index = index_of(&h, &spec.name).await?;
            set_link(
                &h,
                LinkUnspec::new_with_index(index).setns_by_fd(spec.netns.fd().as_raw_fd()),
                &spec.name,
            )
            .await
        }
        .await;
        if moved.is_err() {
            let _ = del_by_name(&h, &spec.name).await;
        }
        moved
    })?;
    configure_inside(spec.netns, &spec.name, &spec.inside()).inspect_err(|_| {
        let _ = detach_from_netns(spec.netns, &spec.name);
        let _ = detach_from_netns(spec.netns, &spec.ifname);
    })
}

/// Deletes host link `name`; `Ok(false)` when there is none.
pub fn delete_link(name: &str) -> Result<bool, NetError> {
    check_name(name)?;
    with_handle(|h| async move { del_by_name(&h, name).await })
}

/// Deletes interface `ifname` inside `netns` (`network disconnect`); `Ok(false)` when missing.
pub fn detach_from_netns(netns: &Netns, ifname: &str) -> Result<bool, NetError> {
    netns.run(|| delete_link(ifname))?
}

/// Whether host link `name` exists.
pub fn link_exists(name: &str) -> Result<bool, NetError> {
    check_name(name)?;
    with_handle(|h| async move { Ok(find_link(&h, name).await?.is_some()) })
}

/// The names of the host's links that start with `prefix` (reconcile on daemon start).
pub fn list_links(prefix: &str) -> Result<Vec<String>, NetError> {
    with_handle(|h| async move {
        let links: Vec<LinkMessage> = h
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err("list links".into(), e))?;
        Ok(links
            .iter()
            .filter_map(link_name)
            .filter(|n| n.starts_with(prefix))
            .map(str::to_owned)
            .collect())
    })
}

/// The addresses of link `name` (none when it does not exist).
pub fn addrs_of(name: &str) -> Result<Vec<(IpAddr, u8)>, NetError> {
    let name = name.to_owned();
    with_handle(|h| async move {
        let Some(link) = find_link(&h, &name).await? else {
            return Ok(Vec::new());
        };
        let msgs: Vec<_> = h
            .address()
            .get()
            .set_link_index_filter(link.header.index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err(format!("list addresses of {name}"), e))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| {
                let len = m.header.prefix_len;
                m.attributes.into_iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some((ip, len)),
                    _ => None,
                })
            })
            .collect())
    })
}

/// The destinations of the main routing table's IPv4 and IPv6 routes (default routes left out),
/// so IPAM can refuse subnets that overlap the host's networks.
pub fn host_routes() -> Result<Vec<(IpAddr, u8)>, NetError> {
    with_handle(|h| async move {
        let mut out = Vec::new();
        for query in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let routes: Vec<_> = h
                .route()
                .get(query)
                .execute()
                .try_collect()
                .await
                .map_err(|e| nl_err("list routes".into(), e))?;
            for r in routes {
                let table = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                });
                if table.unwrap_or(u32::from(r.header.table))
                    != u32::from(RouteHeader::RT_TABLE_MAIN)
                {
                    continue;
                }
                let dst = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
                    RouteAttribute::Destination(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
                    _ => None,
                });
                if let Some(dst) = dst {
                    out.push((dst, r.header.destination_prefix_length));
                }
            }
        }
        Ok(out)
    })
}

/// Sets link `name` up inside `netns`.
pub(crate) fn set_up_in(netns: &Netns, name: &str) -> Result<(), NetError> {
    netns.run(|| {
        with_handle(|h| async move {
            let index = index_of(&h, name).await?;
            set_link(&h, LinkUnspec::new_with_index(index).up(), name).await
        })
    })?
}

/// Renames `current` to `want.ifname` inside `netns` and gives it its MAC, MTU, addresses, state
/// and default route.
fn configure_inside(netns: &Netns, current: &str, want: &Inside<'_>) -> Result<(), NetError> {
    netns.run(|| {
        with_handle(|h| async move {
            let index = index_of(&h, current).await?;
            let mut set = LinkUnspec::new_with_index(index).name(want.ifname);
            if let Some(mac) = want.mac {
                set = set.address(mac.to_vec());
            }
            if let Some(mtu) = want.mtu {
                set = set.mtu(mtu);
            }
            set_link(&h, set, want.ifname).await?;
            add_addrs(&h, index, want.ifname, want.addrs).await?;
            set_link(&h, LinkUnspec::new_with_index(index).up(), want.ifname).await?;
            if let Some(gw) = want.gateway {
                let route = match gw {
                    IpAddr::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(v4).build(),
                    IpAddr::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(v6).build(),
                };
                h.route().add(route).execute().await.map_err(|e| {
                    nl_err(format!("add default route via {gw} on {}", want.ifname), e)
                })?;
            }
            Ok(())
        })
    })?
}

/// Addresses, up and the default route of an interface already named and addressed (MAC,
/// MTU) inside `netns`.
fn finish_inside(netns: &Netns, want: &Inside<'_>) -> Result<(), NetError> {
    netns.run(|| {
        with_handle(|h| async move {
            let index = index_of(&h, want.ifname).await?;
            add_addrs(&h, index, want.ifname, want.addrs).await?;
            set_link(&h, LinkUnspec::new_with_index(index).up(), want.ifname).await?;
            if let Some(gw) = want.gateway {
                let route = match gw {
                    IpAddr::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(v4).build(),
                    IpAddr::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(v6).build(),
                };
                h.route().add(route).execute().await.map_err(|e| {
                    nl_err(format!("add default route via {gw} on {}", want.ifname), e)
                })?;
            }
            Ok(())
        })
    })?
}

/// Runs one batch of netlink requests on a private current-thread runtime, with a socket opened
/// in the calling thread's network namespace.
fn with_handle<T, F, Fut>(f: F) -> Result<T, NetError>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T, NetError>>,
{
    // Inside a tokio runtime (the daemon), a nested runtime may not block this thread: the
    // batch runs on a scoped thread, which inherits this thread's network namespace.
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|s| {
            s.spawn(|| run_batch(f))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
    }
    run_batch(f)
}

fn run_batch<T, F, Fut>(f: F) -> Result<T, NetError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, NetError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| NetError::io("start netlink runtime", e))?;
    rt.block_on(async {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| NetError::io("open netlink socket", e))?;
        let conn = tokio::spawn(conn);
        let r = f(handle).await;
        conn.abort();
        r
    })
}

async fn find_link(h: &Handle, name: &str) -> Result<Option<LinkMessage>, NetError> {
    let mut links = h.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("look up link {name}"), e)),
    }
}

async fn index_of(h: &Handle, name: &str) -> Result<u32, NetError> {
    find_link(h, name)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| NetError::NotFound(format!("no such link: {name}")))
}

async fn del_by_name(h: &Handle, name: &str) -> Result<bool, NetError> {
    let Some(link) = find_link(h, name).await? else {
        return Ok(false);
    };
    match h.link().del(link.header.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(nl_err(format!("delete link {name}"), e)),
    }
}

async fn set_link(
    h: &Handle,
    msg: LinkMessageBuilder<LinkUnspec>,
    name: &str,
) -> Result<(), NetError> {
    h.link()
        .set(msg.build())
        .execute()
        .await
        .map_err(|e| nl_err(format!("configure link {name}"), e))
}

/// Adds each address to link `index`; addresses it already has are fine.
async fn add_addrs(
    h: &Handle,
    index: u32,
    name: &str,
    addrs: &[(IpAddr, u8)],
) -> Result<(), NetError> {
    for &(addr, prefix) in addrs {
        let mut req = h.address().add(index, addr, prefix);
        if addr.is_ipv6() {
            // No duplicate address detection (as Docker): IPAM made the address unique, and DAD
            // would keep it unusable for a second or two after the container starts.
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            r => r.map_err(|e| nl_err(format!("add address {addr}/{prefix} to {name}"), e))?,
        }
    }
    Ok(())
}

fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        }),
        _ => None,
    })
}

/// Interface names: 1 to 15 bytes, no `/`, whitespace or `:`, not `.` or `..`.
fn check_name(name: &str) -> Result<(), NetError> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(NetError::Invalid(format!(
            "invalid interface name: {name:?}"
        )));
    }
    Ok(())
}

/// The errno of a netlink error reply.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn nl_err(what: String, e: rtnetlink::Error) -> NetError {
    let source = match &e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    };
    NetError::io(what, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        let v = veth_name("c0ffee", "net1");
        assert!(v.starts_with("bth") && v.len() == 11, "{v}");
        assert_eq!(v, veth_name("c0ffee", "net1"), "stable");
        assert_ne!(v, veth_name("c0ffee", "net2"));
        let b = bridge_name("net1");
        assert!(b.starts_with("bthbr-") && b.len() == 14, "{b}");
    }

    #[test]
    fn interface_names_are_checked() {
        for bad in ["", "a/b", "sixteen-chars-xx", "..", "a b", "a:1"] {
            assert!(
                matches!(check_name(bad), Err(NetError::Invalid(_))),
                "{bad:?}"
            );
        }
        check_name("bthbr-01234567").expect("valid");
        assert_eq!(
            bridge_sysctls("x/../y").expect_err("invalid").to_string(),
            "invalid interface name: \"x/../y\""
        );
    }
}
