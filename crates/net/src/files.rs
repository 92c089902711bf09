//! The contents of a container's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, in
//! Docker's layout, as pure functions.
use std::net::{IpAddr, SocketAddr};

/// What `/etc/hosts` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsSpec {
    /// The container's own addresses (one line each with its names); empty on `none`.
    pub ips: Vec<IpAddr>,
    pub hostname: String,
    pub domainname: Option<String>,
    /// Extra names for the container's own lines (network aliases are DNS-only in Docker, so
    /// callers usually leave this empty).
    pub aliases: Vec<String>,
    /// `--add-host name:ip`, in order.
    pub extra: Vec<(String, IpAddr)>,
    /// Legacy links: (address, names).
    pub links: Vec<(IpAddr, Vec<String>)>,
    /// Write the IPv6 localhost lines.
    pub ipv6: bool,
}

/// `/etc/hosts` as Docker writes it.
pub fn hosts(s: &HostsSpec) -> String {
    let mut out = String::from("127.0.0.1\tlocalhost\n");
    if s.ipv6 {
        out.push_str(
            "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
    }
    for (name, ip) in &s.extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    for (ip, names) in &s.links {
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    let mut names = Vec::new();
    match &s.domainname {
        Some(d) if !d.is_empty() => {
            names.push(format!("{}.{d}", s.hostname));
            names.push(s.hostname.clone());
        }
        _ => names.push(s.hostname.clone()),
    }
    for a in &s.aliases {
        if !names.contains(a) {
            names.push(a.clone());
        }
    }
    for ip in &s.ips {
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    out
}

/// `/etc/hostname`.
pub fn hostname(name: &str) -> String {
    format!("{name}\n")
}

/// What the container's resolver should use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvSpec {
    /// Point the container at the embedded DNS (127.0.0.11); the servers go upstream.
    pub embedded_dns: bool,
    /// `--dns`: replaces the host's servers.
    pub dns: Vec<IpAddr>,
    /// `--dns-search`: replaces the host's search domains.
    pub search: Vec<String>,
    /// `--dns-option`: replaces the host's options.
    pub options: Vec<String>,
    /// Remove loopback servers (they mean nothing in another namespace); Google's are used
    /// when none is left.
    pub drop_loopback: bool,
}

/// A generated resolv.conf and the servers the embedded DNS forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub content: String,
    pub upstreams: Vec<SocketAddr>,
}

/// The embedded DNS address inside every container namespace.
pub const EMBEDDED_DNS: &str = "127.0.0.11";

/// The host's `nameserver`, `search`/`domain` and `options` lines.
fn parse(host: &str) -> (Vec<IpAddr>, Vec<String>, Vec<String>) {
    let (mut ns, mut search, mut opts) = (Vec::new(), Vec::new(), Vec::new());
    for l in host.lines() {
        let l = l.split(['#', ';']).next().unwrap_or("").trim();
        let mut w = l.split_whitespace();
        match w.next() {
            Some("nameserver") => {
                if let Some(ip) = w.next().and_then(|a| a.split('%').next()?.parse().ok()) {
                    ns.push(ip);
                }
            }
            Some("search") | Some("domain") => search = w.map(String::from).collect(),
            Some("options") => opts.extend(w.map(String::from)),
            _ => {}
        }
    }
    (ns, search, opts)
}

/// Docker's resolv.conf rules.
pub fn resolv_conf(host: &str, s: &ResolvSpec) -> ResolvConf {
    let (host_ns, host_search, host_opts) = parse(host);
    let servers: Vec<IpAddr> = if s.dns.is_empty() {
        host_ns
    } else {
        s.dns.clone()
    };
    let search = if s.search.is_empty() {
        host_search
    } else {
        s.search.clone()
    };
    let mut options = if s.options.is_empty() {
        host_opts
    } else {
        s.options.clone()
    };
    let mut out = String::new();
    let mut upstreams = Vec::new();
    if s.embedded_dns {
        upstreams = servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect();
        out.push_str(&format!("nameserver {EMBEDDED_DNS}\n"));
        if !search.is_empty() {
            out.push_str(&format!("search {}\n", search.join(" ")));
        }
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
        out.push_str(&format!("options {}\n", options.join(" ")));
        let ext: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
        out.push_str(&format!("\n# ExtServers: [{}]\n", ext.join(" ")));
    } else {
        // Loopback servers of the host mean nothing in another namespace; explicit `--dns`
        // servers are kept as given (Docker's rule).
        let from_host = s.dns.is_empty();
        let mut servers: Vec<IpAddr> = servers
            .into_iter()
            .filter(|ip| !(from_host && s.drop_loopback && ip.is_loopback()))
            .collect();
        if servers.is_empty() {
            servers = vec![
                "8.8.8.8".parse().expect("ip"),
                "8.8.4.4".parse().expect("ip"),
            ];
        }
        for ip in servers {
            out.push_str(&format!("nameserver {ip}\n"));
        }
        if !search.is_empty() {
            out.push_str(&format!("search {}\n", search.join(" ")));
        }
        if !options.is_empty() {
            out.push_str(&format!("options {}\n", options.join(" ")));
        }
    }
    ResolvConf {
        content: out,
        upstreams,
    }
}

/// The upstream servers recorded in a generated resolv.conf (`# ExtServers: [...]`), for a
/// daemon that restarts and serves DNS again.
pub fn ext_servers(resolv: &str) -> Vec<SocketAddr> {
    resolv
        .lines()
        .find_map(|l| l.strip_prefix("# ExtServers: ["))
        .map(|rest| {
            rest.trim_end_matches(']')
                .split_whitespace()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org corp\noptions edns0 trust-ad\n";

    #[test]
    fn hosts_layout() {
        let h = hosts(&HostsSpec {
            ips: vec!["172.17.0.2".parse().expect("ip")],
            hostname: "abc123".into(),
            extra: vec![("db".into(), "10.0.0.5".parse().expect("ip"))],
            ipv6: true,
            ..HostsSpec::default()
        });
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.contains("10.0.0.5\tdb\n"));
        assert!(h.ends_with("172.17.0.2\tabc123\n"));
        let h = hosts(&HostsSpec {
            hostname: "x".into(),
            domainname: Some("d.org".into()),
            ips: vec!["10.0.0.2".parse().expect("ip")],
            ..HostsSpec::default()
        });
        assert!(h.ends_with("10.0.0.2\tx.d.org x\n"));
    }

    #[test]
    fn resolv_follows_docker() {
        // Default bridge: host servers minus loopback.
        let r = resolv_conf(
            HOST,
            &ResolvSpec {
                drop_loopback: true,
                ..ResolvSpec::default()
            },
        );
        assert_eq!(
            r.content,
            "nameserver 192.0.2.53\nsearch example.org corp\noptions edns0 trust-ad\n"
        );
        assert!(r.upstreams.is_empty());
        // Only loopback on the host: Google's.
        let r = resolv_conf(
            "nameserver 127.0.0.1\n",
            &ResolvSpec {
                drop_loopback: true,
                ..ResolvSpec::default()
            },
        );
        assert_eq!(r.content, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        // User networks: the embedded DNS, the host's servers upstream.
        let r = resolv_conf(
            HOST,
            &ResolvSpec {
                embedded_dns: true,
                ..ResolvSpec::default()
            },
        );
        assert!(
            r.content.starts_with(
                "nameserver 127.0.0.11\nsearch example.org corp\noptions edns0 trust-ad ndots:0\n"
            ),
            "{}",
            r.content
        );
        assert_eq!(r.upstreams.len(), 2);
        assert_eq!(ext_servers(&r.content), r.upstreams);
        // --dns / --dns-search / --dns-option replace.
        let r = resolv_conf(
            HOST,
            &ResolvSpec {
                dns: vec!["1.1.1.1".parse().expect("ip")],
                search: vec!["a.b".into()],
                options: vec!["ndots:2".into()],
                drop_loopback: true,
                ..ResolvSpec::default()
            },
        );
        assert_eq!(
            r.content,
            "nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n"
        );
    }
}
