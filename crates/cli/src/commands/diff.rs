//! `berth diff CONTAINER`: `GET /containers/{id}/changes`, one `C|A|D path` line each.

use berth_api::container::ContainerChange;
use clap::Args;

use super::{cpath, CmdResult, Ctx};
use crate::client::Request;

/// `berth diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// CONTAINER
    pub container: String,
}

/// One line of docker's output.
pub fn line(c: &ContainerChange) -> String {
    let k = match c.kind {
        ContainerChange::ADDED => 'A',
        ContainerChange::DELETED => 'D',
        _ => 'C',
    };
    format!("{k} {}\n", c.path)
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: DiffArgs) -> CmdResult {
    let changes: Option<Vec<ContainerChange>> = ctx
        .client
        .json(Request::new("GET", cpath(&args.container, "/changes")))?;
    let text: String = changes.unwrap_or_default().iter().map(line).collect();
    super::out(&text);
    Ok(0)
}
