//! Real kernel objects: namespaces, bridges, veths, macvlans and the nft table, checked with real
//! traffic between the namespaces each test made (and loopback). Needs root; skips otherwise.

mod common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use berth_net::link::{self, BridgeSpec, MacvlanSpec, VethSpec};
use berth_net::netns::Netns;
use berth_net::nft::{self, BridgeRules, PortMap, Proto, Ruleset};
use berth_net::NetError;
use common::{fetch, ip, ip_in, is_mounted, is_root, proc_net, serve, sock, World};

#[test]
fn netns_is_created_entered_and_removed_without_leftovers() {
    if !is_root() {
        return;
    }
    let mut w = World::new(1);
    let ns = w.netns("a");
    let path = ns.path().to_owned();
    assert!(is_mounted(&path), "handle is a bind mount");
    let host_ns = std::fs::read_link("/proc/thread-self/ns/net").expect("own netns");
    let inside = ns
        .run(|| std::fs::read_link("/proc/thread-self/ns/net"))
        .expect("run")
        .expect("link");
    assert_ne!(host_ns, inside, "the closure ran in the new namespace");
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").expect("own netns"),
        host_ns,
        "caller stays"
    );
    let reopened = Netns::open(&path).expect("open");
    let again = reopened
        .run(|| std::fs::read_link("/proc/thread-self/ns/net"))
        .expect("run")
        .expect("link");
    assert_eq!(again, inside, "open gives the same namespace");
    // Only lo, and it is up: a server on 127.0.0.1 inside answers.
    let dev = proc_net(&ns, "dev");
    assert_eq!(dev.lines().skip(2).count(), 1, "{dev}");
    serve(&ns, sock(Ipv4Addr::LOCALHOST, 7000), "lo", 1);
    assert_eq!(
        fetch(Some(&ns), sock(Ipv4Addr::LOCALHOST, 7000)).expect("lo works"),
        "lo"
    );

    match Netns::create(&path) {
        Err(NetError::Conflict(m)) => assert_eq!(
            m,
            format!("network namespace {} already exists", path.display())
        ),
        other => panic!("second create: {other:?}"),
    }
    assert!(
        is_mounted(&path),
        "a failed create leaves the existing handle alone"
    );

    drop((ns, reopened));
    Netns::remove(&path).expect("remove");
    assert!(!path.exists() && !is_mounted(&path));
    Netns::remove(&path).expect("removing a missing handle is fine");
    match Netns::open(&path) {
        Err(NetError::NotFound(m)) => {
            assert_eq!(m, format!("no such network namespace: {}", path.display()))
        }
        other => panic!("open after remove: {other:?}"),
    }

    // A failed create leaves nothing: a regular file in the way of the directory.
    let blocker = w.dir.join("file");
    std::fs::write(&blocker, "").expect("write");
    assert!(Netns::create(&blocker.join("ns")).is_err());
    let plain = w.dir.join("plain");
    std::fs::write(&plain, "").expect("write");
    assert!(
        Netns::open(&plain).is_err(),
        "a plain file is not a namespace"
    );
}

#[test]
fn a_socket_bound_through_run_is_reachable_inside_only() {
    if !is_root() {
        return;
    }
    let mut w = World::new(2);
    let ns = w.netns("dns");
    // The daemon's embedded DNS pattern: bind inside, serve from an ordinary thread.
    let server = ns
        .run(|| UdpSocket::bind("127.0.0.11:53"))
        .expect("run")
        .expect("bind 127.0.0.11:53");
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = server.recv_from(&mut buf).expect("recv");
        server.send_to(&buf[..n], from).expect("send");
    });
    let ask = || -> std::io::Result<Vec<u8>> {
        let c = UdpSocket::bind("127.0.0.1:0")?;
        c.set_read_timeout(Some(Duration::from_millis(500)))?;
        c.connect("127.0.0.11:53")?;
        c.send(b"query")?;
        let mut buf = [0u8; 64];
        let n = c.recv(&mut buf)?;
        Ok(buf[..n].to_vec())
    };
    assert!(ask().is_err(), "the host has no server on 127.0.0.11:53");
    assert_eq!(ns.run(ask).expect("run").expect("answer inside"), b"query");
    echo.join().expect("echo thread");
}

#[test]
fn two_namespaces_on_a_bridge_reach_each_other() {
    if !is_root() {
        return;
    }
    let mut w = World::new(3);
    let br = w.bridge(0, 0);
    // Idempotent: a second ensure keeps the bridge and adds a missing address.
    let index = link::ensure_bridge(&BridgeSpec {
        name: br.clone(),
        addrs: vec![(w.addr(0, 1).into(), 24), (w.addr(0, 254).into(), 24)],
        mtu: None,
    })
    .expect("ensure again");
    assert!(index > 0);
    let (a, b) = (w.netns("a"), w.netns("b"));
    let va = w.plug(&a, &br, 1, 0, 2);
    w.plug(&b, &br, 2, 0, 3);
    serve(&b, sock(w.addr(0, 3), 8000), "b", 2);
    assert_eq!(
        fetch(Some(&a), sock(w.addr(0, 3), 8000)).expect("a -> b"),
        "b"
    );
    assert_eq!(
        fetch(None, sock(w.addr(0, 3), 8000)).expect("host -> b over the bridge"),
        "b"
    );

    let mut links =
        link::list_links(&format!("bthT{:x}{:x}", std::process::id(), w.n)).expect("list");
    links.sort();
    assert_eq!(links.len(), 3, "bridge and two host ends: {links:?}");
    assert!(links.contains(&va));
    let subnet = (IpAddr::from(w.addr(0, 0)), 24);
    assert!(
        link::host_routes().expect("routes").contains(&subnet),
        "bridge subnet is a host route"
    );

    // A second network: eth1, no second default route.
    let br2 = w.bridge(4, 1);
    let host_end = w.link(5);
    link::attach_veth(&VethSpec {
        host_name: host_end.clone(),
        bridge: br2,
        netns: &a,
        ifname: "eth1".into(),
        mac: Some([0x02, 0x42, 0xac, 0x11, 0x00, 0x07]),
        addrs: vec![(w.addr(1, 2).into(), 24)],
        gateway: None,
        mtu: Some(1400),
    })
    .expect("second network");
    let routes = proc_net(&a, "route");
    let defaults: Vec<&str> = routes
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("00000000"))
        .collect();
    assert_eq!(defaults.len(), 1, "{routes}");
    assert!(defaults[0].starts_with("eth0"), "{routes}");
    let eth1 = ip_in(&a, &["-o", "link", "show", "eth1"]);
    assert!(
        eth1.contains("mtu 1400") && eth1.contains("link/ether 02:42:ac:11:00:07"),
        "{eth1}"
    );
    assert!(eth1.contains(",UP"), "{eth1}");
    a.run(|| UdpSocket::bind(sock(w.addr(1, 2), 0)))
        .expect("run")
        .expect("eth1 has its address");

    // disconnect: eth1 goes away inside, and its host end with it.
    assert!(link::detach_from_netns(&a, "eth1").expect("detach"));
    assert!(!link::detach_from_netns(&a, "eth1").expect("detach again"));
    assert!(!link::link_exists(&host_end).expect("exists"));
    assert!(!proc_net(&a, "dev").contains("eth1:"));

    assert!(link::delete_link(&va).expect("delete"));
    assert!(!link::delete_link(&va).expect("delete again"));
    assert!(
        fetch(Some(&a), sock(w.addr(0, 3), 8000)).is_err(),
        "unplugged"
    );
}

#[test]
fn failed_attach_leaves_no_link() {
    if !is_root() {
        return;
    }
    let mut w = World::new(4);
    let ns = w.netns("a");
    let host_name = w.link(1);
    let mut spec = VethSpec {
        host_name: host_name.clone(),
        bridge: "bthnosuchbr".into(),
        netns: &ns,
        ifname: "eth0".into(),
        mac: None,
        addrs: vec![(w.addr(0, 2).into(), 24)],
        gateway: Some(w.addr(0, 1).into()),
        mtu: None,
    };
    assert_eq!(
        link::attach_veth(&spec).expect_err("no bridge").to_string(),
        "no such bridge: bthnosuchbr"
    );
    assert!(!link::link_exists(&host_name).expect("exists"));
    // Fails inside the namespace: the gateway is not on the container's subnet.
    spec.bridge = w.bridge(0, 0);
    spec.gateway = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)));
    let err = link::attach_veth(&spec)
        .expect_err("unreachable gateway")
        .to_string();
    assert!(
        err.starts_with("add default route via 198.51.100.1 on eth0"),
        "{err}"
    );
    assert!(
        !link::link_exists(&host_name).expect("exists"),
        "host end deleted"
    );
    assert_eq!(
        proc_net(&ns, "dev").lines().skip(2).count(),
        1,
        "only lo left inside"
    );
    assert_eq!(
        link::delete_link("bad/name")
            .expect_err("bad name")
            .to_string(),
        "invalid interface name: \"bad/name\""
    );
}

#[test]
fn macvlan_on_a_parent_link_gets_its_address() {
    if !is_root() {
        return;
    }
    let mut w = World::new(5);
    // The parent: one end of a veth pair (this kernel has no dummy driver), up with its peer.
    let (parent, peer) = (w.link(0), w.link(6));
    ip(&[
        "link", "add", &parent, "type", "veth", "peer", "name", &peer,
    ]);
    ip(&["link", "set", &peer, "up"]);
    ip(&["link", "set", &parent, "up"]);
    let (a, b) = (w.netns("a"), w.netns("b"));
    for (i, ns, h) in [(1, &a, 2), (2, &b, 3)] {
        let name = w.link(i);
        link::attach_macvlan(&MacvlanSpec {
            name: name.clone(),
            parent: parent.clone(),
            netns: ns,
            ifname: "eth0".into(),
            mac: None,
            addrs: vec![(w.addr(0, h).into(), 24)],
            gateway: Some(w.addr(0, 1).into()),
            mtu: None,
        })
        .expect("macvlan");
        assert!(
            !link::link_exists(&name).expect("exists"),
            "moved off the host"
        );
        assert!(proc_net(ns, "dev").contains("eth0:"));
    }
    serve(&b, sock(w.addr(0, 3), 8000), "b", 1);
    assert_eq!(
        fetch(Some(&a), sock(w.addr(0, 3), 8000)).expect("macvlan a -> b"),
        "b"
    );
    let err = link::attach_macvlan(&MacvlanSpec {
        name: w.link(3),
        parent: "bthnoparent".into(),
        netns: &a,
        ifname: "eth1".into(),
        mac: None,
        addrs: vec![],
        gateway: None,
        mtu: None,
    })
    .expect_err("no parent");
    assert_eq!(err.to_string(), "no such link: bthnoparent");
}

fn rules_for(bridge: &str, subnet: Ipv4Addr) -> BridgeRules {
    BridgeRules {
        ifname: bridge.to_owned(),
        subnets: vec![(subnet.into(), 24)],
        masquerade: true,
        icc: true,
        internal: false,
    }
}

#[test]
fn bridges_are_isolated_by_the_table() {
    if !is_root() {
        return;
    }
    let mut w = World::new(6);
    link::enable_ip_forward().expect("ip_forward"); // left at 1, as Docker does
    let (x, y) = (w.bridge(0, 0), w.bridge(1, 1));
    let (a, b) = (w.netns("a"), w.netns("b"));
    w.plug(&a, &x, 2, 0, 2);
    w.plug(&b, &y, 3, 1, 2);
    serve(&b, sock(w.addr(1, 2), 8000), "b", 1);
    assert_eq!(
        fetch(Some(&a), sock(w.addr(1, 2), 8000)).expect("routed without the table"),
        "b"
    );

    let table = w.table();
    let rs = Ruleset {
        table: table.clone(),
        bridges: vec![rules_for(&x, w.addr(0, 0)), rules_for(&y, w.addr(1, 0))],
        ports: vec![],
    };
    rs.apply().expect("apply");
    rs.apply().expect("apply again replaces the table");
    assert!(
        fetch(Some(&a), sock(w.addr(1, 2), 8000)).is_err(),
        "isolated"
    );
    nft::delete_table(&table).expect("delete");
    assert!(!nft::table_exists(&table).expect("list"));
    nft::delete_table(&table).expect("deleting a missing table is fine");
}

#[test]
fn published_port_reaches_the_container() {
    if !is_root() {
        return;
    }
    let mut w = World::new(7);
    link::enable_ip_forward().expect("ip_forward");
    let br = w.bridge(0, 0);
    let (server, client) = (w.netns("server"), w.netns("client"));
    w.plug(&server, &br, 1, 0, 2);
    w.plug(&client, &br, 2, 0, 3);
    let port = 40000 + (std::process::id() % 20000) as u16;
    let table = w.table();
    Ruleset {
        table: table.clone(),
        bridges: vec![rules_for(&br, w.addr(0, 0))],
        ports: vec![PortMap {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: port,
            container_ip: w.addr(0, 2).into(),
            container_port: 8000,
            bridge: br.clone(),
        }],
    }
    .apply()
    .expect("apply");
    serve(&server, sock(w.addr(0, 2), 8000), "server", 4);
    let gateway = sock(w.addr(0, 1), port);
    assert_eq!(
        fetch(None, sock(Ipv4Addr::LOCALHOST, port)).expect("host 127.0.0.1"),
        "server"
    );
    assert_eq!(
        fetch(None, gateway).expect("host via the gateway address"),
        "server"
    );
    assert_eq!(
        fetch(Some(&client), gateway).expect("another netns via the gateway address"),
        "server"
    );
    assert_eq!(
        fetch(Some(&server), gateway).expect("hairpin: the container to its own port"),
        "server"
    );
    // The ports that are not published stay closed from the other namespace through the host.
    assert!(fetch(Some(&client), sock(w.addr(0, 1), port.wrapping_add(1))).is_err());
    nft::delete_table(&table).expect("delete");
    assert!(
        fetch(None, sock(Ipv4Addr::LOCALHOST, port)).is_err(),
        "gone with the table"
    );
}

#[test]
fn icc_false_and_internal_networks() {
    if !is_root() {
        return;
    }
    let mut w = World::new(8);
    link::enable_ip_forward().expect("ip_forward");
    let (x, y) = (w.bridge(0, 0), w.bridge(1, 1));
    let (a, b, c) = (w.netns("a"), w.netns("b"), w.netns("c"));
    w.plug(&a, &x, 2, 0, 2);
    w.plug(&b, &x, 3, 0, 3);
    w.plug(&c, &y, 4, 1, 2);
    serve(&b, sock(w.addr(0, 3), 8000), "b", 2);
    serve(&a, sock(w.addr(0, 2), 8000), "a", 1);
    assert_eq!(
        fetch(Some(&a), sock(w.addr(0, 3), 8000)).expect("same bridge"),
        "b"
    );
    assert_eq!(
        fetch(Some(&c), sock(w.addr(0, 3), 8000)).expect("routed before the table"),
        "b"
    );

    let table = w.table();
    let mut x_rules = rules_for(&x, w.addr(0, 0));
    x_rules.icc = false;
    x_rules.internal = true;
    let mut y_rules = rules_for(&y, w.addr(1, 0));
    y_rules.masquerade = false;
    // y is not a Berth bridge in this ruleset: x's internal rules must still keep c out.
    Ruleset {
        table,
        bridges: vec![x_rules],
        ports: vec![],
    }
    .apply()
    .expect("apply");
    if nft::br_netfilter_active() {
        assert!(
            fetch(Some(&a), sock(w.addr(0, 3), 8000)).is_err(),
            "icc=false"
        );
    }
    assert!(
        fetch(Some(&c), sock(w.addr(0, 3), 8000)).is_err(),
        "nothing gets into an internal network"
    );
    serve(&c, sock(w.addr(1, 2), 8000), "c", 1);
    assert!(
        fetch(Some(&b), sock(w.addr(1, 2), 8000)).is_err(),
        "nothing leaves an internal network"
    );
    // The host itself still reaches the containers (not forwarded traffic).
    assert_eq!(
        fetch(None, sock(w.addr(0, 2), 8000)).expect("host -> a"),
        "a"
    );
    drop(y_rules);
}

#[test]
fn ipv6_addresses_work_at_once() {
    if !is_root() {
        return;
    }
    let mut w = World::new(9);
    let sub = |h: u16| -> IpAddr {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0xfd00,
            0xb7,
            std::process::id() as u16,
            0,
            0,
            0,
            0,
            h,
        ))
    };
    let br = w.link(0);
    link::ensure_bridge(&BridgeSpec {
        name: br.clone(),
        addrs: vec![(sub(1), 64)],
        mtu: None,
    })
    .expect("bridge");
    let (a, b) = (w.netns("a"), w.netns("b"));
    for (i, ns, h) in [(1, &a, 2), (2, &b, 3)] {
        let host_name = w.link(i);
        link::attach_veth(&VethSpec {
            host_name,
            bridge: br.clone(),
            netns: ns,
            ifname: "eth0".into(),
            mac: None,
            addrs: vec![(sub(h), 64)],
            gateway: Some(sub(1)),
            mtu: None,
        })
        .expect("attach v6");
    }
    serve(&b, sock(sub(3), 8000), "b6", 1);
    // No waiting for duplicate address detection: the addresses are usable right away.
    assert_eq!(
        fetch(Some(&a), sock(sub(3), 8000)).expect("v6 a -> b"),
        "b6"
    );
    assert!(
        proc_net(&a, "ipv6_route")
            .lines()
            .any(|l| l.starts_with(&"0".repeat(32))),
        "default route"
    );
}
