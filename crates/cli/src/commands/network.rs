//! `berth network create|ls|inspect|rm|prune|connect|disconnect`: `/networks` with Docker's
//! table (NETWORK ID, NAME, DRIVER, SCOPE; sorted by name), template fields and prompts.

use berth_api::network::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, Network, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse,
};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::ps::parse_filters;
use super::volume::kv_map;
use super::{collect_errors, CmdResult, Ctx};
use crate::client::{path_escape, Body, Request};

/// `berth network`.
#[derive(Debug, Clone, Subcommand)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

/// `network create`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// NETWORK
    pub name: String,
}

/// `network ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// `network inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// NETWORK [NETWORK...]
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `network rm`.
#[derive(Debug, Clone, Args)]
pub struct NamesArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK [NETWORK...]
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `network prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `network connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

/// `network disconnect`.
#[derive(Debug, Clone, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

fn row(n: &Network, trunc: bool) -> Value {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let id = if trunc {
        n.id.chars().take(12).collect()
    } else {
        n.id.clone()
    };
    json!({
        "ID": id,
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        // EnableIPv4 came with API 1.47; over 1.41 the docker 28 CLI shows false, as here.
        "IPv4": "false",
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": crate::units::go_time_string(&n.created),
        "$Label": n.labels,
    })
}

fn header() -> Value {
    json!({
        "$type": "*network.networkContext",
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
        "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT", "$Label": {},
    })
}

/// Runs a `network` subcommand.
pub fn run(ctx: &Ctx, cmd: NetworkCmd) -> CmdResult {
    match cmd {
        NetworkCmd::Create(a) => create(ctx, a),
        NetworkCmd::Ls(a) => ls(ctx, a),
        NetworkCmd::Inspect(a) => inspect(ctx, a),
        NetworkCmd::Rm(a) => rm(ctx, a),
        NetworkCmd::Prune(a) => prune(ctx, a),
        NetworkCmd::Connect(a) => connect(ctx, a),
        NetworkCmd::Disconnect(a) => disconnect(ctx, a),
    }
}

fn create(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    let config: Vec<IpamConfig> = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| IpamConfig {
            subnet: s.clone(),
            gateway: a.gateway.get(i).cloned().unwrap_or_default(),
            ip_range: a.ip_range.get(i).cloned().unwrap_or_default(),
            ..IpamConfig::default()
        })
        .collect();
    let body = NetworkCreateRequest {
        name: a.name.clone(),
        check_duplicate: true,
        driver: a.driver.clone(),
        enable_ipv6: a.ipv6,
        ipam: Some(Ipam {
            driver: "default".into(),
            options: None,
            config: Some(config),
        }),
        internal: a.internal,
        attachable: a.attachable,
        options: Some(kv_map(&a.opt)),
        labels: Some(kv_map(&a.label)),
        ..NetworkCreateRequest::default()
    };
    let r: NetworkCreateResponse = ctx
        .client
        .json(Request::new("POST", "/networks/create").body(Body::json(&body)?))?;
    super::out(&format!("{}\n", r.id));
    Ok(0)
}

fn ls(ctx: &Ctx, a: LsArgs) -> CmdResult {
    let filters = parse_filters(&a.filter)?;
    let mut req = Request::new("GET", "/networks");
    if !filters.is_empty() {
        req = req.query("filters", filters.to_query());
    }
    let mut nets: Vec<Network> = ctx.client.json(req)?;
    nets.sort_by(|x, y| super::natural_cmp(&x.name, &y.name));
    let rows: Vec<Value> = nets.iter().map(|n| row(n, !a.no_trunc)).collect();
    super::print_list(
        a.format.as_deref(),
        a.quiet.then_some("{{.ID}}"),
        DEFAULT_TABLE,
        &header(),
        &rows,
    )?;
    Ok(0)
}

fn inspect(ctx: &Ctx, a: InspectArgs) -> CmdResult {
    super::inspect::check_template(a.format.as_deref())?;
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for n in &a.names {
        match ctx
            .client
            .bytes(Request::new("GET", format!("/networks/{}", path_escape(n))))
        {
            Ok(b) => raws.push(String::from_utf8_lossy(&b).trim().to_owned()),
            Err(e) if e.status().is_some() => errs.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    super::inspect::print_raws(&raws, a.format.as_deref())?;
    collect_errors(errs)
}

fn rm(ctx: &Ctx, a: NamesArgs) -> CmdResult {
    let mut errs = Vec::new();
    for n in &a.names {
        match ctx.client.call(Request::new(
            "DELETE",
            format!("/networks/{}", path_escape(n)),
        )) {
            Ok(_) => super::out(&format!("{n}\n")),
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

fn prune(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    if !a.force
        && !super::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(0);
    }
    let filters = parse_filters(&a.filter)?;
    let mut req = Request::new("POST", "/networks/prune");
    if !filters.is_empty() {
        req = req.query("filters", filters.to_query());
    }
    let r: NetworkPruneResponse = ctx.client.json(req)?;
    if !r.networks_deleted.is_empty() {
        let mut s = String::from("Deleted Networks:\n");
        for n in &r.networks_deleted {
            s.push_str(n);
            s.push('\n');
        }
        super::out(&s);
    }
    Ok(0)
}

fn connect(ctx: &Ctx, a: ConnectArgs) -> CmdResult {
    let ep = EndpointSettings {
        ipam_config: a.ip.clone().map(|ip| EndpointIpamConfig {
            ipv4_address: ip,
            ..EndpointIpamConfig::default()
        }),
        aliases: Some(a.alias.clone()).filter(|x| !x.is_empty()),
        links: Some(a.link.clone()).filter(|x| !x.is_empty()),
        ..EndpointSettings::default()
    };
    let body = NetworkConnectRequest {
        container: a.container.clone(),
        endpoint_config: Some(ep),
    };
    ctx.client.call(
        Request::new(
            "POST",
            format!("/networks/{}/connect", path_escape(&a.network)),
        )
        .body(Body::json(&body)?),
    )?;
    Ok(0)
}

fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> CmdResult {
    let body = NetworkDisconnectRequest {
        container: a.container.clone(),
        force: a.force,
    };
    ctx.client.call(
        Request::new(
            "POST",
            format!("/networks/{}/disconnect", path_escape(&a.network)),
        )
        .body(Body::json(&body)?),
    )?;
    Ok(0)
}
