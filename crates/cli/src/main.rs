//! `berth`: a Docker-compatible command line client for berthd.
#![forbid(unsafe_code)]

use std::sync::Arc;

use berth_cli::client::{Client, DEFAULT_HOST};
use berth_cli::commands::{
    self, create, exec, images, import, info, inspect, lifecycle, load, logs, ps, rm, rmi, run,
    save, tag, version, wait, CmdError, Ctx,
};
use clap::{Parser, Subcommand};

/// A self-sufficient runtime for containers (Docker-compatible client for berthd)
#[derive(Debug, Parser)]
#[command(name = "berth", version, disable_help_subcommand = true)]
struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", global = true, value_name = "list")]
    host: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(create::CreateArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// List containers
    #[command(alias = "list", alias = "ls")]
    Ps(ps::PsArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Remove one or more containers
    Rm(rm::RmArgs),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Return low-level information on Docker objects
    Inspect(inspect::InspectArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Show the Docker version information
    Version(version::VersionArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
}

fn host(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

fn dispatch(ctx: &Ctx, cmd: Cmd) -> commands::CmdResult {
    match cmd {
        Cmd::Run(a) => run::run(ctx, a),
        Cmd::Create(a) => create::run(ctx, a),
        Cmd::Exec(a) => exec::run(ctx, a),
        Cmd::Ps(a) => ps::run(ctx, a),
        Cmd::Images(a) => images::run(ctx, a),
        Cmd::Logs(a) => logs::run(ctx, a),
        Cmd::Rm(a) => rm::run(ctx, a),
        Cmd::Start(a) => lifecycle::start(ctx, a),
        Cmd::Stop(a) => lifecycle::stop(ctx, a),
        Cmd::Restart(a) => lifecycle::restart(ctx, a),
        Cmd::Kill(a) => lifecycle::kill(ctx, a),
        Cmd::Wait(a) => wait::run(ctx, a),
        Cmd::Inspect(a) => inspect::run(ctx, a),
        Cmd::Load(a) => load::run(ctx, a),
        Cmd::Import(a) => import::run(ctx, a),
        Cmd::Tag(a) => tag::run(ctx, a),
        Cmd::Save(a) => save::run(ctx, a),
        Cmd::Rmi(a) => rmi::run(ctx, a),
        Cmd::Version(a) => version::run(ctx, a),
        Cmd::Info(a) => info::run(ctx, a),
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let host = host(cli.host);
    let api = std::env::var("DOCKER_API_VERSION").ok();
    let client = match Client::new(&host, api.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let ctx = Ctx {
        client: Arc::new(client),
    };
    let code = match dispatch(&ctx, cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            let text = match &e {
                CmdError::Usage(m) => format!("{m}\nSee 'berth --help'."),
                e => e.to_string(),
            };
            if !text.is_empty() {
                eprintln!("{text}");
            }
            e.code()
        }
    };
    std::process::exit(code);
}
