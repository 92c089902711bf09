//! `berth export [-o FILE] CONTAINER`: `GET /containers/{id}/export` streamed to a file or to
//! stdout (refused when stdout is a terminal, as docker does).

use std::io;

use clap::Args;

use super::{cpath, CmdError, CmdResult, Ctx};
use crate::client::Request;

/// `berth export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "string")]
    pub output: Option<std::path::PathBuf>,
    /// CONTAINER
    pub container: String,
}

/// Streams a response body to `-o` or stdout (docker's `save`/`export` rule).
pub fn to_file_or_stdout<R: io::Read>(
    mut body: R,
    output: Option<&std::path::Path>,
    what: &str,
) -> Result<(), CmdError> {
    match output {
        Some(p) => {
            // docker writes a temp file next to the target and renames it.
            let tmp = p.with_file_name(format!(
                ".{}.berth-tmp",
                p.file_name().map_or("out".into(), |n| n.to_string_lossy())
            ));
            let mut f = std::fs::File::create(&tmp).map_err(|e| CmdError::Status {
                message: format!("failed to {what} to {}: {e}", p.display()),
                code: 1,
            })?;
            let r = io::copy(&mut body, &mut f).and_then(|_| f.sync_all());
            if let Err(e) = r.and_then(|()| std::fs::rename(&tmp, p)) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
        }
        None => match io::copy(&mut body, &mut io::stdout().lock()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            r => {
                r?;
            }
        },
    }
    Ok(())
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: ExportArgs) -> CmdResult {
    if args.output.is_none() && crate::term::stdout_is_tty() {
        return Err(CmdError::Status {
            message: "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
            code: 1,
        });
    }
    let body = ctx
        .client
        .send(Request::new("GET", cpath(&args.container, "/export")))?;
    to_file_or_stdout(body, args.output.as_deref(), "export")?;
    Ok(0)
}
