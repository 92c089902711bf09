//! `berth start`, `stop`, `restart`, `kill`, `pause`, `unpause`: one call per container, each name printed on
//! success, errors gathered and printed at the end (exit 1). `start -a` attaches like `run`.

use clap::Args;

use super::{collect_errors, copy_output, cpath, CmdResult, Ctx};
use crate::client::Request;

/// `berth start`.
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth stop` / `berth restart`.
#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container (API 1.42+)
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth kill`.
#[derive(Debug, Clone, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    pub signal: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth pause` / `berth unpause`.
#[derive(Debug, Clone, Args)]
pub struct NamesArgs {
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `pause`.
pub fn pause(ctx: &Ctx, args: NamesArgs) -> CmdResult {
    each(ctx, &args.containers, |n| {
        Request::new("POST", cpath(n, "/pause"))
    })
}

/// `unpause`.
pub fn unpause(ctx: &Ctx, args: NamesArgs) -> CmdResult {
    each(ctx, &args.containers, |n| {
        Request::new("POST", cpath(n, "/unpause"))
    })
}

fn each(ctx: &Ctx, names: &[String], mk: impl Fn(&str) -> Request) -> CmdResult {
    let mut errs = Vec::new();
    for n in names {
        match ctx.client.call(mk(n)) {
            Ok(_) => super::out(&format!("{n}\n")),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

/// `start`.
pub fn start(ctx: &Ctx, args: StartArgs) -> CmdResult {
    if !(args.attach || args.interactive) {
        return each(ctx, &args.containers, |n| {
            Request::new("POST", cpath(n, "/start"))
        });
    }
    if args.containers.len() > 1 {
        return Err(super::CmdError::Usage(
            "you cannot start and attach multiple containers at once".into(),
        ));
    }
    let name = &args.containers[0];
    let info: berth_api::container::ContainerInspect =
        ctx.client.json(Request::new("GET", cpath(name, "/json")))?;
    let tty = info.config.tty;
    let mut h = ctx.client.hijack(
        Request::new("POST", cpath(&info.id, "/attach"))
            .query("stream", "1")
            .query("stdout", "1")
            .query("stderr", "1")
            .flag("stdin", args.interactive),
    )?;
    let wait = ctx
        .client
        .send(Request::new("POST", cpath(&info.id, "/wait")).query("condition", "next-exit"))?;
    let interactive_tty = tty && args.interactive && crate::term::stdin_is_tty();
    let raw = if interactive_tty {
        crate::term::RawGuard::enter().ok()
    } else {
        None
    };
    let escape =
        interactive_tty.then(|| super::detach::keys_or_default(args.detach_keys.as_deref()));
    let detached = super::pump_stdin(&h, args.interactive, escape)?;
    ctx.client
        .call(Request::new("POST", cpath(&info.id, "/start")))?;
    let r = copy_output(&mut h.reader, tty);
    drop(raw);
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(super::escape_error());
    }
    r?;
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut { wait }, &mut buf)?;
    let w: berth_api::container::ContainerWaitResponse =
        serde_json::from_slice(&buf).map_err(crate::client::ClientError::from)?;
    Ok(i32::try_from(w.status_code).unwrap_or(125))
}

/// `stop`.
pub fn stop(ctx: &Ctx, args: StopArgs) -> CmdResult {
    stop_like(ctx, args, "/stop")
}

/// `restart`.
pub fn restart(ctx: &Ctx, args: StopArgs) -> CmdResult {
    stop_like(ctx, args, "/restart")
}

fn stop_like(ctx: &Ctx, args: StopArgs, verb: &str) -> CmdResult {
    let with_signal = match &args.signal {
        Some(_) if !ctx.client.api_version()?.at_least(1, 42) => {
            return Err(super::CmdError::Usage(
                "\"--signal\" requires API version 1.42, but the Docker daemon API version is lower".into(),
            ))
        }
        s => s.clone(),
    };
    each(ctx, &args.containers, |n| {
        let mut r = Request::new("POST", cpath(n, verb));
        if let Some(t) = args.time {
            r = r.query("t", t.to_string());
        }
        if let Some(s) = &with_signal {
            r = r.query("signal", s.clone());
        }
        r
    })
}

/// `kill`.
pub fn kill(ctx: &Ctx, args: KillArgs) -> CmdResult {
    each(ctx, &args.containers, |n| {
        let mut r = Request::new("POST", cpath(n, "/kill"));
        if let Some(s) = &args.signal {
            r = r.query("signal", s.trim_start_matches("SIG").to_owned());
        }
        r
    })
}
