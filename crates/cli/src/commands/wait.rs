//! `berth wait`: `POST /containers/{name}/wait` per container, printing each status code.

use berth_api::container::ContainerWaitResponse;
use clap::Args;

use super::{collect_errors, cpath, CmdResult, Ctx};
use crate::client::Request;

/// `berth wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: WaitArgs) -> CmdResult {
    let mut errs = Vec::new();
    for n in &args.containers {
        match ctx
            .client
            .json::<ContainerWaitResponse>(Request::new("POST", cpath(n, "/wait")))
        {
            Ok(w) => match w.error {
                Some(e) if !e.message.is_empty() => errs.push(e.message),
                _ => super::out(&format!("{}\n", w.status_code)),
            },
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}
