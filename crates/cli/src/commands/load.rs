//! `berth load`: `POST /images/load` with the tar streamed (chunked) from `-i FILE` or stdin;
//! prints the daemon's `Loaded image: …` lines.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use super::{CmdError, CmdResult, Ctx};
use crate::client::{Body, Request};
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

/// Displays a progress stream as the docker CLI does (bars on a terminal, plain lines
/// otherwise), printing nothing with `quiet` (errors still end it).
pub fn print_progress_quiet(resp: impl Read, quiet: bool) -> Result<(), CmdError> {
    crate::progress::display_stdout(resp, quiet)?;
    Ok(())
}

/// [`print_progress_quiet`] without `quiet`.
pub fn print_progress(resp: impl Read) -> Result<(), CmdError> {
    print_progress_quiet(resp, false)
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
