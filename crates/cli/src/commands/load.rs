//! `berth load`: `POST /images/load` with the tar streamed (chunked) from `-i FILE` or stdin;
//! prints the daemon's `Loaded image: …` lines.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use super::{CmdError, CmdResult, Ctx};
use crate::client::{read_progress, Body, Request};
use crate::term;

/// `berth load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "string")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// As [`print_progress`], printing nothing with `quiet` (errors still end it).
pub fn print_progress_quiet(resp: impl Read, quiet: bool) -> Result<(), CmdError> {
    if quiet {
        read_progress(resp, |_| {})?;
        return Ok(());
    }
    print_progress(resp)
}

/// Prints a progress stream the way the docker CLI does off a terminal.
pub fn print_progress(resp: impl Read) -> Result<(), CmdError> {
    read_progress(resp, |m| {
        if !m.stream.is_empty() {
            super::out(&m.stream);
        } else if !m.status.is_empty()
            && !m
                .progress_detail
                .as_ref()
                .is_some_and(|d| d.current != 0 || d.total != 0)
        {
            if m.id.is_empty() {
                super::out(&format!("{}\n", m.status));
            } else {
                super::out(&format!("{}: {}\n", m.id, m.status));
            }
        }
    })?;
    Ok(())
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: LoadArgs) -> CmdResult {
    let src: Box<dyn Read + Send> = match &args.input {
        Some(p) => Box::new(std::fs::File::open(p).map_err(|e| CmdError::Status {
            message: format!("open {}: {e}", p.display()),
            code: 1,
        })?),
        None => {
            if term::stdin_is_tty() {
                return Err(CmdError::Status {
                    message: "requested load from stdin, but stdin is empty".into(),
                    code: 1,
                });
            }
            Box::new(std::io::stdin())
        }
    };
    let quiet = args.quiet || !term::stdout_is_tty();
    let req = Request::new("POST", "/images/load")
        .query("quiet", if quiet { "1" } else { "0" })
        .body(Body::Stream(src, "application/x-tar"));
    let resp = ctx.client.send(req)?;
    print_progress(resp)?;
    Ok(0)
}
