//! Address management: subnets, pools, Docker's default address pools, and the per-network
//! allocations of one daemon, persisted in one JSON file (written atomically before a call
//! returns, so a crash never hands an address out twice).
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NetError;

/// An IPv4 or IPv6 CIDR (`172.17.0.0/16`); the address keeps its host bits as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    addr: IpAddr,
    len: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn from_bits(v: u128, width: u8) -> IpAddr {
    if width == 32 {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

impl Subnet {
    /// A subnet from an address and prefix length.
    pub fn new(addr: IpAddr, len: u8) -> Result<Subnet, NetError> {
        let (_, w) = bits(addr);
        if len > w {
            return Err(NetError::Invalid(format!("invalid prefix length /{len}")));
        }
        Ok(Subnet { addr, len })
    }
    /// The address as given.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    fn width(&self) -> u8 {
        bits(self.addr).1
    }
    fn mask(&self) -> u128 {
        let w = self.width();
        if self.len == 0 {
            0
        } else {
            let all = if w == 32 {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            };
            all & !((1u128 << (w - self.len)) - 1)
        }
    }
    fn base(&self) -> u128 {
        bits(self.addr).0 & self.mask()
    }
    /// Number of host bits.
    fn host_bits(&self) -> u8 {
        self.width() - self.len
    }
    /// The subnet with the host bits cleared (`10.1.2.3/24` → `10.1.2.0/24`).
    pub fn network(&self) -> Subnet {
        Subnet {
            addr: from_bits(self.base(), self.width()),
            len: self.len,
        }
    }
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v, w) = bits(ip);
        w == self.width() && v & self.mask() == self.base()
    }
    /// Whether the two share any address.
    pub fn overlaps(&self, o: &Subnet) -> bool {
        if self.width() != o.width() {
            return false;
        }
        let len = self.len.min(o.len);
        let a = Subnet {
            addr: self.addr,
            len,
        };
        a.contains(o.addr)
    }
    /// The `n`th address (0 = the network address); `None` past the end.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let size = self.size();
        (n < size).then(|| from_bits(self.base() + n, self.width()))
    }
    /// The `n`th host address (1 = the first usable one).
    pub fn nth_host(&self, n: u128) -> Option<IpAddr> {
        self.nth(n)
    }
    /// How many addresses (saturating for huge IPv6 subnets).
    pub fn size(&self) -> u128 {
        let h = self.host_bits();
        if h >= 127 {
            u128::MAX
        } else {
            1u128 << h
        }
    }
    fn offset(&self, ip: IpAddr) -> u128 {
        bits(ip).0 - self.base()
    }
    /// The broadcast address (IPv4); IPv6 has none.
    pub fn broadcast(&self) -> Option<IpAddr> {
        (self.is_ipv4() && self.host_bits() > 1)
            .then(|| from_bits(self.base() + self.size() - 1, 32))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Subnet {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Subnet, NetError> {
        let bad = || NetError::Invalid(format!("invalid CIDR address: {s}"));
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        Subnet::new(addr, len).map_err(|_| bad())
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: NetError| serde::de::Error::custom(e.to_string()))
    }
}

/// A network's address pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Subnet,
    /// Reserved for the bridge; `None` on networks without one.
    pub gateway: Option<IpAddr>,
    /// Allocate only from here.
    pub ip_range: Option<Subnet>,
}

impl Pool {
    /// Docker's checks.
    pub fn validate(&self) -> Result<(), NetError> {
        if let Some(g) = self.gateway {
            if !self.subnet.contains(g) {
                return Err(NetError::Invalid(format!(
                    "invalid pool request: gateway {g} is not in subnet {}",
                    self.subnet
                )));
            }
        }
        if let Some(r) = self.ip_range {
            if r.width() != self.subnet.width()
                || r.prefix_len() < self.subnet.prefix_len()
                || !self.subnet.contains(r.addr)
            {
                return Err(NetError::Invalid(format!(
                    "invalid pool request: ip-range {r} is not in subnet {}",
                    self.subnet
                )));
            }
        }
        if self.subnet.is_ipv4() && self.subnet.prefix_len() > 30 {
            return Err(NetError::Invalid(format!(
                "invalid pool request: subnet {} is too small",
                self.subnet
            )));
        }
        Ok(())
    }

    /// Whether `ip` can be handed out (inside, not the network/broadcast/gateway address).
    fn assignable(&self, ip: IpAddr) -> bool {
        let s = self.subnet;
        s.contains(ip)
            && Some(ip) != s.nth(0)
            && Some(ip) != s.broadcast()
            && Some(ip) != self.gateway
    }
}

/// The pools new networks take their subnets from (`default-address-pools`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultPools {
    /// (base, size of each subnet carved from it).
    pools: Vec<(Subnet, u8)>,
}

impl DefaultPools {
    /// Docker's: 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 in /20s.
    pub fn docker() -> DefaultPools {
        let mut pools: Vec<(Subnet, u8)> = (17..=31u8)
            .map(|b| {
                (
                    Subnet {
                        addr: IpAddr::V4(Ipv4Addr::new(172, b, 0, 0)),
                        len: 16,
                    },
                    16,
                )
            })
            .collect();
        pools.push((
            Subnet {
                addr: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)),
                len: 16,
            },
            20,
        ));
        DefaultPools { pools }
    }
    /// Configured pools.
    pub fn new(pools: Vec<(Subnet, u8)>) -> DefaultPools {
        DefaultPools { pools }
    }
    /// The first subnet that overlaps neither a taken subnet nor a host route.
    pub fn next_free(&self, taken: &[Subnet], host_routes: &[Subnet]) -> Option<Subnet> {
        for (base, size) in &self.pools {
            if *size < base.prefix_len() || *size > base.width() {
                continue;
            }
            let count = 1u128 << (size - base.prefix_len()).min(20);
            let step = 1u128 << (base.width() - size);
            for i in 0..count {
                let cand = Subnet {
                    addr: from_bits(base.base() + i * step, base.width()),
                    len: *size,
                };
                if !taken.iter().chain(host_routes).any(|t| t.overlaps(&cand)) {
                    return Some(cand);
                }
            }
        }
        None
    }
}

/// Docker's MAC for an IPv4 address: 02:42 and the address.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct NetworkAlloc {
    pool: Pool,
    /// Address → owner (a container ID).
    addrs: BTreeMap<IpAddr, String>,
    /// Offset of the last address handed out (allocation continues after it).
    last: u128,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Store {
    schema: u32,
    networks: BTreeMap<String, NetworkAlloc>,
}

/// One daemon's allocations, persisted at `path`.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    store: Store,
}

impl Ipam {
    /// Open (or start) the store at `path`.
    pub fn open(path: &Path) -> Result<Ipam, NetError> {
        let store: Store = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| NetError::Invalid(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Store {
                schema: SCHEMA,
                ..Store::default()
            },
            Err(e) => return Err(NetError::io(format!("read {}", path.display()), e)),
        };
        if store.schema != SCHEMA {
            return Err(NetError::Invalid(format!(
                "{}: unsupported IPAM store schema {} (this berth reads {SCHEMA})",
                path.display(),
                store.schema
            )));
        }
        Ok(Ipam {
            path: path.to_owned(),
            store,
        })
    }

    /// Write the store to a temporary file, sync it and rename it over the old one, so a crash
    /// leaves either the old or the new state, never half a file.
    fn persist(&self) -> Result<(), NetError> {
        use std::io::Write;
        let tmp = self.path.with_extension("json.tmp");
        let data =
            serde_json::to_vec_pretty(&self.store).map_err(|e| NetError::Invalid(e.to_string()))?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()
        };
        write().map_err(|e| NetError::io(format!("write {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| NetError::io(format!("write {}", self.path.display()), e))
    }

    pub fn has_network(&self, id: &str) -> bool {
        self.store.networks.contains_key(id)
    }

    /// Add a network's pool; a subnet overlapping another network's is refused with Docker's
    /// text.
    pub fn add_network(&mut self, id: &str, pool: Pool) -> Result<(), NetError> {
        pool.validate()?;
        if self
            .store
            .networks
            .iter()
            .any(|(o, n)| o.as_str() != id && n.pool.subnet.overlaps(&pool.subnet))
        {
            return Err(NetError::Conflict(
                "Pool overlaps with other one on this address space".into(),
            ));
        }
        self.store.networks.insert(
            id.to_string(),
            NetworkAlloc {
                pool,
                addrs: BTreeMap::new(),
                last: 0,
            },
        );
        self.persist()
    }

    pub fn remove_network(&mut self, id: &str) -> Result<(), NetError> {
        if self.store.networks.remove(id).is_some() {
            self.persist()?;
        }
        Ok(())
    }

    fn net(&mut self, id: &str) -> Result<&mut NetworkAlloc, NetError> {
        self.store
            .networks
            .get_mut(id)
            .ok_or_else(|| NetError::NotFound(format!("network {id} not found")))
    }

    /// An address for `owner`: `requested` if free, else the next free one after the last
    /// handed out (so a just-released address is not reused at once).
    pub fn allocate(
        &mut self,
        id: &str,
        owner: &str,
        requested: Option<IpAddr>,
    ) -> Result<IpAddr, NetError> {
        let n = self.net(id)?;
        let ip = match requested {
            Some(ip) => {
                if !n.pool.subnet.contains(ip) {
                    return Err(NetError::Invalid(format!(
                        "no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                // The gateway, network and broadcast addresses count as taken (Docker's text).
                if n.addrs.contains_key(&ip) || !n.pool.assignable(ip) {
                    return Err(NetError::Conflict("Address already in use".into()));
                }
                ip
            }
            None => {
                let range = n.pool.ip_range.unwrap_or(n.pool.subnet);
                let size = range.size().min(1 << 24);
                let last_ip = n.pool.subnet.nth(n.last);
                let start = last_ip
                    .filter(|l| range.contains(*l))
                    .map(|l| range.offset(l))
                    // Nothing handed out from the range yet: begin at its first address.
                    .unwrap_or(size - 1);
                let mut found = None;
                for k in 1..=size {
                    let off = (start + k) % size;
                    let Some(c) = range.nth(off) else { continue };
                    if n.pool.assignable(c) && !n.addrs.contains_key(&c) {
                        found = Some(c);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    NetError::Conflict(format!(
                        "no available IPv4 addresses on this network's address pools: {id}"
                    ))
                })?
            }
        };
        n.last = n.pool.subnet.offset(ip);
        n.addrs.insert(ip, owner.to_string());
        self.persist()?;
        Ok(ip)
    }

    /// Record an address already in use (a container re-adopted after a restart).
    pub fn reserve(&mut self, id: &str, owner: &str, ip: IpAddr) -> Result<(), NetError> {
        let n = self.net(id)?;
        if n.addrs.get(&ip).is_some_and(|o| o == owner) {
            return Ok(());
        }
        n.addrs.insert(ip, owner.to_string());
        self.persist()
    }

    pub fn release(&mut self, id: &str, ip: IpAddr) -> Result<(), NetError> {
        let n = self.net(id)?;
        if n.addrs.remove(&ip).is_some() {
            self.persist()?;
        }
        Ok(())
    }

    /// Every address of `owner` on every network.
    pub fn release_owner(&mut self, owner: &str) -> Result<(), NetError> {
        let mut changed = false;
        for n in self.store.networks.values_mut() {
            let before = n.addrs.len();
            n.addrs.retain(|_, o| o != owner);
            changed |= n.addrs.len() != before;
        }
        if changed {
            self.persist()?;
        }
        Ok(())
    }

    /// Keep only the allocations whose owner passes `keep` (reconcile on daemon start).
    pub fn retain_owners(&mut self, keep: impl Fn(&str) -> bool) -> Result<(), NetError> {
        let mut changed = false;
        for n in self.store.networks.values_mut() {
            let before = n.addrs.len();
            n.addrs.retain(|_, o| keep(o));
            changed |= n.addrs.len() != before;
        }
        if changed {
            self.persist()?;
        }
        Ok(())
    }

    /// Address → owner on network `id`.
    pub fn allocations(&self, id: &str) -> BTreeMap<IpAddr, String> {
        self.store
            .networks
            .get(id)
            .map(|n| n.addrs.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        x.parse().expect("subnet")
    }
    fn ip(x: &str) -> IpAddr {
        x.parse().expect("ip")
    }

    #[test]
    fn subnets() {
        let a = s("10.1.2.3/24");
        assert_eq!(a.network().to_string(), "10.1.2.0/24");
        assert!(a.contains(ip("10.1.2.200")) && !a.contains(ip("10.1.3.1")));
        assert_eq!(a.nth_host(1), Some(ip("10.1.2.1")));
        assert_eq!(a.broadcast(), Some(ip("10.1.2.255")));
        assert!(s("10.0.0.0/8").overlaps(&a) && a.overlaps(&s("10.0.0.0/8")));
        assert!(!s("10.2.0.0/16").overlaps(&a));
        assert!(!s("::/0").overlaps(&a));
        assert!(s("fd00::/64").contains(ip("fd00::5")));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("nope".parse::<Subnet>().is_err());
    }

    #[test]
    fn default_pools_skip_taken_and_routes() {
        let p = DefaultPools::docker();
        assert_eq!(p.next_free(&[], &[]), Some(s("172.17.0.0/16")));
        let n = p.next_free(&[s("172.17.0.0/16")], &[s("172.18.5.0/24")]);
        assert_eq!(n, Some(s("172.19.0.0/16")));
        let all: Vec<Subnet> = (17..=31).map(|b| s(&format!("172.{b}.0.0/16"))).collect();
        assert_eq!(p.next_free(&all, &[]), Some(s("192.168.0.0/20")));
    }

    #[test]
    fn allocation_follows_docker_and_persists() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("ipam.json");
        let mut m = Ipam::open(&path).expect("open");
        let pool = Pool {
            subnet: s("10.9.0.0/29"),
            gateway: Some(ip("10.9.0.1")),
            ip_range: None,
        };
        m.add_network("n1", pool.clone()).expect("add");
        let e = m.add_network(
            "n2",
            Pool {
                subnet: s("10.9.0.0/16"),
                ..pool.clone()
            },
        );
        assert!(matches!(e, Err(NetError::Conflict(_))));
        let a = m.allocate("n1", "c1", None).expect("a");
        assert_eq!(a, ip("10.9.0.2"));
        let b = m.allocate("n1", "c2", None).expect("b");
        assert_eq!(b, ip("10.9.0.3"));
        m.release("n1", a).expect("release");
        // Not reused at once.
        assert_eq!(m.allocate("n1", "c3", None).expect("c"), ip("10.9.0.4"));
        assert!(matches!(
            m.allocate("n1", "x", Some(b)),
            Err(NetError::Conflict(_))
        ));
        assert!(matches!(
            m.allocate("n1", "x", Some(ip("10.8.0.1"))),
            Err(NetError::Invalid(_))
        ));
        for reserved in ["10.9.0.0", "10.9.0.1", "10.9.0.7"] {
            let e = m.allocate("n1", "x", Some(ip(reserved)));
            assert_eq!(
                e.map_err(|e| e.to_string()),
                Err("Address already in use".to_string()),
                "{reserved}"
            );
        }
        drop(m);
        let mut m = Ipam::open(&path).expect("reopen");
        assert_eq!(m.allocations("n1").len(), 2);
        // .5 .6 then wrap to .2; .7 is broadcast, .0 network, .1 gateway.
        assert_eq!(m.allocate("n1", "d", None).expect("d"), ip("10.9.0.5"));
        assert_eq!(m.allocate("n1", "e", None).expect("e"), ip("10.9.0.6"));
        assert_eq!(m.allocate("n1", "f", None).expect("f"), ip("10.9.0.2"));
        assert!(m.allocate("n1", "g", None).is_err());
        m.retain_owners(|o| o != "f").expect("retain");
        m.release_owner("e").expect("release owner");
        assert_eq!(m.allocations("n1").len(), 3);
        // The file on disk follows every mutation.
        assert_eq!(
            Ipam::open(&path).expect("reopen").allocations("n1").len(),
            3
        );
        m.remove_network("n1").expect("remove");
        assert!(!Ipam::open(&path).expect("reopen").has_network("n1"));
    }

    #[test]
    fn store_schema_is_checked() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("ipam.json");
        std::fs::write(&path, r#"{"schema":99,"networks":{}}"#).expect("write");
        let e = Ipam::open(&path).expect_err("newer schema");
        assert!(
            e.to_string().contains("unsupported IPAM store schema 99"),
            "{e}"
        );
        std::fs::write(&path, "{").expect("write");
        assert!(Ipam::open(&path).is_err());
    }

    #[test]
    fn ip_range_and_ipv6() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut m = Ipam::open(&t.path().join("ipam.json")).expect("open");
        m.add_network(
            "r",
            Pool {
                subnet: s("10.20.0.0/24"),
                gateway: Some(ip("10.20.0.1")),
                ip_range: Some(s("10.20.0.128/30")),
            },
        )
        .expect("add");
        let got: Vec<IpAddr> = (0..4)
            .map(|i| m.allocate("r", &format!("c{i}"), None).expect("alloc"))
            .collect();
        assert_eq!(
            got,
            ["10.20.0.128", "10.20.0.129", "10.20.0.130", "10.20.0.131"].map(ip)
        );
        assert!(m.allocate("r", "full", None).is_err());
        // A static address outside the range but inside the subnet is fine (as Docker).
        assert_eq!(
            m.allocate("r", "s", Some(ip("10.20.0.5"))).expect("static"),
            ip("10.20.0.5")
        );
        m.add_network(
            "v6",
            Pool {
                subnet: s("fd00:1::/64"),
                gateway: Some(ip("fd00:1::1")),
                ip_range: None,
            },
        )
        .expect("add v6");
        assert_eq!(m.allocate("v6", "c", None).expect("v6"), ip("fd00:1::2"));
        assert!(matches!(
            m.allocate("nope", "c", None),
            Err(NetError::NotFound(_))
        ));
    }

    #[test]
    fn pools_are_validated() {
        let bad = Pool {
            subnet: s("10.0.0.0/24"),
            gateway: Some(ip("10.0.1.1")),
            ip_range: None,
        };
        assert!(bad.validate().is_err());
        let bad = Pool {
            subnet: s("10.0.0.0/24"),
            gateway: None,
            ip_range: Some(s("10.0.1.0/28")),
        };
        assert!(bad.validate().is_err());
        let ok = Pool {
            subnet: s("10.0.0.0/24"),
            gateway: None,
            ip_range: Some(s("10.0.0.128/25")),
        };
        assert!(ok.validate().is_ok());
        assert_eq!(
            mac_for(Ipv4Addr::new(172, 17, 0, 2)),
            [2, 0x42, 172, 17, 0, 2]
        );
    }
}
