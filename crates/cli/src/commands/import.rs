//! `berth import file|URL|- [REPOSITORY[:TAG]]`: `POST /images/create?fromSrc=…` with the tar
//! streamed (chunked, `text/plain` as the docker CLI), `-c/--change`, `-m/--message`,
//! `--platform`; prints the new image ID.

use std::io::Read;

use clap::Args;

use super::{CmdError, CmdResult, Ctx};
use crate::client::{read_progress, Body, Request};

/// `berth import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// file|URL|-
    pub source: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: ImportArgs) -> CmdResult {
    let remote = args.source.contains("://");
    let mut req = Request::new("POST", "/images/create");
    for c in &args.change {
        req = req.query("changes", c.clone());
    }
    let from = if remote || args.source == "-" {
        args.source.clone()
    } else {
        "-".to_owned()
    };
    req = req.query("fromSrc", from);
    if let Some(m) = &args.message {
        req = req.query("message", m.clone());
    }
    if let Some(p) = &args.platform {
        req = req.query("platform", p.clone());
    }
    if let Some(r) = &args.reference {
        req = req.query("repo", r.clone());
    }
    if !remote {
        let src: Box<dyn Read + Send> = if args.source == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(
                std::fs::File::open(&args.source).map_err(|e| CmdError::Status {
                    message: format!("open {}: {e}", args.source),
                    code: 1,
                })?,
            )
        };
        req = req.body(Body::Stream(src, "text/plain"));
    }
    let resp = ctx.client.send(req)?;
    read_progress(resp, |m| {
        if !m.status.is_empty() {
            super::out(&format!("{}\n", m.status));
        } else if !m.stream.is_empty() {
            super::out(&m.stream);
        }
    })?;
    Ok(0)
}
