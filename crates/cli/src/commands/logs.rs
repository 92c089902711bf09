//! `berth logs`: inspect (for `Config.Tty`), then `GET /containers/{id}/logs` streamed and
//! demultiplexed (`-f`, `--tail`, `-t`, `--since`, `--until`, `--details`).

use berth_api::container::ContainerInspect;
use clap::Args;

use super::{copy_output, cpath, CmdResult, Ctx};
use crate::client::Request;
use crate::units;

/// `berth logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all", value_name = "string")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// CONTAINER
    pub container: String,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: LogsArgs) -> CmdResult {
    let info: ContainerInspect = ctx
        .client
        .json(Request::new("GET", cpath(&args.container, "/json")))?;
    let now = units::now_unix();
    let mut req = Request::new("GET", cpath(&info.id, "/logs"))
        .query("stderr", "1")
        .query("stdout", "1")
        .query("tail", args.tail.clone())
        .flag("follow", args.follow)
        .flag("timestamps", args.timestamps)
        .flag("details", args.details);
    if let Some(s) = &args.since {
        req = req.query("since", units::timestamp_arg(s, now)?);
    }
    if let Some(u) = &args.until {
        req = req.query("until", units::timestamp_arg(u, now)?);
    }
    let mut resp = ctx.client.send(req)?;
    copy_output(&mut resp, info.config.tty)?;
    Ok(0)
}
