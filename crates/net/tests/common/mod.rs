//! A private little world per test: names, subnets and a temp dir unique to the test process,
//! and a guard that removes every link, namespace handle and nft table it made, also when the
//! test fails.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::Duration;

use berth_net::link::{self, BridgeSpec, VethSpec};
use berth_net::netns::Netns;

/// Whether the test can run; prints why not.
pub fn is_root() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root (network namespaces, links, nftables)");
    }
    root
}

/// Everything one test made.
pub struct World {
    /// Test number: keeps names and subnets apart from the other tests running at the same time.
    pub n: u32,
    pub dir: PathBuf,
    netns: Vec<PathBuf>,
    links: Vec<String>,
    tables: Vec<String>,
}

impl World {
    pub fn new(n: u32) -> World {
        let dir = PathBuf::from(format!("/tmp/berth-test-net-{}-{n}", std::process::id()));
        World {
            n,
            dir,
            netns: Vec::new(),
            links: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// A host link name `bthT<pid-hex><n><i>`, deleted by the guard.
    pub fn link(&mut self, i: u32) -> String {
        let name = format!("bthT{:x}{:x}{:x}", std::process::id(), self.n, i);
        assert!(name.len() <= 15, "{name}");
        self.links.push(name.clone());
        name
    }

    /// A new namespace handle under the world's dir, lo up.
    pub fn netns(&mut self, name: &str) -> Netns {
        let path = self.dir.join("netns").join(name);
        self.netns.push(path.clone());
        let ns = Netns::create(&path).expect("create netns");
        ns.set_loopback_up().expect("lo up");
        ns
    }

    /// The nft table of this test process, deleted by the guard.
    pub fn table(&mut self) -> String {
        let name = format!("berth-t{}", std::process::id());
        self.tables.push(name.clone());
        name
    }

    /// Subnet `k` of this test: 10.(200+4n+k).(pid%256).0/24; host `h` in it.
    pub fn addr(&self, k: u32, h: u8) -> Ipv4Addr {
        let second = u8::try_from(200 + 4 * self.n + k).expect("subnet octet");
        Ipv4Addr::new(10, second, (std::process::id() % 256) as u8, h)
    }

    /// A bridge for subnet `k` with gateway .1/24, up, with route_localnet.
    pub fn bridge(&mut self, i: u32, k: u32) -> String {
        let name = self.link(i);
        link::ensure_bridge(&BridgeSpec {
            name: name.clone(),
            addrs: vec![(self.addr(k, 1).into(), 24)],
            mtu: None,
        })
        .expect("bridge");
        link::bridge_sysctls(&name).expect("route_localnet");
        name
    }

    /// Plugs `ns` into `bridge` as eth0 with address .h of subnet k, default route via .1.
    pub fn plug(&mut self, ns: &Netns, bridge: &str, i: u32, k: u32, h: u8) -> String {
        let host_name = self.link(i);
        link::attach_veth(&VethSpec {
            host_name: host_name.clone(),
            bridge: bridge.to_owned(),
            netns: ns,
            ifname: "eth0".into(),
            mac: None,
            addrs: vec![(self.addr(k, h).into(), 24)],
            gateway: Some(self.addr(k, 1).into()),
            mtu: None,
        })
        .expect("attach veth");
        host_name
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for t in &self.tables {
            let _ = berth_net::nft::delete_table(t);
        }
        for l in &self.links {
            let _ = link::delete_link(l);
        }
        for p in &self.netns {
            let _ = Netns::remove(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP server in `ns` on `addr` that answers each of `count` connections with `tag`.
pub fn serve(ns: &Netns, addr: SocketAddr, tag: &'static str, count: usize) -> JoinHandle<()> {
    let listener = ns
        .run(|| TcpListener::bind(addr))
        .expect("enter netns")
        .expect("bind");
    std::thread::spawn(move || {
        for conn in listener.incoming().take(count) {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.write_all(tag.as_bytes());
        }
    })
}

/// Connects to `addr` (from `ns`, or from the host) and returns what the server said.
pub fn fetch(ns: Option<&Netns>, addr: SocketAddr) -> std::io::Result<String> {
    let connect = || TcpStream::connect_timeout(&addr, Duration::from_millis(1500));
    let mut stream = match ns {
        Some(ns) => ns.run(connect).expect("enter netns")?,
        None => connect()?,
    };
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut s = String::new();
    stream.read_to_string(&mut s)?;
    Ok(s)
}

pub fn sock(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// Whether `path` is a mount point in this process's mount namespace.
pub fn is_mounted(path: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let p = path.to_str().expect("utf-8 path");
    info.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

/// Runs `ip` with `args`, panicking on failure (test setup only).
pub fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?}");
}

/// Lines of a /proc/net file as seen from inside `ns`.
pub fn proc_net(ns: &Netns, file: &str) -> String {
    ns.run(|| std::fs::read_to_string(format!("/proc/thread-self/net/{file}")))
        .expect("enter")
        .expect("read")
}

/// Output of `ip args` run inside `ns` (through nsenter on its handle).
pub fn ip_in(ns: &Netns, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.path().display()))
        .arg("ip")
        .args(args)
        .output()
        .expect("run nsenter ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
