//! `berth commit`: `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`, prints
//! the new image ID.

use berth_api::container::IdResponse;
use clap::{ArgAction, Args};

use super::{CmdResult, Ctx};
use crate::client::{Body, Request};

/// `berth commit`.
#[derive(Debug, Clone, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, value_name = "bool", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    /// CONTAINER
    pub container: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// The request docker sends.
pub fn request(args: &CommitArgs) -> Result<Request, crate::client::ClientError> {
    let mut req = Request::new("POST", "/commit").query("container", args.container.clone());
    if let Some(r) = args.reference.as_deref().filter(|r| !r.is_empty()) {
        let (repo, tag) = super::split_ref(r, false);
        req = req.query("repo", repo);
        if let Some(t) = tag {
            req = req.query("tag", t);
        }
    }
    if let Some(m) = &args.message {
        req = req.query("comment", m.clone());
    }
    if let Some(a) = &args.author {
        req = req.query("author", a.clone());
    }
    for c in &args.change {
        req = req.query("changes", c.clone());
    }
    if !args.pause {
        req = req.query("pause", "0");
    }
    // The CLI sends no container config: a JSON `null` body.
    Ok(req.body(Body::json(&serde_json::Value::Null)?))
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: CommitArgs) -> CmdResult {
    let r: IdResponse = ctx.client.json(request(&args)?)?;
    super::out(&format!("{}\n", r.id));
    Ok(0)
}
