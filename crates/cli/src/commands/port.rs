//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports from the container's
//! `NetworkSettings.Ports`, as `80/tcp -> 0.0.0.0:8080` lines (natural order) or the host
//! addresses of one port.

use berth_api::container::ContainerInspect;
use clap::Args;

use super::{cpath, CmdError, CmdResult, Ctx};
use crate::client::Request;

/// `berth port`.
#[derive(Debug, Clone, Args)]
pub struct PortArgs {
    /// CONTAINER
    pub container: String,
    /// [PRIVATE_PORT[/PROTO]]
    pub port: Option<String>,
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The lines docker prints for a container (`port` given or not).
pub fn lines(
    info: &ContainerInspect,
    port: Option<&str>,
    name: &str,
) -> Result<Vec<String>, CmdError> {
    let ports = &info.network_settings.ports;
    let mut out = Vec::new();
    match port {
        Some(p) => {
            let (num, proto) = p.split_once('/').unwrap_or((p, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if num.parse::<u16>().is_err() {
                return Err(CmdError::Status {
                    message: format!("Error: invalid port ({num}): strconv.ParseUint: parsing \"{num}\": invalid syntax"),
                    code: 1,
                });
            }
            let key = format!("{num}/{proto}");
            let frontends = ports
                .get(&key)
                .and_then(|b| b.as_ref())
                .filter(|b| !b.is_empty());
            let Some(frontends) = frontends else {
                return Err(CmdError::Status {
                    message: format!("Error: No public port '{p}' published for {name}"),
                    code: 1,
                });
            };
            for f in frontends {
                out.push(join_host_port(&f.host_ip, &f.host_port));
            }
        }
        None => {
            for (from, frontends) in ports {
                for f in frontends.iter().flatten() {
                    out.push(format!(
                        "{from} -> {}",
                        join_host_port(&f.host_ip, &f.host_port)
                    ));
                }
            }
        }
    }
    out.sort_by(|a, b| super::natural_cmp(a, b));
    Ok(out)
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: PortArgs) -> CmdResult {
    let info: ContainerInspect = ctx
        .client
        .json(Request::new("GET", cpath(&args.container, "/json")))?;
    let out = lines(&info, args.port.as_deref(), &args.container)?;
    if !out.is_empty() {
        super::out(&format!("{}\n", out.join("\n")));
    }
    Ok(0)
}
