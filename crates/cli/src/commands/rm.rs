//! `berth rm`: `DELETE /containers/{name}` per name (`-f`, `-v`, `-l`), printing each name as
//! removed; `-f` ignores "No such container", as the docker CLI does.

use clap::Args;

use super::{collect_errors, cpath, CmdResult, Ctx};
use crate::client::Request;

/// `berth rm`.
#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: RmArgs) -> CmdResult {
    let mut errs = Vec::new();
    for name in &args.containers {
        let name = name.trim_matches('/');
        let req = Request::new("DELETE", cpath(name, ""))
            .flag("force", args.force)
            .flag("v", args.volumes)
            .flag("link", args.link);
        match ctx.client.call(req) {
            Ok(_) => super::out(&format!("{name}\n")),
            // docker 28 reports it but does not fail.
            Err(e) if args.force && e.is_not_found() => eprintln!("{e}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}
