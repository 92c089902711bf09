//! `berth exec`: inspect (existence), `POST /containers/{n}/exec`, `POST /exec/{id}/start`
//! hijacked (or detached with `-d`), stream, then `GET /exec/{id}/json` for the exit code.
//! A daemon without exec routes says so.

use berth_api::container::{ContainerInspect, ExecCreateRequest, ExecInspect, ExecStartRequest};
use berth_api::IdResponse;
use clap::Args;

use super::{
    copy_output, cpath, pump_stdin, spawn_signal_thread, CmdError, CmdResult, Ctx, SignalTarget,
};
use crate::client::{path_escape, Body, Request};
use crate::term;

/// `berth exec`.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

fn unsupported(e: crate::client::ClientError) -> CmdError {
    if e.is_unsupported_route() {
        super::save::unsupported("exec")
    } else {
        e.into()
    }
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: ExecArgs) -> CmdResult {
    let name = &args.args[0];
    if args.tty && args.interactive && !term::stdin_is_tty() {
        return Err(CmdError::Status {
            message: "the input device is not a TTY".into(),
            code: 1,
        });
    }
    let _: ContainerInspect = ctx.client.json(Request::new("GET", cpath(name, "/json")))?;
    let attach = !args.detach;
    let console = if args.tty { term::size() } else { None };
    let body = ExecCreateRequest {
        user: args.user.clone().unwrap_or_default(),
        privileged: args.privileged,
        tty: args.tty,
        attach_stdin: attach && args.interactive,
        attach_stderr: attach,
        attach_stdout: attach,
        detach: args.detach,
        env: (!args.env.is_empty()).then(|| args.env.clone()),
        working_dir: args.workdir.clone().unwrap_or_default(),
        cmd: Some(args.args[1..].to_vec()),
        console_size: console.map(|(h, w)| [u64::from(h), u64::from(w)]),
        ..ExecCreateRequest::default()
    };
    let created: IdResponse = ctx
        .client
        .json(Request::new("POST", cpath(name, "/exec")).body(Body::json(&body)?))
        .map_err(unsupported)?;
    let id = created.id;
    let start_path = format!("/exec/{}/start", path_escape(&id));
    let start = ExecStartRequest {
        detach: args.detach,
        tty: args.tty,
        ..ExecStartRequest::default()
    };
    if args.detach {
        ctx.client
            .call(Request::new("POST", start_path).body(Body::json(&start)?))
            .map_err(unsupported)?;
        return Ok(0);
    }
    let mut h = ctx
        .client
        .hijack(Request::new("POST", start_path).body(Body::json(&start)?))
        .map_err(unsupported)?;
    let raw = if args.tty && args.interactive && term::stdin_is_tty() {
        term::RawGuard::enter().ok()
    } else {
        None
    };
    let escape = (args.tty && args.interactive && term::stdin_is_tty())
        .then(|| super::detach::keys_or_default(args.detach_keys.as_deref()));
    let detached = pump_stdin(&h, args.interactive, escape)?;
    let target = SignalTarget::Exec(id.clone());
    if args.tty && term::stdout_is_tty() {
        super::resize(&ctx.client, &target);
        spawn_signal_thread(ctx.client.clone(), target, false, true);
    }
    let r = copy_output(&mut h.reader, args.tty);
    drop(raw);
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(super::escape_error());
    }
    r?;
    let info: ExecInspect = ctx.client.json(Request::new(
        "GET",
        format!("/exec/{}/json", path_escape(&id)),
    ))?;
    Ok(info
        .exit_code
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(126))
}
