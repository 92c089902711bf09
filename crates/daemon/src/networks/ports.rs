//! Published ports: `PortBindings` and `PublishAllPorts` → the host ports a container gets,
//! each reserved by a bound (not listening) socket so nothing else on the host can take it while
//! the container runs; the kernel's DNAT (berth-net's nft rules) carries the traffic.
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;

use berth_api::container::{PortBinding, PortMap};
use rustix::net::{AddressFamily, SocketType};

use crate::error::{Error, Result};

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// `80`, `80/tcp`, `53/udp` → (port, proto).
pub fn parse_port_key(k: &str) -> Result<(u16, Proto)> {
    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" | "" => Proto::Tcp,
        "udp" => Proto::Udp,
        "sctp" => Proto::Sctp,
        other => {
            return Err(Error::invalid(format!("invalid proto: {other}")));
        }
    };
    let port: u16 = p
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::invalid(format!("invalid containerPort: {p}")))?;
    Ok((port, proto))
}

/// One port to publish, before a host port is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub proto: Proto,
    pub container_port: u16,
    /// `None`: every host address.
    pub host_ip: Option<IpAddr>,
    /// Inclusive; `None`: an ephemeral port.
    pub host_ports: Option<(u16, u16)>,
}

fn parse_host_ports(s: &str) -> Result<Option<(u16, u16)>> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid(format!("invalid hostPort: {s}"));
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 && b == 0 {
        return Ok(None);
    }
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// What the container asks to publish (Docker: every binding of `PortBindings`, plus every
/// exposed port without one when `PublishAllPorts`).
pub fn wanted(
    exposed: &BTreeSet<String>,
    bindings: Option<&PortMap>,
    publish_all: bool,
) -> Result<Vec<Wanted>> {
    let mut out = Vec::new();
    let mut bound = BTreeSet::new();
    for (k, list) in bindings.into_iter().flatten() {
        let (port, proto) = parse_port_key(k)?;
        bound.insert((port, proto));
        let list: Vec<PortBinding> = list.clone().unwrap_or_default();
        let list = if list.is_empty() {
            vec![PortBinding::default()]
        } else {
            list
        };
        for b in list {
            let host_ip = if b.host_ip.is_empty() {
                None
            } else {
                Some(b.host_ip.parse::<IpAddr>().map_err(|_| {
                    Error::invalid(format!("invalid host IP address: {}", b.host_ip))
                })?)
            };
            let host_ip = host_ip.filter(|ip| !ip.is_unspecified());
            out.push(Wanted {
                proto,
                container_port: port,
                host_ip,
                host_ports: parse_host_ports(&b.host_port)?,
            });
        }
    }
    if publish_all {
        for k in exposed {
            let (port, proto) = parse_port_key(k)?;
            if !bound.contains(&(port, proto)) {
                out.push(Wanted {
                    proto,
                    container_port: port,
                    host_ip: None,
                    host_ports: None,
                });
            }
        }
    }
    Ok(out)
}

/// A port as published: what `NetworkSettings.Ports` and the nft DNAT rules are made of.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    pub proto: Proto,
    pub container_port: u16,
    /// `None`: every host address (shown as `0.0.0.0`).
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
}

impl serde::Serialize for Proto {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Proto {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Proto, D::Error> {
        let s = String::deserialize(d)?;
        parse_port_key(&format!("1/{s}"))
            .map(|(_, p)| p)
            .map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// The sockets holding a container's host ports; dropping it frees them.
#[derive(Debug, Default)]
pub struct Reservation {
    _fds: Vec<OwnedFd>,
}

fn reserve_one(proto: Proto, ip: Option<IpAddr>, port: u16) -> std::io::Result<(OwnedFd, u16)> {
    let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let family = if ip.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let ty = match proto {
        Proto::Udp => SocketType::DGRAM,
        _ => SocketType::STREAM,
    };
    let fd = rustix::net::socket_with(family, ty, rustix::net::SocketFlags::CLOEXEC, None)?;
    rustix::net::bind(&fd, &SocketAddr::new(ip, port))?;
    let got = SocketAddr::try_from(rustix::net::getsockname(&fd)?)
        .map(|a| a.port())
        .unwrap_or(port);
    Ok((fd, got))
}

fn taken(w: &Wanted, port: u16) -> Error {
    let ip = w
        .host_ip
        .map(|i| i.to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    Error::conflict(format!(
        "Bind for {ip}:{port} failed: port is already allocated"
    ))
}

/// Choose and reserve host ports for `wanted`. Nothing stays reserved on error.
pub fn reserve(wanted: &[Wanted]) -> Result<(Vec<Published>, Reservation)> {
    let mut fds = Vec::new();
    let mut out = Vec::new();
    for w in wanted {
        // SCTP: the kernel may lack it; the port is not held, only published.
        let (fd, port) = match (w.proto, w.host_ports) {
            (Proto::Sctp, Some((a, _))) => (None, a),
            (Proto::Sctp, None) => {
                return Err(Error::invalid("sctp ports need an explicit host port"))
            }
            (_, None) => {
                let (fd, p) = reserve_one(w.proto, w.host_ip, 0)
                    .map_err(|e| Error::internal(format!("allocate a host port: {e}")))?;
                (Some(fd), p)
            }
            (_, Some((a, b))) => {
                let mut got = None;
                for p in a..=b {
                    if let Ok(x) = reserve_one(w.proto, w.host_ip, p) {
                        got = Some(x);
                        break;
                    }
                }
                let (fd, p) = got.ok_or_else(|| taken(w, a))?;
                (Some(fd), p)
            }
        };
        fds.extend(fd);
        out.push(Published {
            proto: w.proto,
            container_port: w.container_port,
            host_ip: w.host_ip,
            host_port: port,
        });
    }
    Ok((out, Reservation { _fds: fds }))
}

/// Re-take the ports of a container that was running when the daemon restarted.
pub fn rereserve(published: &[Published]) -> Reservation {
    let mut fds = Vec::new();
    for p in published {
        if p.proto == Proto::Sctp {
            continue;
        }
        match reserve_one(p.proto, p.host_ip, p.host_port) {
            Ok((fd, _)) => fds.push(fd),
            Err(e) => tracing::warn!(port = p.host_port, "re-reserve a published port: {e}"),
        }
    }
    Reservation { _fds: fds }
}

/// `NetworkSettings.Ports`: every exposed or published port, `null` when not published.
pub fn port_map(exposed: &BTreeSet<String>, published: &[Published]) -> PortMap {
    let mut m: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for k in exposed {
        if let Ok((port, proto)) = parse_port_key(k) {
            m.insert(format!("{port}/{}", proto.as_str()), None);
        }
    }
    for p in published {
        let e = m
            .entry(format!("{}/{}", p.container_port, p.proto.as_str()))
            .or_insert(None)
            .get_or_insert_with(Vec::new);
        e.push(PortBinding {
            host_ip: p
                .host_ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "0.0.0.0".into()),
            host_port: p.host_port.to_string(),
        });
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(k: &str, ip: &str, port: &str) -> PortMap {
        BTreeMap::from([(
            k.to_string(),
            Some(vec![PortBinding {
                host_ip: ip.into(),
                host_port: port.into(),
            }]),
        )])
    }

    #[test]
    fn bindings_and_publish_all() {
        let exposed: BTreeSet<String> =
            ["80/tcp", "53/udp"].iter().map(|s| s.to_string()).collect();
        let w = wanted(
            &exposed,
            Some(&pm("80/tcp", "127.0.0.1", "8000-8005")),
            true,
        )
        .expect("wanted");
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].host_ports, Some((8000, 8005)));
        assert_eq!(w[0].host_ip, Some("127.0.0.1".parse().expect("ip")));
        assert_eq!(
            (w[1].container_port, w[1].proto, w[1].host_ports),
            (53, Proto::Udp, None)
        );
        assert!(wanted(&exposed, Some(&pm("80/xyz", "", "1")), false).is_err());
        assert!(wanted(&exposed, Some(&pm("80", "nope", "1")), false).is_err());
        assert!(wanted(&exposed, Some(&pm("80", "", "9-3")), false).is_err());
    }

    #[test]
    fn ports_are_held_until_released() {
        let w = vec![Wanted {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Some("127.0.0.1".parse().expect("ip")),
            host_ports: None,
        }];
        let (p, r) = reserve(&w).expect("reserve");
        assert!(p[0].host_port > 0);
        // The same port again conflicts, with Docker's text, while held.
        let again = Wanted {
            host_ports: Some((p[0].host_port, p[0].host_port)),
            ..w[0].clone()
        };
        let e = reserve(std::slice::from_ref(&again)).expect_err("taken");
        assert!(
            e.message.contains("port is already allocated"),
            "{}",
            e.message
        );
        drop(r);
        reserve(&[again]).expect("free again");
        let m = port_map(&BTreeSet::from(["81/tcp".to_string()]), &p);
        assert_eq!(m["81/tcp"], None);
        assert_eq!(
            m["80/tcp"].as_ref().map(|v| v[0].host_ip.as_str()),
            Some("127.0.0.1")
        );
    }
}
