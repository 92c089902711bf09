//! `berth save`: `GET /images/get?names=…` written to `-o FILE` or to stdout (never to a
//! terminal). A daemon without the route says so.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{CmdError, CmdResult, Ctx};
use crate::client::Request;
use crate::term;

/// `berth save`.
#[derive(Debug, Clone, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<PathBuf>,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// The error for routes this daemon lacks.
pub fn unsupported(what: &str) -> CmdError {
    CmdError::Status {
        message: format!("{what} is not supported by this berthd yet"),
        code: 1,
    }
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: SaveArgs) -> CmdResult {
    if args.output.is_none() && term::stdout_is_tty() {
        return Err(CmdError::Status {
            message: "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
            code: 1,
        });
    }
    let mut req = Request::new("GET", "/images/get");
    for i in &args.images {
        req = req.query("names", i.clone());
    }
    let mut resp = match ctx.client.send(req) {
        Err(e) if e.is_unsupported_route() => return Err(unsupported("save")),
        r => r?,
    };
    match &args.output {
        Some(p) => {
            let tmp = p.with_extension("berth-tmp");
            let mut f = std::fs::File::create(&tmp)?;
            std::io::copy(&mut resp, &mut f)?;
            f.flush()?;
            std::fs::rename(&tmp, p)?;
        }
        None => {
            let mut o = std::io::stdout().lock();
            std::io::copy(&mut resp, &mut o)?;
            o.flush()?;
        }
    }
    Ok(0)
}
