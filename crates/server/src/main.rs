//! berthd: the Docker Engine API on a Unix socket, over the daemon's services.
//!
//! Modules: `http` (bodies, query, the error → status map, request readers), `router`
//! (version negotiation and dispatch), `routes::{system, containers, images}` (handlers).
#![forbid(unsafe_code)]

mod detach;
mod http;
mod router;
mod routes;
mod tls;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use berth_daemon::{Daemon, DaemonConfig};
use clap::Parser;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// The engine version berthd reports.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The source revision, when the build knows it.
pub const GIT_COMMIT: &str = match option_env!("BERTH_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// dockerd's flag names.
#[derive(Debug, Parser)]
#[command(
    name = "berthd",
    version,
    about = "Berth: a container engine serving the Docker Engine API"
)]
struct Cli {
    /// Where to listen (unix:///path). Repeatable.
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Images, containers, volumes.
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Runtime state (shims, sockets).
    #[arg(long)]
    exec_root: Option<PathBuf>,
    /// Group owning the API socket.
    #[arg(short = 'G', long)]
    group: Option<String>,
    #[arg(short = 'p', long)]
    pidfile: Option<PathBuf>,
    /// daemon.json with dockerd's keys.
    #[arg(long)]
    config_file: Option<PathBuf>,
    #[arg(short = 'l', long)]
    log_level: Option<String>,
    #[arg(long)]
    cgroup_parent: Option<String>,
    #[arg(long)]
    no_new_privileges: bool,
    /// Run an init (berth-init, Docker's docker-init) as PID 1 in every container by default.
    #[arg(long)]
    init: bool,
    /// Default ulimits for containers: name=soft[:hard] (repeatable).
    #[arg(long)]
    default_ulimit: Vec<String>,
    /// Containers' root is an unprivileged host range: default (user berth-remap), user or
    /// user:group with ranges in /etc/subuid and /etc/subgid.
    #[arg(long)]
    userns_remap: Option<String>,
    /// The default bridge's interface (berth0). Another name gives this berthd its own
    /// nftables table (inet berth-<bridge>), so several can run side by side.
    #[arg(short = 'b', long)]
    bridge: Option<String>,
    /// The default bridge's address and prefix (172.17.0.1/16).
    #[arg(long)]
    bip: Option<String>,
    /// Inter-container communication on the default bridge.
    #[arg(long, action = clap::ArgAction::Set)]
    icc: Option<bool>,
    /// Masquerade traffic leaving the default bridge.
    #[arg(long, action = clap::ArgAction::Set)]
    ip_masq: Option<bool>,
    /// Manage firewall rules (nftables table inet berth) and ip_forward.
    #[arg(long, action = clap::ArgAction::Set)]
    iptables: Option<bool>,
    /// MTU of the default bridge's interfaces.
    #[arg(long)]
    mtu: Option<u32>,
    /// DNS servers for containers.
    #[arg(long)]
    dns: Vec<String>,
    /// DNS search domains for containers.
    #[arg(long)]
    dns_search: Vec<String>,
    /// DNS options for containers.
    #[arg(long)]
    dns_opt: Vec<String>,
    /// Address pools for new networks: base=CIDR,size=N (repeatable).
    #[arg(long)]
    default_address_pool: Vec<String>,
    /// Registries reached without TLS verification or over plain HTTP (repeatable; loopback
    /// always is).
    #[arg(long)]
    insecure_registry: Vec<String>,
    /// Mirrors of Docker Hub, tried first (repeatable).
    #[arg(long)]
    registry_mirror: Vec<String>,
    /// Layers pulled at once (3).
    #[arg(long)]
    max_concurrent_downloads: Option<usize>,
    /// Layers pushed at once (5).
    #[arg(long)]
    max_concurrent_uploads: Option<usize>,
    /// Bytes, or with k/m/g.
    #[arg(long)]
    default_shm_size: Option<String>,
    /// Containers keep running while berthd is down (always on).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    live_restore: bool,
    /// The berth-shim binary (default: next to berthd).
    #[arg(long)]
    shim: Option<PathBuf>,
    /// Require and verify client certificates on tcp:// listeners.
    #[arg(long)]
    tlsverify: bool,
    /// CA that signs client certificates.
    #[arg(long)]
    tlscacert: Option<PathBuf>,
    /// The server's certificate.
    #[arg(long)]
    tlscert: Option<PathBuf>,
    /// The server's key.
    #[arg(long)]
    tlskey: Option<PathBuf>,
    /// Accepted for dockerd compatibility; berthd always verifies clients on TCP (--tlsverify).
    #[arg(long)]
    tls: bool,
    /// Another OCI runtime, name=path (repeatable); containers pick it with --runtime. `runc`
    /// is registered when /usr/sbin/runc exists.
    #[arg(long)]
    add_runtime: Vec<String>,
    /// The runtime of containers that name none (berth: the runtime linked into berth-shim).
    #[arg(long)]
    default_runtime: Option<String>,
}

/// daemon.json: dockerd's keys that berthd knows; anything else is an error naming the key.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    group: Option<String>,
    pidfile: Option<PathBuf>,
    log_level: Option<String>,
    cgroup_parent: Option<String>,
    no_new_privileges: Option<bool>,
    init: Option<bool>,
    default_ulimits: Option<std::collections::BTreeMap<String, FileUlimit>>,
    userns_remap: Option<String>,
    bridge: Option<String>,
    bip: Option<String>,
    icc: Option<bool>,
    ip_masq: Option<bool>,
    iptables: Option<bool>,
    mtu: Option<u32>,
    dns: Option<Vec<String>>,
    dns_search: Option<Vec<String>>,
    dns_opts: Option<Vec<String>>,
    default_address_pools: Option<Vec<AddressPool>>,
    insecure_registries: Option<Vec<String>>,
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
    registry_mirrors: Option<Vec<String>>,
    max_concurrent_downloads: Option<usize>,
    max_concurrent_uploads: Option<usize>,
    default_shm_size: Option<String>,
    live_restore: Option<bool>,
    runtimes: Option<std::collections::BTreeMap<String, FileRuntime>>,
    default_runtime: Option<String>,
}

/// One `runtimes` entry of daemon.json (`{"path": "/usr/bin/crun", "runtimeArgs": [...]}`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRuntime {
    path: PathBuf,
    #[serde(default, rename = "runtimeArgs")]
    runtime_args: Vec<String>,
}

/// The runtimes of `--add-runtime` or daemon.json (not both, as dockerd), plus Debian's runc.
fn runtimes(
    flags: &[String],
    file: Option<std::collections::BTreeMap<String, FileRuntime>>,
) -> anyhow::Result<std::collections::BTreeMap<String, berth_daemon::config::ExternalRuntime>> {
    let mut list: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
    match file {
        Some(_) if !flags.is_empty() => bail!(
            "the following directives are specified both as a flag and in the configuration file: runtimes"
        ),
        Some(f) => list.extend(f.into_iter().map(|(n, r)| (n, r.path, r.runtime_args))),
        None => {
            for a in flags {
                let (n, p) = a.split_once('=').with_context(|| {
                    format!("invalid --add-runtime {a:?}: use name=path")
                })?;
                list.push((n.to_string(), PathBuf::from(p), Vec::new()));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for (name, path, args) in list {
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
            bail!("invalid runtime name {name:?}");
        }
        if name == berth_daemon::config::LINKED_RUNTIME {
            bail!("runtime name '{name}' is reserved (the runtime linked into berth-shim)");
        }
        if out.contains_key(&name) {
            bail!("runtime {name} is given twice");
        }
        // A bare name is looked up in PATH, as dockerd does.
        let found = if path.components().count() == 1 && !path.is_absolute() {
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(&path))
                        .collect::<Vec<PathBuf>>()
                })
                .unwrap_or_default()
                .into_iter()
                .find(|c: &PathBuf| c.is_file())
        } else {
            Some(path.clone()).filter(|p| p.is_file())
        };
        let Some(path) = found else {
            bail!(
                "runtime {name}: {} not found (install it or fix the path)",
                path.display()
            );
        };
        out.insert(
            name.clone(),
            berth_daemon::config::ExternalRuntime { name, path, args },
        );
    }
    let runc = PathBuf::from("/usr/sbin/runc");
    if !out.contains_key("runc") && runc.is_file() {
        out.insert(
            "runc".into(),
            berth_daemon::config::ExternalRuntime {
                name: "runc".into(),
                path: runc,
                args: Vec::new(),
            },
        );
    }
    Ok(out)
}

/// One `default-ulimits` entry of daemon.json (`{"Name":"nofile","Hard":2048,"Soft":1024}`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct FileUlimit {
    #[allow(dead_code)]
    name: Option<String>,
    soft: i64,
    hard: i64,
}

/// `nofile=1024:2048` (hard defaults to soft).
fn parse_ulimit(s: &str) -> anyhow::Result<(String, i64, i64)> {
    let (name, v) = s
        .split_once('=')
        .with_context(|| format!("invalid ulimit argument {s:?}: use name=soft[:hard]"))?;
    const NAMES: [&str; 16] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !NAMES.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let (soft, hard) = v.split_once(':').unwrap_or((v, v));
    let num = |x: &str| -> anyhow::Result<i64> {
        x.parse()
            .with_context(|| format!("invalid ulimit value {x:?} in {s:?}"))
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok((name.to_string(), soft, hard))
}

/// One `default-address-pools` entry.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressPool {
    base: String,
    size: u8,
}

/// `base=172.80.0.0/16,size=24`.
fn parse_pool_flag(s: &str) -> anyhow::Result<(String, u8)> {
    let (mut base, mut size) = (None, None);
    for kv in s.split(',') {
        match kv.split_once('=') {
            Some(("base", v)) => base = Some(v.to_string()),
            Some(("size", v)) => {
                size = Some(
                    v.parse::<u8>()
                        .with_context(|| format!("invalid size in {s:?}"))?,
                )
            }
            _ => bail!("invalid default address pool {s:?}: use base=CIDR,size=N"),
        }
    }
    match (base, size) {
        (Some(b), Some(n)) => Ok((b, n)),
        _ => bail!("invalid default address pool {s:?}: use base=CIDR,size=N"),
    }
}

fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (n, m) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    Ok(n.parse::<u64>()
        .with_context(|| format!("invalid size {s:?}"))?
        * m)
}

fn group_id(g: &str) -> anyhow::Result<u32> {
    if let Ok(n) = g.parse() {
        return Ok(n);
    }
    let text = std::fs::read_to_string("/etc/group").context("read /etc/group")?;
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&g)).then(|| f.get(2).and_then(|x| x.parse().ok()))?
        })
        .with_context(|| format!("group {g:?} not found"))
}

/// Where the API is served.
enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener, tokio_rustls::TlsAcceptor),
}

fn listener(
    spec: &str,
    group: Option<u32>,
    tls: &tls::TlsFiles,
) -> anyhow::Result<(Listener, Option<PathBuf>, String)> {
    let path = match spec.split_once("://") {
        Some(("unix", p)) => PathBuf::from(p),
        Some(("tcp", addr)) => {
            let acceptor = tls::acceptor(tls).with_context(|| spec.to_string())?;
            let addr = if addr.contains(':') {
                addr.to_string()
            } else {
                format!("{addr}:2376")
            };
            let l =
                std::net::TcpListener::bind(&addr).with_context(|| format!("listen on {addr}"))?;
            l.set_nonblocking(true)?;
            let l = tokio::net::TcpListener::from_std(l)?;
            let shown = format!("tcp://{} (TLS, client certificates)", l.local_addr()?);
            return Ok((Listener::Tcp(l, acceptor), None, shown));
        }
        Some((s, _)) => bail!("{spec}: unsupported scheme {s:?} (use unix:// or tcp:// with TLS)"),
        None => PathBuf::from(spec),
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    if path.exists() {
        // A live daemon answers; a stale socket does not.
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            bail!("{}: another daemon is listening there", path.display());
        }
        std::fs::remove_file(&path)?;
    }
    let l = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(g) = group {
        std::os::unix::fs::chown(&path, Some(0), Some(g))?;
    }
    let shown = path.display().to_string();
    Ok((Listener::Unix(l), Some(path), shown))
}

/// Serve HTTP (with upgrades for attach/exec) on one accepted connection.
fn serve_conn<I>(d: Arc<Daemon>, io: I)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let svc = service_fn(move |req| {
            let d = d.clone();
            async move { Ok::<_, std::convert::Infallible>(router::handle(d, req).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades()
            .await;
    });
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = match &cli.config_file {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("/etc/berth/daemon.json")).filter(|p| p.exists()),
    };
    let fc: FileConfig = match &file {
        Some(p) => {
            let data = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
            serde_json::from_slice(&data).with_context(|| format!("{}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let level = cli
        .log_level
        .clone()
        .or(fc.log_level.clone())
        .unwrap_or_else(|| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "berth={level},berthd={level},berth_daemon={level},berth_server={level}"
        )))
        .with_writer(std::io::stderr)
        .init();
    if !cli.live_restore || fc.live_restore == Some(false) {
        bail!("--live-restore=false is not supported: containers always outlive berthd");
    }
    let data_root = cli
        .data_root
        .clone()
        .or(fc.data_root)
        .unwrap_or_else(|| "/var/lib/berth".into());
    let exec_root = cli
        .exec_root
        .clone()
        .or(fc.exec_root)
        .unwrap_or_else(|| "/run/berth".into());
    let shim = match cli.shim.clone() {
        Some(s) => s,
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("berth-shim"))
            .context("where is berth-shim?")?,
    };
    if !shim.exists() {
        bail!("{}: berth-shim not found (pass --shim)", shim.display());
    }
    let mut cfg = DaemonConfig::new(&data_root, &exec_root, shim);
    if let Some(p) = cli.cgroup_parent.clone().or(fc.cgroup_parent) {
        cfg.cgroup_parent = p;
    }
    cfg.no_new_privileges = cli.no_new_privileges || fc.no_new_privileges.unwrap_or(false);
    cfg.init = cli.init || fc.init.unwrap_or(false);
    cfg.default_ulimits = if cli.default_ulimit.is_empty() {
        fc.default_ulimits
            .unwrap_or_default()
            .into_iter()
            .map(|(n, u)| (n, u.soft, u.hard))
            .collect()
    } else {
        cli.default_ulimit
            .iter()
            .map(|s| parse_ulimit(s))
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(r) = cli
        .userns_remap
        .clone()
        .or(fc.userns_remap)
        .filter(|r| !r.is_empty())
    {
        cfg.userns_remap =
            Some(berth_daemon::userns::resolve(&r).map_err(|e| anyhow::anyhow!("{}", e.message))?);
    }
    let n = &mut cfg.net;
    if let Some(b) = cli.bridge.clone().or(fc.bridge) {
        if b.is_empty() || b.len() > 15 || b == "none" {
            bail!("invalid --bridge {b:?}: an interface name of 1 to 15 bytes (--bridge=none is not supported)");
        }
        n.bridge = b;
    }
    if let Some(b) = cli.bip.clone().or(fc.bip) {
        n.bip = b;
    }
    n.icc = cli.icc.or(fc.icc).unwrap_or(true);
    n.ip_masq = cli.ip_masq.or(fc.ip_masq).unwrap_or(true);
    n.iptables = cli.iptables.or(fc.iptables).unwrap_or(true);
    n.mtu = cli.mtu.or(fc.mtu).unwrap_or(0);
    let pick = |c: &Vec<String>, f: Option<Vec<String>>| {
        if c.is_empty() {
            f.unwrap_or_default()
        } else {
            c.clone()
        }
    };
    n.dns = pick(&cli.dns, fc.dns);
    n.dns_search = pick(&cli.dns_search, fc.dns_search);
    n.dns_opts = pick(&cli.dns_opt, fc.dns_opts);
    let r = &mut cfg.registry;
    r.insecure_registries = pick(&cli.insecure_registry, fc.insecure_registries);
    r.mirrors = pick(&cli.registry_mirror, fc.registry_mirrors);
    if let Some(n) = cli.max_concurrent_downloads.or(fc.max_concurrent_downloads) {
        r.max_concurrent_downloads = n.max(1);
    }
    if let Some(n) = cli.max_concurrent_uploads.or(fc.max_concurrent_uploads) {
        r.max_concurrent_uploads = n.max(1);
    }
    let n = &mut cfg.net;
    n.default_address_pools = if cli.default_address_pool.is_empty() {
        fc.default_address_pools
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.base, p.size))
            .collect()
    } else {
        cli.default_address_pool
            .iter()
            .map(|s| parse_pool_flag(s))
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(s) = cli.default_shm_size.clone().or(fc.default_shm_size) {
        cfg.shm_size = parse_size(&s)?;
    }
    cfg.runtimes = runtimes(&cli.add_runtime, fc.runtimes)?;
    if let Some(d) = cli.default_runtime.clone().or(fc.default_runtime) {
        cfg.default_runtime = d;
    }
    if let Err(e) = cfg.runtime("") {
        bail!("default runtime: {}", e.message);
    }
    let hosts = if !cli.hosts.is_empty() {
        cli.hosts.clone()
    } else {
        fc.hosts.unwrap_or_else(|| {
            vec![format!(
                "unix://{}",
                exec_root.join("berthd.sock").display()
            )]
        })
    };
    let group = cli
        .group
        .clone()
        .or(fc.group)
        .map(|g| group_id(&g))
        .transpose()?;
    let pidfile = cli.pidfile.clone().or(fc.pidfile);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tls = tls::TlsFiles {
        verify: cli.tlsverify || fc.tlsverify.unwrap_or(false),
        ca: cli.tlscacert.clone().or(fc.tlscacert),
        cert: cli.tlscert.clone().or(fc.tlscert),
        key: cli.tlskey.clone().or(fc.tlskey),
    };
    let _ = (cli.tls, fc.tls);
    let res = rt.block_on(serve(cfg, hosts, group, pidfile, tls));
    // Threads still blocked on shims (a running container's wait) must not hold the exit:
    // the containers keep running and a new berthd takes them back.
    rt.shutdown_background();
    res
}

async fn serve(
    cfg: DaemonConfig,
    hosts: Vec<String>,
    group: Option<u32>,
    pidfile: Option<PathBuf>,
    tls: tls::TlsFiles,
) -> anyhow::Result<()> {
    // Listeners first: a bad -H (TCP without TLS, another daemon's live socket) is refused
    // before anything on the host is touched. Connections wait in the backlog meanwhile.
    let mut paths = Vec::new();
    let mut listeners = Vec::new();
    let mut shown = Vec::new();
    for h in &hosts {
        let (l, p, s) = listener(h, group, &tls)?;
        paths.extend(p);
        listeners.push(l);
        shown.push(s);
    }
    let daemon = match Daemon::open(cfg) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            for p in &paths {
                let _ = std::fs::remove_file(p);
            }
            anyhow::bail!("{e}");
        }
    };
    for s in &shown {
        tracing::info!("API listening on {s}");
    }
    if let Some(p) = &pidfile {
        std::fs::write(p, std::process::id().to_string())?;
    }
    for l in listeners {
        let d = daemon.clone();
        tokio::spawn(async move {
            match l {
                Listener::Unix(l) => loop {
                    if let Ok((s, _)) = l.accept().await {
                        serve_conn(d.clone(), s);
                    }
                },
                Listener::Tcp(l, acceptor) => loop {
                    let Ok((s, peer)) = l.accept().await else {
                        continue;
                    };
                    let (d, acceptor) = (d.clone(), acceptor.clone());
                    tokio::spawn(async move {
                        match acceptor.accept(s).await {
                            Ok(tls) => serve_conn(d, tls),
                            Err(e) => tracing::warn!(%peer, "TLS handshake refused: {e}"),
                        }
                    });
                },
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down; containers keep running");
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}
