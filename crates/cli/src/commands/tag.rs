//! `berth tag SOURCE TARGET`: `POST /images/{source}/tag?repo=&tag=` (tag defaults to `latest`).

use clap::Args;

use super::{split_ref, CmdResult, Ctx};
use crate::client::{path_escape, Request};

/// `berth tag`.
#[derive(Debug, Clone, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: TagArgs) -> CmdResult {
    let (repo, tag) = split_ref(&args.target, true);
    let mut req = Request::new("POST", format!("/images/{}/tag", path_escape(&args.source)))
        .query("repo", repo);
    if let Some(t) = tag {
        req = req.query("tag", t);
    }
    ctx.client.call(req)?;
    Ok(0)
}
