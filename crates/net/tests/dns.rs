//! The embedded DNS server over real sockets on loopback (no root needed).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use berth_net::dns::{self, types, Lookup, Resolver, Server};

#[derive(Debug)]
struct Names;
impl Resolver for Names {
    fn resolve(&self, client: &str, name: &str) -> Lookup {
        match (client, name) {
            ("c1", "db") => Lookup::Found(vec!["10.1.0.3".parse().unwrap()]),
            _ => Lookup::NotOurs,
        }
    }
    fn reverse(&self, _: &str, _: IpAddr) -> Option<String> {
        None
    }
}

fn ask(port: u16, q: &[u8]) -> (u8, Vec<IpAddr>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(q, ("127.0.0.1", port)).unwrap();
    let mut b = [0u8; 1500];
    let n = s.recv(&mut b).unwrap();
    dns::parse_answers(&b[..n]).unwrap()
}

#[test]
fn answers_relays_and_fails_over_udp_and_tcp() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // A fake upstream that answers everything with 192.0.2.7.
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 1500];
        while let Ok((n, peer)) = up.recv_from(&mut b) {
            let mut r = b[..n].to_vec();
            r[2] |= 0x80; // QR
            r[7] = 1; // ANCOUNT
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
            let _ = up.send_to(&r, peer);
        }
    });
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let tcp = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let _h = rt
        .block_on(async { Server::serve(udp, tcp, "c1".into(), Arc::new(Names), vec![up_addr]) })
        .unwrap();
    assert_eq!(
        ask(port, &dns::query(1, "db", types::A)),
        (0, vec!["10.1.0.3".parse().unwrap()])
    );
    assert_eq!(
        ask(port, &dns::query(2, "example.org", types::A)),
        (0, vec!["192.0.2.7".parse().unwrap()])
    );
    // Garbage does not stop it.
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"\x00\x01garbage", ("127.0.0.1", port))
        .unwrap();
    assert_eq!(ask(port, &dns::query(3, "db", types::A)).0, 0);
    // TCP, two queries on one connection.
    let mut t = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for id in [4u16, 5] {
        let q = dns::query(id, "db", types::A);
        t.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
        t.write_all(&q).unwrap();
        let mut l = [0u8; 2];
        t.read_exact(&mut l).unwrap();
        let mut r = vec![0u8; u16::from_be_bytes(l) as usize];
        t.read_exact(&mut r).unwrap();
        assert_eq!(
            dns::parse_answers(&r).unwrap().1,
            vec!["10.1.0.3".parse::<IpAddr>().unwrap()]
        );
    }
    // No upstream answering: SERVFAIL.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port2 = udp.local_addr().unwrap().port();
    let tcp = TcpListener::bind(("127.0.0.1", port2)).unwrap();
    let _h2 = rt
        .block_on(async { Server::serve(udp, tcp, "c1".into(), Arc::new(Names), vec![dead_addr]) })
        .unwrap();
    assert_eq!(ask(port2, &dns::query(6, "example.org", types::A)).0, 2);
}
