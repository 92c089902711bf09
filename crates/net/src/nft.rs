//! The nftables ruleset of one Berth instance, as a pure plan ([`Ruleset`]) and its application.
//!
//! Berth owns exactly one table, `inet berth` (or `inet berth-<instance>`), and replaces it as a
//! whole in one `nft -f` transaction; it never names another table and never flushes the
//! ruleset. The semantics are Docker's bridge driver's:
//! - masquerade: traffic from a bridge's subnet leaving through any other interface;
//! - forwarding: replies (established/related) pass; a bridge may send anywhere unless it is
//!   `internal`; new traffic into a bridge from elsewhere is dropped unless it is a published
//!   port; two Berth bridges never talk to each other directly (network isolation), although a
//!   container may use another network's published ports through a host address (as with
//!   Docker's userland proxy); with `icc: false` containers of one bridge cannot talk;
//!   `internal` bridges carry no traffic in or out, only within themselves;
//! - published ports: DNAT to the container for traffic to a host address, both arriving from
//!   elsewhere (prerouting) and generated on the host (output, including 127.0.0.1, which needs
//!   `route_localnet=1` on the bridge and the masquerade of 127.0.0.0/8 sources out a bridge);
//!   DNAT'd traffic from a bridge's subnet back into that bridge is masqueraded and the veths
//!   are in hairpin mode, so a container reaching a published port of its own bridge (even its
//!   own) through a host address gets the replies.
//!
//! Limits, not fixed here because they belong to others:
//! - Traffic between two ports of one bridge is switched, not routed: nftables only sees it (and
//!   so `icc: false` only works) when `br_netfilter` is loaded with
//!   `net.bridge.bridge-nf-call-iptables=1` (see [`br_netfilter_active`]). Berth does not load
//!   modules.
//! - Every base chain of every table sees a packet; an `accept` here does not override a `drop`
//!   in another table. A dockerd on the same host sets iptables' FORWARD policy to DROP, which
//!   drops Berth's forwarded traffic too unless the admin adds rules (`DOCKER-USER`) for it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use crate::NetError;

/// The ruleset of one Berth instance's table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// Table name in family `inet`: `berth` or `berth-<instance>` (see [`table_name`]).
    pub table: String,
    /// One entry per Berth bridge.
    pub bridges: Vec<BridgeRules>,
    /// Published ports.
    pub ports: Vec<PortMap>,
}

/// What one bridge network allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    /// The bridge's interface name.
    pub ifname: String,
    /// Its subnets (address and prefix length; host bits are ignored).
    pub subnets: Vec<(IpAddr, u8)>,
    /// Masquerade traffic from the subnets leaving through other interfaces.
    pub masquerade: bool,
    /// Inter-container communication on the bridge.
    pub icc: bool,
    /// No traffic in or out of the bridge, only within it.
    pub internal: bool,
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// A published port: `host_ip:host_port` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    /// Protocol.
    pub proto: Proto,
    /// Host address it is published on; `None` = every host address of the container's family.
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// The container's address on `bridge`.
    pub container_ip: IpAddr,
    /// The container's port.
    pub container_port: u16,
    /// The bridge the container is reached through.
    pub bridge: String,
}

/// The table of instance `instance`: `berth` for the default, `berth-<instance>` otherwise.
pub fn table_name(instance: Option<&str>) -> String {
    match instance {
        None => "berth".to_owned(),
        Some(i) => format!("berth-{i}"),
    }
}

/// Whether bridged traffic passes nftables' inet hooks (`br_netfilter` loaded and
/// `net.bridge.bridge-nf-call-iptables=1`); without it `icc: false` has no effect.
pub fn br_netfilter_active() -> bool {
    std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1")
}

impl Ruleset {
    /// The `nft -f` script that replaces the whole table in one transaction (creating it first
    /// so that the delete cannot fail).
    pub fn render(&self) -> String {
        let t = &self.table;
        let mut s = format!("table inet {t} {{}}\ndelete table inet {t}\ntable inet {t} {{\n");
        chain(
            &mut s,
            "prerouting",
            "type nat hook prerouting priority dstnat; policy accept;",
            &self.dnat_rules(),
        );
        chain(
            &mut s,
            "output",
            "type nat hook output priority -100; policy accept;",
            &self.dnat_rules(),
        );
        chain(
            &mut s,
            "postrouting",
            "type nat hook postrouting priority srcnat; policy accept;",
            &self.snat_rules(),
        );
        chain(
            &mut s,
            "forward",
            "type filter hook forward priority filter; policy accept;",
            &self.forward_rules(),
        );
        s.push_str("}\n");
        s
    }

    /// Replaces the table in the kernel with this ruleset.
    pub fn apply(&self) -> Result<(), NetError> {
        self.check()?;
        run_nft(
            &self.render(),
            &format!("apply nft table inet {}", self.table),
        )
    }

    /// Refuses names that are not Berth's or could break the script, and mixed-family mappings.
    fn check(&self) -> Result<(), NetError> {
        check_table(&self.table)?;
        for b in &self.bridges {
            check_ifname(&b.ifname)?;
        }
        for p in &self.ports {
            check_ifname(&p.bridge)?;
            if p.host_ip
                .is_some_and(|h| h.is_ipv4() != p.container_ip.is_ipv4())
            {
                return Err(NetError::Invalid(format!(
                    "port mapping {}:{} -> {}:{} mixes IPv4 and IPv6",
                    p.host_ip.map(|h| h.to_string()).unwrap_or_default(),
                    p.host_port,
                    p.container_ip,
                    p.container_port
                )));
            }
        }
        Ok(())
    }

    /// DNAT of published ports, for traffic addressed to the host (prerouting and output).
    fn dnat_rules(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| {
                let daddr = match p.host_ip {
                    Some(h) => format!("{} daddr {h}", family(h)),
                    None => format!("meta nfproto {}", nfproto(p.container_ip)),
                };
                format!(
                    "fib daddr type local {daddr} {} dport {} dnat {} to {}",
                    p.proto.as_str(),
                    p.host_port,
                    family(p.container_ip),
                    sockaddr(p.container_ip, p.container_port)
                )
            })
            .collect()
    }

    /// Masquerade: subnets going elsewhere, 127.0.0.0/8 going out a bridge, hairpin.
    fn snat_rules(&self) -> Vec<String> {
        let mut rules = Vec::new();
        for b in &self.bridges {
            let br = quote(&b.ifname);
            if b.masquerade && !b.internal {
                for &(addr, len) in &b.subnets {
                    rules.push(format!(
                        "{} saddr {} oifname != {br} masquerade",
                        family(addr),
                        prefix(addr, len)
                    ));
                }
            }
            rules.push(format!("oifname {br} ip saddr 127.0.0.0/8 masquerade"));
            // Hairpin. Matched on the source subnet, not `iifname`: with br_netfilter the
            // postrouting hook does not see the input interface of bridged packets.
            for &(addr, len) in &b.subnets {
                rules.push(format!(
                    "oifname {br} {} saddr {} ct status dnat masquerade",
                    family(addr),
                    prefix(addr, len)
                ));
            }
        }
        rules
    }

    fn forward_rules(&self) -> Vec<String> {
        let mut rules = Vec::new();
        for b in self.bridges.iter().filter(|b| b.internal) {
            let br = quote(&b.ifname);
            rules.push(format!("iifname {br} oifname != {br} drop"));
            rules.push(format!("oifname {br} iifname != {br} drop"));
        }
        for b in &self.bridges {
            let others: Vec<String> = self
                .bridges
                .iter()
                .filter(|o| o.ifname != b.ifname)
                .map(|o| quote(&o.ifname))
                .collect();
            if !others.is_empty() {
                rules.push(format!(
                    "iifname {} oifname {{ {} }} ct status & dnat == 0 drop",
                    quote(&b.ifname),
                    others.join(", ")
                ));
            }
        }
        rules.push("ct state established,related accept".to_owned());
        for p in &self.ports {
            rules.push(format!(
                "oifname {} {} daddr {} {} dport {} ct status dnat accept",
                quote(&p.bridge),
                family(p.container_ip),
                p.container_ip,
                p.proto.as_str(),
                p.container_port
            ));
        }
        for b in &self.bridges {
            let br = quote(&b.ifname);
            let verdict = if b.icc { "accept" } else { "drop" };
            rules.push(format!("iifname {br} oifname {br} {verdict}"));
            if !b.internal {
                rules.push(format!("iifname {br} accept"));
            }
            rules.push(format!("oifname {br} drop"));
        }
        rules
    }
}

/// Deletes table `inet <name>`; a missing table is not an error.
pub fn delete_table(name: &str) -> Result<(), NetError> {
    check_table(name)?;
    run_nft(
        &format!("table inet {name} {{}}\ndelete table inet {name}\n"),
        &format!("delete nft table inet {name}"),
    )
}

/// Whether table `inet <name>` exists.
pub fn table_exists(name: &str) -> Result<bool, NetError> {
    check_table(name)?;
    let out = Command::new("nft")
        .args(["list", "tables", "inet"])
        .output()
        .map_err(|e| NetError::io("run nft list tables", e))?;
    if !out.status.success() {
        return Err(nft_failed("list nft tables", &out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == format!("table inet {name}")))
}

fn run_nft(script: &str, what: &str) -> Result<(), NetError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::io(format!("{what}: run nft"), e))?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(script.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::io(format!("{what}: run nft"), e))?;
    if !out.status.success() {
        return Err(nft_failed(what, &out.stderr));
    }
    if let Some(Err(e)) = written {
        return Err(NetError::io(format!("{what}: write to nft"), e));
    }
    Ok(())
}

fn nft_failed(what: &str, stderr: &[u8]) -> NetError {
    let msg = String::from_utf8_lossy(stderr).trim().to_owned();
    NetError::io(what, std::io::Error::other(format!("nft failed: {msg}")))
}

fn chain(s: &mut String, name: &str, header: &str, rules: &[String]) {
    let _ = writeln!(s, "  chain {name} {{\n    {header}");
    for r in rules {
        let _ = writeln!(s, "    {r}");
    }
    s.push_str("  }\n");
}

fn check_table(name: &str) -> Result<(), NetError> {
    let ok = name == "berth"
        || name.strip_prefix("berth-").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 64
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(NetError::Invalid(format!(
            "not a berth nft table name: {name:?}"
        )))
    }
}

fn check_ifname(name: &str) -> Result<(), NetError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NetError::Invalid(format!(
            "invalid interface name: {name:?}"
        )))
    }
}

fn quote(ifname: &str) -> String {
    format!("\"{ifname}\"")
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

fn nfproto(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ipv4"
    } else {
        "ipv6"
    }
}

fn sockaddr(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// `addr/len` with the host bits cleared.
fn prefix(addr: IpAddr, len: u8) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let len = len.min(32);
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            format!("{}/{len}", Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let len = len.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            format!("{}/{len}", Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn bridge(name: &str, subnet: &str) -> BridgeRules {
        BridgeRules {
            ifname: name.into(),
            subnets: vec![(v4(subnet), 24)],
            masquerade: true,
            icc: true,
            internal: false,
        }
    }

    fn port(host_ip: Option<&str>) -> PortMap {
        PortMap {
            proto: Proto::Tcp,
            host_ip: host_ip.map(v4),
            host_port: 8080,
            container_ip: v4("10.1.0.2"),
            container_port: 80,
            bridge: "bthbr-a".into(),
        }
    }

    fn rules(rs: &Ruleset, chain: &str) -> Vec<String> {
        let text = rs.render();
        let start = text.find(&format!("chain {chain} {{")).expect("chain");
        text[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.trim() != "}")
            .map(|l| l.trim().to_owned())
            .collect()
    }

    fn set(bridges: Vec<BridgeRules>, ports: Vec<PortMap>) -> Ruleset {
        Ruleset {
            table: table_name(Some("t")),
            bridges,
            ports,
        }
    }

    #[test]
    fn replaces_only_its_own_table_in_one_script() {
        let text = set(vec![], vec![]).render();
        assert!(
            text.starts_with(
                "table inet berth-t {}\ndelete table inet berth-t\ntable inet berth-t {\n"
            ),
            "{text}"
        );
        let tables: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("table") || l.starts_with("delete"))
            .collect();
        assert_eq!(tables.len(), 3, "{text}");
        assert!(tables
            .iter()
            .all(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1) == Some("berth-t")));
        assert_eq!(table_name(None), "berth");
        for bad in ["filter", "nat", "berth-", "berth-x y", "berth-\"x"] {
            assert!(delete_table(bad).is_err(), "{bad}");
            assert!(
                Ruleset {
                    table: bad.into(),
                    ..Ruleset::default()
                }
                .apply()
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn masquerades_subnets_leaving_elsewhere() {
        let mut b = bridge("bthbr-a", "10.1.0.77");
        b.subnets.push(("fd00:1::5".parse().expect("v6"), 64));
        let post = rules(&set(vec![b.clone()], vec![]), "postrouting");
        assert!(
            post.contains(&"ip saddr 10.1.0.0/24 oifname != \"bthbr-a\" masquerade".to_owned()),
            "{post:?}"
        );
        assert!(
            post.contains(&"ip6 saddr fd00:1::/64 oifname != \"bthbr-a\" masquerade".to_owned()),
            "{post:?}"
        );
        b.masquerade = false;
        let post = rules(&set(vec![b], vec![]), "postrouting");
        assert!(!post.iter().any(|r| r.contains("oifname != ")), "{post:?}");
    }

    #[test]
    fn bridges_are_isolated_from_each_other() {
        let fwd = rules(
            &set(
                vec![bridge("bthbr-a", "10.1.0.0"), bridge("bthbr-b", "10.2.0.0")],
                vec![],
            ),
            "forward",
        );
        assert!(fwd.contains(
            &"iifname \"bthbr-a\" oifname { \"bthbr-b\" } ct status & dnat == 0 drop".to_owned()
        ));
        assert!(fwd.contains(
            &"iifname \"bthbr-b\" oifname { \"bthbr-a\" } ct status & dnat == 0 drop".to_owned()
        ));
        let est = fwd
            .iter()
            .position(|r| r == "ct state established,related accept")
            .expect("established");
        let out = fwd
            .iter()
            .position(|r| r == "iifname \"bthbr-a\" accept")
            .expect("outbound");
        let drop_in = fwd
            .iter()
            .position(|r| r == "oifname \"bthbr-a\" drop")
            .expect("inbound drop");
        let iso = fwd
            .iter()
            .position(|r| r.contains("dnat == 0 drop"))
            .expect("isolation");
        assert!(iso < est && est < out && out < drop_in, "{fwd:?}");
    }

    #[test]
    fn icc_false_drops_within_the_bridge() {
        let mut b = bridge("bthbr-a", "10.1.0.0");
        let fwd = rules(&set(vec![b.clone()], vec![]), "forward");
        assert!(
            fwd.contains(&"iifname \"bthbr-a\" oifname \"bthbr-a\" accept".to_owned()),
            "{fwd:?}"
        );
        b.icc = false;
        let fwd = rules(&set(vec![b], vec![]), "forward");
        assert!(
            fwd.contains(&"iifname \"bthbr-a\" oifname \"bthbr-a\" drop".to_owned()),
            "{fwd:?}"
        );
    }

    #[test]
    fn internal_bridges_keep_traffic_inside() {
        let mut b = bridge("bthbr-a", "10.1.0.0");
        b.internal = true;
        let rs = set(vec![b], vec![]);
        let fwd = rules(&rs, "forward");
        assert_eq!(fwd[0], "iifname \"bthbr-a\" oifname != \"bthbr-a\" drop");
        assert_eq!(fwd[1], "oifname \"bthbr-a\" iifname != \"bthbr-a\" drop");
        assert!(
            !fwd.contains(&"iifname \"bthbr-a\" accept".to_owned()),
            "{fwd:?}"
        );
        let post = rules(&rs, "postrouting");
        assert!(!post.iter().any(|r| r.contains("oifname != ")), "{post:?}");
    }

    #[test]
    fn published_ports_are_dnated_from_outside_and_from_the_host() {
        let rs = set(
            vec![bridge("bthbr-a", "10.1.0.0")],
            vec![port(None), port(Some("127.0.0.1"))],
        );
        let all = "fib daddr type local meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80"
            .to_owned();
        let one = "fib daddr type local ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 10.1.0.2:80"
            .to_owned();
        for chain in ["prerouting", "output"] {
            let r = rules(&rs, chain);
            assert_eq!(r, vec![all.clone(), one.clone()], "{chain}");
        }
        let post = rules(&rs, "postrouting");
        assert!(
            post.contains(&"oifname \"bthbr-a\" ip saddr 127.0.0.0/8 masquerade".to_owned()),
            "{post:?}"
        );
        assert!(post.contains(
            &"oifname \"bthbr-a\" ip saddr 10.1.0.0/24 ct status dnat masquerade".to_owned()
        ));
        let fwd = rules(&rs, "forward");
        let accept = fwd
            .iter()
            .position(|r| {
                r == "oifname \"bthbr-a\" ip daddr 10.1.0.2 tcp dport 80 ct status dnat accept"
            })
            .expect("port accepted");
        assert!(
            accept
                < fwd
                    .iter()
                    .position(|r| r == "oifname \"bthbr-a\" drop")
                    .expect("drop")
        );
    }

    #[test]
    fn ipv6_and_other_protocols() {
        let p = PortMap {
            proto: Proto::Sctp,
            host_ip: None,
            host_port: 9,
            container_ip: "fd00::2".parse().expect("v6"),
            container_port: 10,
            bridge: "bthbr-a".into(),
        };
        let r = rules(&set(vec![], vec![p.clone()]), "prerouting");
        assert_eq!(
            r,
            vec!["fib daddr type local meta nfproto ipv6 sctp dport 9 dnat ip6 to [fd00::2]:10"]
        );
        let mixed = PortMap {
            host_ip: Some(v4("127.0.0.1")),
            ..p
        };
        let err = set(vec![], vec![mixed])
            .apply()
            .expect_err("mixed families");
        assert_eq!(
            err.to_string(),
            "port mapping 127.0.0.1:9 -> fd00::2:10 mixes IPv4 and IPv6"
        );
    }
}
