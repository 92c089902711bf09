//! `berth attach`: the docker CLI's flow — inspect (refusing stopped, paused and restarting
//! containers with its texts), `wait` armed first, hijacked `attach` with stdin when the
//! container keeps it open (`--no-stdin` not given), raw terminal and resize with a TTY, signals
//! proxied without one (`--sig-proxy`), detach keys; exit status: the container's.

use std::io::Read;

use berth_api::container::{ContainerInspect, ContainerWaitResponse};
use clap::{ArgAction, Args};

use super::{
    copy_output, cpath, pump_stdin, spawn_signal_thread, CmdError, CmdResult, Ctx, SignalTarget,
};
use crate::client::{ClientError, Request};
use crate::term;

/// `berth attach`.
#[derive(Debug, Clone, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// CONTAINER
    pub container: String,
}

fn refuse(message: &str) -> CmdError {
    CmdError::Status {
        message: message.into(),
        code: 1,
    }
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: AttachArgs) -> CmdResult {
    let info: ContainerInspect = ctx
        .client
        .json(Request::new("GET", cpath(&args.container, "/json")))?;
    let st = &info.state;
    if !st.running {
        return Err(refuse(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if st.paused {
        return Err(refuse(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if st.restarting {
        return Err(refuse(
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    let tty = info.config.tty;
    let stdin = !args.no_stdin && info.config.open_stdin;
    if stdin && tty && !term::stdin_is_tty() {
        return Err(refuse("the input device is not a TTY"));
    }
    let wait = ctx
        .client
        .send(Request::new("POST", cpath(&info.id, "/wait")))?;
    let waiter = std::thread::spawn(move || -> Result<ContainerWaitResponse, ClientError> {
        let mut r = wait;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        Ok(serde_json::from_slice(&buf)?)
    });
    let mut req = Request::new("POST", cpath(&info.id, "/attach"))
        .query("stream", "1")
        .query("stdout", "1")
        .query("stderr", "1")
        .flag("stdin", stdin);
    if let Some(k) = &args.detach_keys {
        req = req.query("detachKeys", k.clone());
    }
    let mut h = ctx.client.hijack(req)?;
    let interactive_tty = stdin && tty && term::stdin_is_tty();
    let raw = if interactive_tty {
        term::RawGuard::enter().ok()
    } else {
        None
    };
    let escape =
        interactive_tty.then(|| super::detach::keys_or_default(args.detach_keys.as_deref()));
    let detached = pump_stdin(&h, stdin, escape)?;
    let target = SignalTarget::Container(info.id.clone());
    let winch = tty && term::stdout_is_tty();
    if winch {
        super::resize(&ctx.client, &target);
    }
    spawn_signal_thread(ctx.client.clone(), target, args.sig_proxy && !tty, winch);
    let r = copy_output(&mut h.reader, tty);
    drop(raw);
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(super::escape_error());
    }
    r?;
    let status = waiter
        .join()
        .map_err(|_| refuse("wait thread panicked"))??;
    Ok(i32::try_from(status.status_code).unwrap_or(1))
}
