//! The embedded DNS server over real sockets on loopback (no root needed).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use berth_net::dns::{self, types, Lookup, Resolver, Server, ServerHandle};

/// What the daemon would answer for container `c1` on a network `net1`.
#[derive(Debug)]
struct Names;
impl Resolver for Names {
    fn resolve(&self, client: &str, name: &str) -> Lookup {
        match (client, name) {
            ("c1", "db") => Lookup::Found(vec![
                "10.1.0.3".parse().unwrap(),
                "fd00::3".parse().unwrap(),
            ]),
            ("c1", n) if n.ends_with(".net1") => Lookup::NoSuchName,
            _ => Lookup::NotOurs,
        }
    }
    fn reverse(&self, _: &str, _: IpAddr) -> Option<String> {
        None
    }
}

const UPSTREAM_ANSWER: [u8; 4] = [192, 0, 2, 7];

/// The upstream's reply to `q`: one A record, 192.0.2.7.
fn upstream_reply(q: &[u8]) -> Vec<u8> {
    let mut r = q.to_vec();
    r[2] |= 0x80; // QR
    r[7] = 1; // ANCOUNT
    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    r.extend_from_slice(&UPSTREAM_ANSWER);
    r
}

/// A fake upstream resolver on UDP and TCP of one loopback port (threads end with the test
/// process).
fn fake_upstream() -> SocketAddr {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 1500];
        while let Ok((n, peer)) = udp.recv_from(&mut b) {
            let _ = udp.send_to(&upstream_reply(&b[..n]), peer);
        }
    });
    std::thread::spawn(move || {
        for mut s in tcp.incoming().flatten() {
            let Ok(q) = read_framed(&mut s) else { continue };
            let _ = write_framed(&mut s, &upstream_reply(&q));
        }
    });
    addr
}

/// An address nothing listens on.
fn dead_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn read_framed(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut l = [0u8; 2];
    s.read_exact(&mut l)?;
    let mut r = vec![0u8; usize::from(u16::from_be_bytes(l))];
    s.read_exact(&mut r)?;
    Ok(r)
}

fn write_framed(s: &mut TcpStream, m: &[u8]) -> std::io::Result<()> {
    s.write_all(&u16::try_from(m.len()).unwrap().to_be_bytes())?;
    s.write_all(m)
}

struct Fixture {
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Fixture {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Fixture { rt }
    }

    /// A server for client `c1` on a fresh loopback port.
    fn serve(&self, upstreams: Vec<SocketAddr>) -> (u16, ServerHandle) {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        let tcp = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let h = self
            .rt
            .block_on(async { Server::serve(udp, tcp, "c1".into(), Arc::new(Names), upstreams) })
            .unwrap();
        (port, h)
    }
}

fn ask_udp(port: u16, q: &[u8]) -> std::io::Result<(u8, Vec<IpAddr>)> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.send_to(q, ("127.0.0.1", port))?;
    let mut b = [0u8; 1500];
    let n = s.recv(&mut b)?;
    assert_eq!(&b[..2], &q[..2], "reply carries the query's id");
    Ok(dns::parse_answers(&b[..n]).unwrap())
}

fn ask(port: u16, q: &[u8]) -> (u8, Vec<IpAddr>) {
    ask_udp(port, q).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn answers_our_names_over_udp() {
    let f = Fixture::new();
    let (port, _h) = f.serve(vec![fake_upstream()]);
    assert_eq!(
        ask(port, &dns::query(1, "db", types::A)),
        (0, vec![ip("10.1.0.3")])
    );
    assert_eq!(
        ask(port, &dns::query(2, "DB.", types::AAAA)),
        (0, vec![ip("fd00::3")])
    );
    // Ours but nobody by that name: NXDOMAIN, not relayed (the upstream would answer).
    assert_eq!(
        ask(port, &dns::query(3, "nobody.net1", types::A)),
        (3, vec![])
    );
}

#[test]
fn relays_the_rest_and_fails_when_upstreams_are_dead() {
    let f = Fixture::new();
    let (port, _h) = f.serve(vec![fake_upstream()]);
    assert_eq!(
        ask(port, &dns::query(4, "example.org", types::A)),
        (0, vec![IpAddr::from(UPSTREAM_ANSWER)])
    );
    // The first upstream dead: the second answers.
    let (port, _h2) = f.serve(vec![dead_addr(), fake_upstream()]);
    assert_eq!(
        ask(port, &dns::query(5, "example.org", types::A)),
        (0, vec![IpAddr::from(UPSTREAM_ANSWER)])
    );
    // None answering, or none at all: SERVFAIL.
    let (port, _h3) = f.serve(vec![dead_addr()]);
    assert_eq!(ask(port, &dns::query(6, "example.org", types::A)).0, 2);
    let (port, _h4) = f.serve(vec![]);
    assert_eq!(ask(port, &dns::query(7, "example.org", types::A)).0, 2);
    // Our names need no upstream.
    assert_eq!(ask(port, &dns::query(8, "db", types::A)).0, 0);
}

#[test]
fn tcp_carries_several_queries_per_connection_and_relays() {
    let f = Fixture::new();
    let (port, _h) = f.serve(vec![fake_upstream()]);
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let cases = [
        (9u16, "db", vec![ip("10.1.0.3")]),
        (10, "example.org", vec![IpAddr::from(UPSTREAM_ANSWER)]),
        (11, "db", vec![ip("10.1.0.3")]),
    ];
    for (id, name, want) in cases {
        write_framed(&mut t, &dns::query(id, name, types::A)).unwrap();
        let r = read_framed(&mut t).unwrap();
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), id);
        assert_eq!(dns::parse_answers(&r).unwrap(), (0, want), "{name}");
    }
    // A dead upstream over TCP: SERVFAIL, the connection still usable.
    let (port, _h2) = f.serve(vec![dead_addr()]);
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write_framed(&mut t, &dns::query(12, "example.org", types::A)).unwrap();
    assert_eq!(
        dns::parse_answers(&read_framed(&mut t).unwrap()).unwrap().0,
        2
    );
    write_framed(&mut t, &dns::query(13, "db", types::A)).unwrap();
    assert_eq!(
        dns::parse_answers(&read_framed(&mut t).unwrap()).unwrap().0,
        0
    );
}

#[test]
fn malformed_input_does_not_kill_the_server() {
    let f = Fixture::new();
    let (port, _h) = f.serve(vec![fake_upstream()]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let q = dns::query(14, "db", types::A);
    for bad in [
        &b""[..],
        b"\x00\x01garbage",
        &q[..q.len() - 3],
        &[0xff; 600],
    ] {
        s.send_to(bad, ("127.0.0.1", port)).unwrap();
    }
    // A compression loop in the question.
    let mut looped = q[..12].to_vec();
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    s.send_to(&looped, ("127.0.0.1", port)).unwrap();
    // TCP: a frame cut short, then the peer goes away.
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.write_all(&[0, 40, 1, 2, 3]).unwrap();
    drop(t);
    assert_eq!(ask(port, &q), (0, vec![ip("10.1.0.3")]));
}

#[test]
fn stopping_the_handle_stops_answering() {
    let f = Fixture::new();
    let (port, h) = f.serve(vec![]);
    assert_eq!(ask(port, &dns::query(15, "db", types::A)).0, 0);
    h.stop();
    std::thread::sleep(Duration::from_millis(200));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.send_to(&dns::query(16, "db", types::A), ("127.0.0.1", port))
        .unwrap();
    let mut b = [0u8; 512];
    assert!(s.recv(&mut b).is_err(), "a stopped server still answered");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "tcp still listening"
    );
}
