//! The embedded DNS server: answers A/AAAA (and PTR) for the names the daemon knows (container
//! names, network aliases, short IDs of the containers sharing a network with the asker) and
//! relays everything else to the host's resolvers, like Docker's 127.0.0.11.
//!
//! One server per container namespace: the daemon binds the sockets inside the namespace and
//! hands them here; the server runs as two tokio tasks (UDP and TCP), a few KiB each, and stops
//! when its [`ServerHandle`] is dropped. Messages are parsed by a small hand-written codec for
//! the subset needed (one question; answers we make; anything else is relayed as bytes); hostile
//! input never panics and never loops (compression pointers are bounded).
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::NetError;

/// Time to live of our answers (Docker's).
pub const TTL: u32 = 600;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What the daemon answers for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Ours, with these addresses (possibly none of the asked family: an empty answer).
    Found(Vec<IpAddr>),
    /// In our namespace (say `x.mynet` on the asker's network) but nobody by that name:
    /// NXDOMAIN, not relayed.
    NoSuchName,
    /// Not a name we serve: relay it upstream.
    NotOurs,
}

/// The daemon's side: who is who, seen from the asking container.
pub trait Resolver: Send + Sync + std::fmt::Debug {
    /// `name` is lower-case without the trailing dot.
    fn resolve(&self, client: &str, name: &str) -> Lookup;
    /// The name of one of our addresses, for PTR queries.
    fn reverse(&self, client: &str, ip: IpAddr) -> Option<String>;
}

/// Record types we answer.
const T_A: u16 = 1;
const T_PTR: u16 = 12;
const T_AAAA: u16 = 28;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
/// The largest UDP answer for a client that did not announce more (RFC 1035).
const UDP_MAX: usize = 512;

/// A parsed question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    pub rd: bool,
    /// Lower-case, no trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// End of the question section in the message.
    end: usize,
}

/// Read a (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    let mut total = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            if end.is_none() {
                end = Some(pos + 2);
            }
            jumps += 1;
            if jumps > 16 || ptr >= msg.len() {
                return None;
            }
            pos = ptr;
            continue;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(pos + 1)));
        }
        let l = msg.get(pos + 1..pos + 1 + len)?;
        total += len + 1;
        if total > 255 {
            return None;
        }
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        pos += 1 + len;
    }
}

/// Parse a query's header and first question.
pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([msg[0], msg[1]]);
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    if flags & 0x8000 != 0 || qd == 0 {
        return None;
    }
    let (name, p) = read_name(msg, 12)?;
    let qtype = u16::from_be_bytes([*msg.get(p)?, *msg.get(p + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(p + 2)?, *msg.get(p + 3)?]);
    Some(Question {
        id,
        rd: flags & 0x0100 != 0,
        name,
        qtype,
        qclass,
        end: p + 4,
    })
}

fn encode_name(name: &str, out: &mut Vec<u8>) {
    for l in name.split('.').filter(|l| !l.is_empty()) {
        let b = &l.as_bytes()[..l.len().min(63)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
    out.push(0);
}

/// A response to `q` (whose raw bytes are `query`): `rcode` and answers of type `rtype`.
fn response(query: &[u8], q: &Question, rcode: u8, answers: &[Vec<u8>], rtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + answers.len() * 32);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, AA, RD copied, RA.
    let flags: u16 = 0x8000 | 0x0400 | if q.rd { 0x0100 } else { 0 } | 0x0080 | u16::from(rcode);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for rdata in answers {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    out
}

/// Cut an answer of ours to what fits a UDP datagram: the answers dropped and TC set, so the
/// client asks again over TCP. Our answers have only the question and the answer section.
fn fit_udp(mut msg: Vec<u8>, q: &Question) -> Vec<u8> {
    if msg.len() > UDP_MAX {
        msg.truncate(q.end);
        msg[2] |= 0x02;
        msg[6] = 0;
        msg[7] = 0;
    }
    msg
}

/// SERVFAIL for a message we could parse at least the ID of.
fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let q = parse_query(query)?;
    Some(response(query, &q, RCODE_SERVFAIL, &[], q.qtype))
}

/// `4.3.2.1.in-addr.arpa` → 1.2.3.4 (IPv4 only).
fn reverse_name(name: &str) -> Option<IpAddr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut o: Vec<u8> = rest
        .split('.')
        .map(|x| x.parse::<u8>().ok())
        .collect::<Option<Vec<u8>>>()?;
    if o.len() != 4 {
        return None;
    }
    o.reverse();
    Some(IpAddr::from([o[0], o[1], o[2], o[3]]))
}

/// Our answer to `query`, or `None` to relay it.
pub fn answer(query: &[u8], client: &str, r: &dyn Resolver) -> Option<Vec<u8>> {
    answer_q(query, client, r).map(|(_, a)| a)
}

/// [`answer`] cut to a UDP datagram.
fn answer_udp(query: &[u8], client: &str, r: &dyn Resolver) -> Option<Vec<u8>> {
    answer_q(query, client, r).map(|(q, a)| fit_udp(a, &q))
}

fn answer_q(query: &[u8], client: &str, r: &dyn Resolver) -> Option<(Question, Vec<u8>)> {
    let q = parse_query(query)?;
    if q.qclass != 1 {
        return None;
    }
    if q.qtype == T_PTR {
        let ip = reverse_name(&q.name)?;
        let name = r.reverse(client, ip)?;
        let mut rd = Vec::new();
        encode_name(&name, &mut rd);
        let a = response(query, &q, 0, &[rd], T_PTR);
        return Some((q, a));
    }
    let a = match r.resolve(client, &q.name) {
        Lookup::NotOurs => return None,
        Lookup::NoSuchName => response(query, &q, RCODE_NXDOMAIN, &[], q.qtype),
        Lookup::Found(ips) => {
            let answers: Vec<Vec<u8>> = ips
                .iter()
                .filter_map(|ip| match (ip, q.qtype) {
                    (IpAddr::V4(a), T_A) => Some(a.octets().to_vec()),
                    (IpAddr::V6(a), T_AAAA) => Some(a.octets().to_vec()),
                    _ => None,
                })
                .collect();
            response(query, &q, 0, &answers, q.qtype)
        }
    };
    Some((q, a))
}

/// Relay `query` to the upstreams in order over UDP; the first answer wins.
async fn relay_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = tokio::net::UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, from))) =
            tokio::time::timeout(UPSTREAM_TIMEOUT, s.recv_from(&mut buf)).await
        {
            if from == *up && n >= 2 && buf[..2] == query[..2] {
                buf.truncate(n);
                return Some(buf);
            }
        }
    }
    None
}

/// Relay over TCP (the client asked over TCP: the answer may be large).
async fn relay_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(up).await.ok()?;
            s.write_all(&(query.len() as u16).to_be_bytes())
                .await
                .ok()?;
            s.write_all(query).await.ok()?;
            let n = s.read_u16().await.ok()? as usize;
            let mut buf = vec![0u8; n];
            s.read_exact(&mut buf).await.ok()?;
            Some(buf)
        };
        if let Ok(Some(b)) = tokio::time::timeout(UPSTREAM_TIMEOUT, attempt).await {
            return Some(b);
        }
    }
    None
}

/// Stops the server's tasks when dropped.
#[derive(Debug)]
pub struct ServerHandle {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    pub fn stop(self) {}
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The server of one container.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Serve on already-bound sockets (must be called inside a tokio runtime).
    pub fn serve(
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        client: String,
        resolver: Arc<dyn Resolver>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<ServerHandle, NetError> {
        let io = |e| NetError::io("embedded DNS socket", e);
        udp.set_nonblocking(true).map_err(io)?;
        tcp.set_nonblocking(true).map_err(io)?;
        let udp = Arc::new(tokio::net::UdpSocket::from_std(udp).map_err(io)?);
        let tcp = tokio::net::TcpListener::from_std(tcp).map_err(io)?;
        let upstreams = Arc::new(upstreams);
        let (c1, r1, u1) = (client.clone(), resolver.clone(), upstreams.clone());
        let t_udp = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                let query = buf[..n].to_vec();
                if let Some(a) = answer_udp(&query, &c1, r1.as_ref()) {
                    let _ = udp.send_to(&a, peer).await;
                    continue;
                }
                // Relays run beside the loop so a slow upstream holds no one else up.
                let (sock, ups) = (udp.clone(), u1.clone());
                tokio::spawn(async move {
                    let reply = match relay_udp(&query, &ups).await {
                        Some(r) => Some(r),
                        None => servfail(&query),
                    };
                    if let Some(r) = reply {
                        let _ = sock.send_to(&r, peer).await;
                    }
                });
            }
        });
        let t_tcp = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    continue;
                };
                let (c, r, u) = (client.clone(), resolver.clone(), upstreams.clone());
                tokio::spawn(async move {
                    loop {
                        let Ok(Ok(n)) = tokio::time::timeout(TCP_IDLE, s.read_u16()).await else {
                            return;
                        };
                        let mut q = vec![0u8; n as usize];
                        if s.read_exact(&mut q).await.is_err() {
                            return;
                        }
                        let reply = match answer(&q, &c, r.as_ref()) {
                            Some(a) => Some(a),
                            None => match relay_tcp(&q, &u).await {
                                Some(x) => Some(x),
                                None => servfail(&q),
                            },
                        };
                        let Some(reply) = reply else { return };
                        if s.write_all(&(reply.len() as u16).to_be_bytes())
                            .await
                            .is_err()
                            || s.write_all(&reply).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Ok(ServerHandle {
            tasks: vec![t_udp, t_tcp],
        })
    }
}

/// A query message for `name` (tests and tools).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(name, &mut m);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// The rcode and the A/AAAA addresses of a response (tests and tools).
pub fn parse_answers(msg: &[u8]) -> Option<(u8, Vec<IpAddr>)> {
    if msg.len() < 12 {
        return None;
    }
    let rcode = msg[3] & 0x0f;
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut p = 12;
    for _ in 0..qd {
        let (_, e) = read_name(msg, p)?;
        p = e + 4;
    }
    let mut ips = Vec::new();
    for _ in 0..an {
        let (_, e) = read_name(msg, p)?;
        let t = u16::from_be_bytes([*msg.get(e)?, *msg.get(e + 1)?]);
        let len = u16::from_be_bytes([*msg.get(e + 8)?, *msg.get(e + 9)?]) as usize;
        let rd = msg.get(e + 10..e + 10 + len)?;
        match (t, len) {
            (T_A, 4) => ips.push(IpAddr::from([rd[0], rd[1], rd[2], rd[3]])),
            (T_AAAA, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(rd);
                ips.push(IpAddr::from(o));
            }
            _ => {}
        }
        p = e + 10 + len;
    }
    Some((rcode, ips))
}

/// Record type numbers for [`query`].
pub mod types {
    pub const A: u16 = super::T_A;
    pub const AAAA: u16 = super::T_AAAA;
    pub const PTR: u16 = super::T_PTR;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fake;
    impl Resolver for Fake {
        fn resolve(&self, _c: &str, name: &str) -> Lookup {
            match name {
                "web" => Lookup::Found(vec!["10.0.0.2".parse().expect("ip")]),
                "many" => Lookup::Found((0..100u8).map(|i| IpAddr::from([10, 0, 1, i])).collect()),
                "gone.net1" => Lookup::NoSuchName,
                _ => Lookup::NotOurs,
            }
        }
        fn reverse(&self, _c: &str, ip: IpAddr) -> Option<String> {
            (ip.to_string() == "10.0.0.2").then(|| "web".to_string())
        }
    }

    #[test]
    fn answers_ours_and_leaves_the_rest() {
        let q = query(7, "WEB.", types::A);
        let a = answer(&q, "c", &Fake).expect("ours");
        assert_eq!(
            parse_answers(&a),
            Some((0, vec!["10.0.0.2".parse().expect("ip")]))
        );
        assert_eq!(&a[..2], &[0, 7]);
        // AAAA of a v4-only name: an empty NOERROR answer.
        let a = answer(&query(8, "web", types::AAAA), "c", &Fake).expect("ours");
        assert_eq!(parse_answers(&a), Some((0, vec![])));
        assert!(answer(&query(9, "example.com", types::A), "c", &Fake).is_none());
        let a = answer(&query(10, "2.0.0.10.in-addr.arpa", types::PTR), "c", &Fake).expect("ptr");
        assert_eq!(a[7], 1);
    }

    #[test]
    fn misses_in_our_namespace_are_nxdomain() {
        let a = answer(&query(11, "gone.net1", types::A), "c", &Fake).expect("ours");
        assert_eq!(parse_answers(&a), Some((3, vec![])));
        // Authoritative, a response, the ID kept.
        assert_eq!((a[0], a[1], a[2] & 0x84), (0, 11, 0x84));
    }

    #[test]
    fn big_answers_are_truncated_for_udp_only() {
        let q = query(12, "many", types::A);
        let full = answer(&q, "c", &Fake).expect("ours");
        assert_eq!(parse_answers(&full).expect("parse").1.len(), 100);
        let cut = answer_udp(&q, "c", &Fake).expect("ours");
        assert!(cut.len() <= UDP_MAX);
        assert_eq!(cut[2] & 0x02, 0x02, "TC set");
        assert_eq!(parse_answers(&cut), Some((0, vec![])));
        let small = answer_udp(&query(13, "web", types::A), "c", &Fake).expect("ours");
        assert_eq!(small[2] & 0x02, 0);
    }

    #[test]
    fn hostile_messages_never_panic() {
        let q = query(1, "web", types::A);
        for cut in 0..q.len() {
            let _ = answer(&q[..cut], "c", &Fake);
            let _ = parse_answers(&q[..cut]);
        }
        // A compression loop.
        let mut m = q[..12].to_vec();
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(parse_query(&m).is_none());
        // Random bytes.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let msg: Vec<u8> = (0..40)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = answer(&msg, "c", &Fake);
            let _ = parse_answers(&msg);
        }
    }
}
