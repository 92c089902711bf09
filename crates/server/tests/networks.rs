//! Black-box: networks with the stock `docker` CLI against berthd. Traffic only between the
//! test's own containers and loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Berthd;

fn ok(b: &Berthd, args: &[&str]) -> String {
    let (code, out, err) = b.d(args);
    assert_eq!(code, 0, "docker {args:?}: {err}\n{}", b.log());
    out
}

/// `wget` from a throwaway container; the body, or None when it could not connect.
fn fetch(b: &Berthd, net_args: &[&str], url: &str) -> Option<String> {
    // --init: busybox `timeout` execs the command in its own place, and a PID 1 ignores the
    // SIGTERM meant to end it.
    let mut a = vec!["run", "--rm", "--init"];
    a.extend_from_slice(net_args);
    a.extend(["busybox", "timeout", "3", "wget", "-q", "-O-", url]);
    let (code, out, _) = b.d(&a);
    (code == 0).then_some(out)
}

fn ip_of(b: &Berthd, c: &str, net: &str) -> String {
    ok(
        b,
        &[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
            c,
        ],
    )
    .trim()
    .to_string()
}

#[test]
fn user_networks_resolve_names_and_isolate_each_other() {
    need_root!();
    let b = Berthd::start();
    ok(&b, &["network", "create", "front"]);
    ok(
        &b,
        &[
            "network",
            "create",
            "--subnet",
            "10.211.7.0/24",
            "--label",
            "tier=back",
            "back",
        ],
    );
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "front",
            "--network-alias",
            "www",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    // By name, alias and short ID, on the same network.
    let id = ok(&b, &["inspect", "-f", "{{.Id}}", "web"]);
    for host in ["web", "www", &id.trim()[..12], "web.front"] {
        let body = fetch(
            &b,
            &["--network", "front"],
            &format!("http://{host}/hostname"),
        );
        assert_eq!(
            body.as_deref().map(str::trim),
            Some(&id.trim()[..12]),
            "{host}"
        );
    }
    // Not from another network: neither the name nor the address.
    let ip = ip_of(&b, "web", "front");
    assert!(fetch(&b, &["--network", "back"], "http://web/hostname").is_none());
    assert!(fetch(&b, &["--network", "back"], &format!("http://{ip}/hostname")).is_none());
    // The static address and the subnet asked for.
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "back",
            "--ip",
            "10.211.7.50",
            "busybox",
            "sleep",
            "60",
        ],
    );
    assert_eq!(ip_of(&b, "db", "back"), "10.211.7.50");
    // Connect the web container to back while it runs: now reachable from there.
    ok(&b, &["network", "connect", "back", "web"]);
    let body = fetch(&b, &["--network", "back"], "http://web/hostname");
    assert_eq!(body.as_deref().map(str::trim), Some(&id.trim()[..12]));
    let ifs = ok(&b, &["exec", "web", "ls", "/sys/class/net"]);
    assert_eq!(
        ifs.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "eth1", "lo"]
    );
    ok(&b, &["network", "disconnect", "back", "web"]);
    assert!(fetch(&b, &["--network", "back"], "http://web/hostname").is_none());
    // Inspect lists running containers with addresses; ls filters.
    let members = ok(
        &b,
        &[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
            "back",
        ],
    );
    assert_eq!(members.trim(), "db 10.211.7.50/24");
    assert_eq!(
        ok(
            &b,
            &[
                "network",
                "ls",
                "--filter",
                "label=tier=back",
                "--format",
                "{{.Name}}"
            ]
        ),
        "back\n"
    );
    // In use, or predefined: 403 with Docker's texts.
    let (code, _, err) = b.d(&["network", "rm", "back"]);
    assert_ne!(code, 0);
    assert!(err.contains("has active endpoints"), "{err}");
    let (code, _, err) = b.d(&["network", "rm", "bridge"]);
    assert_ne!(code, 0);
    assert!(err.contains("pre-defined network"), "{err}");
    let (code, _, err) = b.d(&["network", "create", "front"]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    ok(&b, &["rm", "-f", "web", "db"]);
    ok(&b, &["network", "rm", "front", "back"]);
}

#[test]
fn none_host_and_container_modes() {
    need_root!();
    let b = Berthd::start();
    assert_eq!(
        ok(
            &b,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "ls",
                "/sys/class/net"
            ]
        )
        .split_whitespace()
        .collect::<Vec<_>>(),
        ["lo"]
    );
    // host: the host's interfaces (lo at least, and the host's hostname).
    let host_ifs = ok(
        &b,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "ls",
            "/sys/class/net",
        ],
    );
    assert!(host_ifs.contains(&b.bridge()), "{host_ifs}");
    // container:<name> shares the address and sees the other's listener on localhost.
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "srv",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "127.0.0.1:81",
            "-h",
            "/etc",
        ],
    );
    let a = ok(
        &b,
        &["exec", "srv", "ip", "-4", "-o", "addr", "show", "eth0"],
    );
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--network",
            "container:srv",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; wget -q -O- http://127.0.0.1:81/hostname",
        ],
    );
    let mut lines = out.lines();
    let addr = |l: &str| l.split_whitespace().nth(3).unwrap_or_default().to_string();
    assert_eq!(addr(lines.next().unwrap()), addr(a.trim()));
    assert!(lines.next().is_some());
    ok(&b, &["rm", "-f", "srv"]);
    // The default bridge: an address, a default route, the files.
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--add-host",
            "extra.example:10.9.9.9",
            "busybox",
            "sh",
            "-c",
            "ip route | grep default; cat /etc/hosts; hostname",
        ],
    );
    let gw = b.bip().split('/').next().unwrap().to_string();
    assert!(out.contains(&format!("default via {gw}")), "{out}");
    assert!(out.contains("10.9.9.9\textra.example"), "{out}");
}

#[test]
fn published_ports_answer_on_loopback_and_the_gateway() {
    need_root!();
    let b = Berthd::start();
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "pub1",
            "-p",
            "127.0.0.1::80",
            "-p",
            "80",
            "--expose",
            "81",
            "-P",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    let ports = ok(&b, &["port", "pub1"]);
    let hostport = |filter: &str| -> u16 {
        ports
            .lines()
            .find(|l| l.contains(filter))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{filter} in {ports}"))
    };
    let lo = hostport("127.0.0.1");
    let any = hostport("0.0.0.0");
    assert!(
        ports.contains("81/tcp"),
        "-P publishes exposed ports: {ports}"
    );
    let id = ok(&b, &["inspect", "-f", "{{.Id}}", "pub1"]);
    let gw = b.bip().split('/').next().unwrap().to_string();
    let get = |url: String| -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let o = Command::new("wget")
                .args(["-q", "-T", "3", "-O-", &url])
                .output();
            let o = o.ok().filter(|o| o.status.success()).or_else(|| {
                Command::new("busybox")
                    .args(["wget", "-q", "-O-", &url])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
            });
            if let Some(o) = o {
                return String::from_utf8_lossy(&o.stdout).into_owned();
            }
            assert!(Instant::now() < deadline, "{url} did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(
        get(format!("http://127.0.0.1:{lo}/hostname")).trim(),
        &id.trim()[..12]
    );
    assert_eq!(
        get(format!("http://{gw}:{any}/hostname")).trim(),
        &id.trim()[..12]
    );
    // From another container through the host's address.
    let body = fetch(&b, &[], &format!("http://{gw}:{any}/hostname"));
    assert_eq!(body.as_deref().map(str::trim), Some(&id.trim()[..12]));
    // A port in use is a clear error at start, and nothing stays published for that one.
    let (code, _, err) = b.d(&[
        "run",
        "-d",
        "--name",
        "pub2",
        "-p",
        &format!("127.0.0.1:{lo}:80"),
        "busybox",
        "sleep",
        "60",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("port is already allocated"), "{err}");
    let _ = b.d(&["rm", "-f", "pub1", "pub2"]);
    // Gone with the container.
    let o = Command::new("busybox")
        .args([
            "wget",
            "-q",
            "-O-",
            &format!("http://127.0.0.1:{lo}/hostname"),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn macvlan_on_a_parent_link_of_the_test() {
    need_root!();
    let b = Berthd::start();
    // No dummy driver here: one end of a veth pair of the test's own is the parent.
    let parent = format!("bthmv{:x}", std::process::id() % 0xfffff);
    let peer = format!("{parent}p");
    struct Link(String);
    impl Drop for Link {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    assert!(Command::new("ip")
        .args(["link", "add", &parent, "type", "veth", "peer", "name", &peer])
        .status()
        .unwrap()
        .success());
    let _guard = Link(parent.clone());
    for l in [&parent, &peer] {
        Command::new("ip")
            .args(["link", "set", l, "up"])
            .status()
            .unwrap();
    }
    ok(
        &b,
        &[
            "network",
            "create",
            "-d",
            "macvlan",
            "--subnet",
            "10.212.5.0/24",
            "--gateway",
            "10.212.5.1",
            "-o",
            &format!("parent={parent}"),
            "mv",
        ],
    );
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "m1",
            "--network",
            "mv",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    assert_eq!(ip_of(&b, "m1", "mv"), "10.212.5.2");
    let out = ok(
        &b,
        &[
            "run",
            "--rm",
            "--network",
            "mv",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0; wget -q -O- http://10.212.5.2/hostname",
        ],
    );
    assert!(out.contains("10.212.5.3/24"), "{out}");
    ok(&b, &["rm", "-f", "m1"]);
    ok(&b, &["network", "rm", "mv"]);
}

#[test]
fn networks_survive_a_daemon_crash() {
    need_root!();
    let mut b = Berthd::start();
    ok(&b, &["network", "create", "keep"]);
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "k1",
            "--network",
            "keep",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    ok(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "k2",
            "--network",
            "keep",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let port = ok(&b, &["port", "k1", "80"]);
    b.crash();
    b.spawn();
    // DNS served again, the port held again, the address kept.
    let out = ok(
        &b,
        &[
            "exec",
            "k2",
            "timeout",
            "3",
            "wget",
            "-q",
            "-O-",
            "http://k1/hostname",
        ],
    );
    assert!(!out.trim().is_empty());
    assert_eq!(ok(&b, &["port", "k1", "80"]), port);
    let (code, _, err) = b.d(&["run", "--rm", "-p", port.trim(), "busybox", "true"]);
    assert_ne!(code, 0, "the port is still held");
    assert!(
        err.contains("already allocated") || err.contains("invalid"),
        "{err}"
    );
    ok(&b, &["rm", "-f", "k1", "k2"]);
    ok(&b, &["network", "rm", "keep"]);
    // Nothing of theirs is left in the run root.
    let left: Vec<_> = std::fs::read_dir(b.dir.join("run/netns"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn legacy_links_give_hosts_entries_and_variables() {
    need_root!();
    let b = Berthd::start();
    ok(
        &b,
        &[
            "run", "-d", "--name", "lnk", "-e", "FOO=bar", "--expose", "80", "busybox", "httpd",
            "-f", "-p", "80", "-h", "/etc",
        ],
    );
    let ip = ip_of(&b, "lnk", "bridge");
    let out = ok(&b, &["run", "--rm", "--link", "lnk:db", "busybox", "sh", "-c", "echo $DB_NAME $DB_PORT $DB_PORT_80_TCP_ADDR $DB_ENV_FOO; grep -w db /etc/hosts; wget -q -O- http://db/hostname"]);
    let mut l = out.lines();
    let first = l.next().unwrap_or_default().to_string();
    assert!(
        first.ends_with(&format!("/db tcp://{ip}:80 {ip} bar")),
        "{out}"
    );
    assert!(l.next().unwrap_or_default().starts_with(&ip), "{out}");
    assert!(l.next().is_some(), "reached through the link's name: {out}");
    ok(&b, &["rm", "-f", "lnk"]);
}

/// berthd killed with -9 at random points while containers start: once it is back and the
/// containers are gone, nothing of their networks is left — no namespace handle, no veth on the
/// bridge, no address in the IPAM store, no published-port rule.
#[test]
fn a_daemon_killed_during_starts_leaves_no_network_behind() {
    need_root!();
    let mut b = Berthd::start();
    ok(&b, &["network", "create", "kn"]);
    for i in 0..6u64 {
        let sock = b.sock().display().to_string();
        let cfg = b.dir.join("docker-config");
        let mut runs: Vec<std::process::Child> = (0..3)
            .map(|j| {
                Command::new("docker")
                    .env("DOCKER_HOST", format!("unix://{sock}"))
                    .env("DOCKER_CONFIG", &cfg)
                    .args([
                        "run",
                        "-d",
                        "--network",
                        if j % 2 == 0 { "kn" } else { "bridge" },
                        "-p",
                        "127.0.0.1::80",
                        "busybox",
                        "sleep",
                        "300",
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(40 + 37 * i));
        b.crash();
        for r in runs.iter_mut() {
            let _ = r.wait();
        }
        b.spawn();
    }
    let (_, ids, _) = b.d(&["ps", "-aq"]);
    for id in ids.split_whitespace() {
        ok(&b, &["rm", "-f", id]);
    }
    ok(&b, &["network", "rm", "kn"]);
    let handles: Vec<_> = std::fs::read_dir(b.dir.join("run/netns"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(handles.is_empty(), "namespace handles left: {handles:?}");
    let ports = Command::new("ip")
        .args(["-o", "link", "show", "master", &b.bridge()])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ports.stdout),
        "",
        "veths left on the bridge"
    );
    let ipam = std::fs::read_to_string(b.dir.join("data/networks/ipam.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ipam).unwrap();
    let addrs: usize = v["networks"]
        .as_object()
        .map(|n| {
            n.values()
                .map(|x| x["addrs"].as_object().map(|a| a.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(addrs, 0, "addresses still allocated: {ipam}");
    let table = Command::new("nft")
        .args(["list", "table", "inet", &format!("berth-{}", b.bridge())])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&table.stdout);
    assert!(
        !rules.contains("dnat ip to"),
        "published-port rules left:\n{rules}"
    );
}
