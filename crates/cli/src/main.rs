//! `berth`: a Docker-compatible command line client for berthd.
#![forbid(unsafe_code)]

use std::sync::Arc;

use berth_cli::client::{Client, DEFAULT_HOST};
use berth_cli::commands::{
    self, attach, build, commit, completion, create, diff, events, exec, export, history, images,
    import, info, inspect, lifecycle, load, logs, network, port, prune, ps, registry, rename, rm,
    rmi, run, save, stats, system, tag, top, update, version, volume, wait, CmdError, Ctx,
};
use clap::{CommandFactory, Parser, Subcommand};

/// A self-sufficient runtime for containers (Docker-compatible client for berthd)
#[derive(Debug, Parser)]
#[command(name = "berth", version, disable_help_subcommand = true)]
struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    host: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
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
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
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
    /// Pause all processes within one or more containers
    Pause(lifecycle::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::NamesArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(diff::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(export::ExportArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Manage builds
    Builder {
        #[command(subcommand)]
        cmd: BuilderCmd,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: network::NetworkCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: volume::VolumeCmd,
    },
    /// Manage Docker
    System {
        #[command(subcommand)]
        cmd: system::SystemCmd,
    },
    /// Print a shell completion script (bash, zsh, fish)
    Completion(completion::CompletionArgs),
    /// Write the man pages into a directory
    Man(completion::ManArgs),
}

/// `berth builder ...`.
#[derive(Debug, Subcommand)]
enum BuilderCmd {
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Remove build cache
    Prune(build::PruneArgs),
}

/// `berth container ...`: the container verbs under their group names.
#[derive(Debug, Subcommand)]
enum ContainerCmd {
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Create a new container
    Create(create::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(diff::DiffArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Export a container's filesystem as a tar archive
    Export(export::ExportArgs),
    /// Display detailed information on one or more containers
    Inspect(ObjectInspectArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(ps::PsArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::NamesArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Remove all stopped containers
    Prune(prune::ContainerPruneArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Restart one or more containers
    Restart(lifecycle::StopArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(rm::RmArgs),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::NamesArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
}

/// `berth image ...`.
#[derive(Debug, Subcommand)]
enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Display detailed information on one or more images
    Inspect(ObjectInspectArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// List images
    #[command(alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove unused images
    Prune(prune::ImagePruneArgs),
    /// Remove one or more images
    #[command(alias = "rmi", alias = "remove")]
    Rm(rmi::RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
}

/// `container inspect` / `image inspect`: no `--type`.
#[derive(Debug, clap::Args)]
struct ObjectInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    format: Option<String>,
    /// Display total file sizes (containers)
    #[arg(short = 's', long)]
    size: bool,
    /// NAME|ID [NAME|ID...]
    #[arg(required = true)]
    names: Vec<String>,
}

impl ObjectInspectArgs {
    fn of(self, kind: &str) -> inspect::InspectArgs {
        inspect::InspectArgs {
            format: self.format,
            kind: Some(kind.to_owned()),
            size: self.size,
            names: self.names,
            daemon_errors: true,
        }
    }
}

fn container(ctx: &Ctx, cmd: ContainerCmd) -> commands::CmdResult {
    dispatch(
        ctx,
        match cmd {
            ContainerCmd::Attach(a) => Cmd::Attach(a),
            ContainerCmd::Commit(a) => Cmd::Commit(a),
            ContainerCmd::Create(a) => Cmd::Create(a),
            ContainerCmd::Diff(a) => Cmd::Diff(a),
            ContainerCmd::Exec(a) => Cmd::Exec(a),
            ContainerCmd::Export(a) => Cmd::Export(a),
            ContainerCmd::Inspect(a) => Cmd::Inspect(a.of("container")),
            ContainerCmd::Kill(a) => Cmd::Kill(a),
            ContainerCmd::Logs(a) => Cmd::Logs(a),
            ContainerCmd::Ls(a) => Cmd::Ps(a),
            ContainerCmd::Pause(a) => Cmd::Pause(a),
            ContainerCmd::Port(a) => Cmd::Port(a),
            ContainerCmd::Stats(a) => Cmd::Stats(a),
            ContainerCmd::Prune(a) => return prune::container_prune(ctx, a),
            ContainerCmd::Rename(a) => Cmd::Rename(a),
            ContainerCmd::Restart(a) => Cmd::Restart(a),
            ContainerCmd::Rm(a) => Cmd::Rm(a),
            ContainerCmd::Run(a) => Cmd::Run(a),
            ContainerCmd::Start(a) => Cmd::Start(a),
            ContainerCmd::Stop(a) => Cmd::Stop(a),
            ContainerCmd::Top(a) => Cmd::Top(a),
            ContainerCmd::Unpause(a) => Cmd::Unpause(a),
            ContainerCmd::Update(a) => Cmd::Update(a),
            ContainerCmd::Wait(a) => Cmd::Wait(a),
        },
    )
}

fn image(ctx: &Ctx, cmd: ImageCmd) -> commands::CmdResult {
    dispatch(
        ctx,
        match cmd {
            ImageCmd::Build(a) => Cmd::Build(a),
            ImageCmd::History(a) => Cmd::History(a),
            ImageCmd::Import(a) => Cmd::Import(a),
            ImageCmd::Inspect(a) => Cmd::Inspect(a.of("image")),
            ImageCmd::Load(a) => Cmd::Load(a),
            ImageCmd::Ls(a) => Cmd::Images(a),
            ImageCmd::Prune(a) => return prune::image_prune(ctx, a),
            ImageCmd::Rm(a) => Cmd::Rmi(a),
            ImageCmd::Save(a) => Cmd::Save(a),
            ImageCmd::Tag(a) => Cmd::Tag(a),
        },
    )
}

fn host(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

fn dispatch(ctx: &Ctx, cmd: Cmd) -> commands::CmdResult {
    match cmd {
        Cmd::Run(a) => run::run(ctx, a),
        Cmd::Build(a) => build::run(ctx, a),
        Cmd::Builder { cmd } => match cmd {
            BuilderCmd::Build(a) => build::run(ctx, *a),
            BuilderCmd::Prune(a) => build::prune(ctx, a),
        },
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
        Cmd::Pull(a) => registry::pull(ctx, a),
        Cmd::Push(a) => registry::push(ctx, a),
        Cmd::Login(a) => registry::login(ctx, a),
        Cmd::Logout(a) => registry::logout(ctx, a),
        Cmd::Import(a) => import::run(ctx, a),
        Cmd::Tag(a) => tag::run(ctx, a),
        Cmd::Save(a) => save::run(ctx, a),
        Cmd::Rmi(a) => rmi::run(ctx, a),
        Cmd::Version(a) => version::run(ctx, a),
        Cmd::Info(a) => info::run(ctx, a),
        Cmd::Pause(a) => lifecycle::pause(ctx, a),
        Cmd::Unpause(a) => lifecycle::unpause(ctx, a),
        Cmd::Rename(a) => rename::run(ctx, a),
        Cmd::Top(a) => top::run(ctx, a),
        Cmd::Diff(a) => diff::run(ctx, a),
        Cmd::Export(a) => export::run(ctx, a),
        Cmd::Commit(a) => commit::run(ctx, a),
        Cmd::Update(a) => update::run(ctx, a),
        Cmd::History(a) => history::run(ctx, a),
        Cmd::Events(a) => events::run(ctx, a),
        Cmd::Attach(a) => attach::run(ctx, a),
        Cmd::Port(a) => port::run(ctx, a),
        Cmd::Stats(a) => stats::run(ctx, a),
        Cmd::Container { cmd } => container(ctx, cmd),
        Cmd::Image { cmd } => image(ctx, cmd),
        Cmd::Network { cmd } => network::run(ctx, cmd),
        Cmd::Volume { cmd } => volume::run(ctx, cmd),
        Cmd::System { cmd } => system::run(ctx, cmd),
        Cmd::Completion(a) => completion::completion(Cli::command(), a),
        Cmd::Man(a) => completion::man(Cli::command(), a),
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
