//! HTTP transport: one `ureq` agent per registry host with that host's TLS settings, the
//! secure/insecure decision, and the endpoint (scheme) a host is reached at.
//!
//! TLS roots are the system bundle plus `<certs_dir>/<host[:port]>/*.crt`; a `<name>.cert` with a
//! `<name>.key` beside it is the client certificate (Docker's layout). A host is insecure when
//! it is a loopback address or `localhost`, or listed in `insecure_registries` (exactly, or an
//! IP inside a listed CIDR): then HTTPS is tried without verification, and plain HTTP when the
//! TLS handshake fails (as dockerd does). Proxies come from the environment, never for loopback.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::Agent;

use super::{RegistryConfig, RegistryError};

/// Where a registry host is reached.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `https://host[:port]` or `http://host[:port]`.
    pub base: String,
    /// The agent (connection pool, TLS settings) for it.
    pub(crate) agent: Agent,
}

/// The host Docker Hub's API is served from.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The API host of a reference domain (`docker.io` → `registry-1.docker.io`).
pub fn api_host(domain: &str) -> &str {
    match domain {
        "docker.io" | "index.docker.io" => DOCKER_HUB_API,
        d => d,
    }
}

fn host_only(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// Whether `host` (`host[:port]`) is a loopback address or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let h = host_only(host);
    h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether `host` may be reached without TLS verification (see the module doc).
pub fn is_insecure(config: &RegistryConfig, host: &str) -> bool {
    if is_loopback(host) {
        return true;
    }
    let ip = host_only(host).parse::<IpAddr>().ok();
    config.insecure_registries.iter().any(|entry| {
        let e = entry
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        e == host || e == host_only(host) || ip.is_some_and(|ip| in_cidr(ip, e))
    })
}

fn read_pem(path: &Path) -> Result<Vec<PemItem<'static>>, RegistryError> {
    let data = std::fs::read(path).map_err(|source| RegistryError::Io {
        what: format!("read {}", path.display()),
        source,
    })?;
    ureq::tls::parse_pem(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RegistryError::Invalid(format!("{}: {e}", path.display())))
}

/// The CA certificates and client certificate configured for `host` below `certs_dir`.
pub fn host_certs(
    certs_dir: &Path,
    host: &str,
) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>), RegistryError> {
    let dir = certs_dir.join(host);
    let mut cas = Vec::new();
    let mut client = None;
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok((cas, client));
    };
    let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for p in &names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                for item in read_pem(p)? {
                    if let PemItem::Certificate(c) = item {
                        cas.push(c);
                    }
                }
            }
            Some("cert") if client.is_none() => {
                let key = p.with_extension("key");
                if !key.exists() {
                    return Err(RegistryError::Invalid(format!(
                        "missing key {} for client certificate {}",
                        key.display(),
                        p.display()
                    )));
                }
                let chain: Vec<Certificate<'static>> = read_pem(p)?
                    .into_iter()
                    .filter_map(|i| match i {
                        PemItem::Certificate(c) => Some(c),
                        _ => None,
                    })
                    .collect();
                let pk: Option<PrivateKey<'static>> =
                    read_pem(&key)?.into_iter().find_map(|i| match i {
                        PemItem::PrivateKey(k) => Some(k),
                        _ => None,
                    });
                let pk = pk.ok_or_else(|| {
                    RegistryError::Invalid(format!("no private key in {}", key.display()))
                })?;
                client = Some(ClientCert::new_with_certs(&chain, pk));
            }
            _ => {}
        }
    }
    Ok((cas, client))
}

const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn system_roots() -> Vec<Certificate<'static>> {
    for b in SYSTEM_BUNDLES {
        if let Ok(items) = read_pem(Path::new(b)) {
            let certs: Vec<_> = items
                .into_iter()
                .filter_map(|i| match i {
                    PemItem::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect();
            if !certs.is_empty() {
                return certs;
            }
        }
    }
    Vec::new()
}

/// An agent for `host`: its TLS settings (verification off when `verify` is false), no proxy
/// for loopback, statuses returned as responses, auth headers never sent on redirects.
pub fn agent_for(
    config: &RegistryConfig,
    host: &str,
    verify: bool,
) -> Result<Agent, RegistryError> {
    let (cas, client) = host_certs(&config.certs_dir, host)?;
    let mut roots = system_roots();
    let root_certs = if roots.is_empty() && cas.is_empty() {
        RootCerts::WebPki
    } else {
        roots.extend(cas);
        RootCerts::new_with_certs(&roots)
    };
    let tls = TlsConfig::builder()
        .root_certs(root_certs)
        .client_cert(client)
        .disable_verification(!verify)
        .build();
    let proxy = if is_loopback(host) {
        None
    } else {
        ureq::Proxy::try_from_env()
    };
    let cfg = Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .proxy(proxy)
        .user_agent(config.user_agent.as_str())
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .max_idle_connections_per_host(8)
        .build();
    Ok(Agent::new_with_config(cfg))
}

/// Describes a transport error as Go's `net/http` would, roughly.
pub(crate) fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connect: connection refused".to_owned()
        }
        ureq::Error::ConnectionFailed => "connect: connection refused".to_owned(),
        ureq::Error::HostNotFound => "no such host".to_owned(),
        ureq::Error::Timeout(t) => format!("timeout ({t})"),
        other => other.to_string(),
    }
}

/// Whether a failed HTTPS attempt means "this is a plain HTTP server" (or no TLS at all).
pub(crate) fn is_tls_failure(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Protocol(_)
    ) || matches!(e, ureq::Error::Io(io) if matches!(io.kind(),
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::Other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_rules() {
        let mut c = RegistryConfig::default();
        assert!(is_insecure(&c, "127.0.0.1:5000"));
        assert!(is_insecure(&c, "localhost:5000"));
        assert!(is_insecure(&c, "[::1]:5000"));
        assert!(!is_insecure(&c, "registry.example.com"));
        assert!(!is_insecure(&c, "10.1.2.3:5000"));
        c.insecure_registries = vec!["10.0.0.0/8".into(), "reg.local:5000".into()];
        assert!(is_insecure(&c, "10.1.2.3:5000"));
        assert!(is_insecure(&c, "reg.local:5000"));
        assert!(!is_insecure(&c, "reg.local:5001"));
        assert!(!is_insecure(&c, "11.1.2.3"));
        assert_eq!(api_host("docker.io"), DOCKER_HUB_API);
        assert_eq!(api_host("quay.io"), "quay.io");
    }

    #[test]
    fn certs_dir_layout() {
        let t = tempfile::tempdir().unwrap();
        // no directory for the host: nothing, no error
        let (cas, client) = host_certs(t.path(), "reg.example:5000").unwrap();
        assert!(cas.is_empty() && client.is_none());
        // a client cert without its key is refused with a message naming the key
        let d = t.path().join("reg.example:5000");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("client.cert"), b"").unwrap();
        let e = host_certs(t.path(), "reg.example:5000").unwrap_err();
        assert!(e.to_string().contains("client.key"), "{e}");
    }
}
