//! `berth run`: create (pull on "No such image"), attach before start, `wait?condition=next-exit`
//! (headers arrive before start), start, stream the output, exit with the container's status —
//! the docker CLI's foreground flow. Start failures map to 127 (not found), 126 (permission
//! denied, is a directory), 125 (other). With `-t` on a terminal the local terminal goes raw, the
//! size is sent after start and on SIGWINCH; signals are proxied (`--sig-proxy`).
//! With `-it` on a terminal the detach keys (ctrl-p ctrl-q, `--detach-keys`) end the session
//! silently with status 0 and leave the container running, as `docker run` does.

use std::io::Read;

use berth_api::container::ContainerWaitResponse;
use clap::Args;

use super::create::{create_or_pull, run_error, AttachMode, ContainerFlags};
use super::{
    copy_output, cpath, pump_stdin, spawn_signal_thread, CmdError, CmdResult, Ctx, SignalTarget,
};
use crate::client::{ClientError, Request};
use crate::term;

/// `berth run`.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, value_name = "bool")]
    pub sig_proxy: bool,
    /// The container.
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// Docker's exit status for a start error (cli `toStatusError`).
pub fn start_error_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

fn start(ctx: &Ctx, id: &str) -> Result<(), CmdError> {
    match ctx.client.call(Request::new("POST", cpath(id, "/start"))) {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e.message().map_or(125, start_error_code);
            Err(run_error("run", e, code))
        }
    }
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: RunArgs) -> CmdResult {
    let f = &args.flags;
    if f.tty && f.interactive && !term::stdin_is_tty() {
        return Err(CmdError::Status {
            message: "the input device is not a TTY".into(),
            code: 1,
        });
    }
    let console = if f.tty { term::size() } else { None };
    let cwd = std::env::current_dir().unwrap_or_default();
    let body = f
        .create_body(
            AttachMode {
                detach: args.detach,
                console,
            },
            &|k| std::env::var(k).ok(),
            &cwd,
        )
        .map_err(|e| run_error("run", e, 125))?;
    let id = create_or_pull(ctx, &body, f.name.as_deref()).map_err(|e| run_error("run", e, 125))?;

    if args.detach {
        start(ctx, &id)?;
        super::out(&format!("{id}\n"));
        return Ok(0);
    }

    // 1. attach (hijack) before start.
    let mut hijacked = ctx
        .client
        .hijack(
            Request::new("POST", cpath(&id, "/attach"))
                .query("stream", "1")
                .query("stdout", "1")
                .query("stderr", "1")
                .flag("stdin", f.interactive),
        )
        .map_err(|e| run_error("run", e, 125))?;
    let escape = (f.tty && f.interactive && term::stdin_is_tty())
        .then(|| super::detach::keys_or_default(args.detach_keys.as_deref()));
    // 2. wait: the daemon flushes the headers now; the body comes at exit (or removal).
    let condition = if f.rm { "removed" } else { "next-exit" };
    let wait_resp = ctx
        .client
        .send(Request::new("POST", cpath(&id, "/wait")).query("condition", condition))
        .map_err(|e| run_error("run", e, 125))?;
    let waiter = std::thread::spawn(move || -> Result<ContainerWaitResponse, ClientError> {
        let mut r = wait_resp;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        Ok(serde_json::from_slice(&buf)?)
    });
    // 3. raw terminal, stdin, start.
    let raw = if f.tty && f.interactive && term::stdin_is_tty() {
        term::RawGuard::enter().ok()
    } else {
        None
    };
    let detached = pump_stdin(&hijacked, f.interactive, escape)?;
    if let Err(e) = start(ctx, &id) {
        drop(raw);
        return Err(e);
    }
    let target = SignalTarget::Container(id.clone());
    if f.tty && term::stdout_is_tty() {
        super::resize(&ctx.client, &target);
    }
    spawn_signal_thread(
        ctx.client.clone(),
        target,
        args.sig_proxy,
        f.tty && term::stdout_is_tty(),
    );
    // 4. output until the daemon closes the stream.
    let streamed = copy_output(&mut hijacked.reader, f.tty);
    drop(raw);
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(0);
    }
    streamed?;
    // 5. the exit status.
    let status = waiter
        .join()
        .map_err(|_| CmdError::Status {
            message: "wait thread panicked".into(),
            code: 125,
        })?
        .map_err(|e| run_error("run", e, 125))?;
    if let Some(err) = status.error {
        if !err.message.is_empty() {
            return Err(run_error("run", err.message, 125));
        }
    }
    Ok(i32::try_from(status.status_code).unwrap_or(125))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_like_docker() {
        assert_eq!(
            start_error_code(
                r#"failed to create task: exec: "nope": executable file not found in $PATH"#
            ),
            127
        );
        assert_eq!(
            start_error_code(
                r#"exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown"#
            ),
            127
        );
        assert_eq!(start_error_code("exec /etc/passwd: permission denied"), 126);
        assert_eq!(start_error_code("exec /etc: is a directory"), 126);
        assert_eq!(start_error_code("cgroup: something else"), 125);
    }
}
