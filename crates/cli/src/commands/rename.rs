//! `berth rename OLD NEW`: `POST /containers/{old}/rename?name=new`, silent on success.

use clap::Args;

use super::{cpath, CmdError, CmdResult, Ctx};
use crate::client::Request;

/// `berth rename`.
#[derive(Debug, Clone, Args)]
pub struct RenameArgs {
    /// CONTAINER
    pub container: String,
    /// NEW_NAME
    pub new_name: String,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: RenameArgs) -> CmdResult {
    let old = args.container.trim();
    let new = args.new_name.trim();
    if old.is_empty() || new.is_empty() {
        return Err(CmdError::Status {
            message: "Error: Neither old nor new names may be empty".into(),
            code: 1,
        });
    }
    ctx.client
        .call(Request::new("POST", cpath(old, "/rename")).query("name", new))
        .map_err(|e| CmdError::Status {
            message: format!("{e}\nError: failed to rename container named {old}"),
            code: 1,
        })?;
    Ok(0)
}
