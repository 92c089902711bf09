//! berth-runc: runc's command line over Berth's runtime library.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use berth_runtime::container::{self, CreateOpts, ExecOpts};
use berth_runtime::defaults;
use clap::{Parser, Subcommand};

/// `--version` in runc's layout: dockerd (`docker info`, and its check of the default runtime)
/// and other callers parse "<name> version <v>" / "commit: " / "spec: " lines.
const LONG_VERSION: &str = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0");

#[derive(Parser, Debug)]
#[command(
    name = "berth-runc",
    version,
    long_version = LONG_VERSION,
    about = "Berth's OCI runtime, with runc's command line"
)]
struct Cli {
    /// Root directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = "/run/berth-runc")]
    root: PathBuf,
    /// Log file (errors are also printed on stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    #[arg(long, global = true)]
    debug: bool,
    /// The systemd cgroup driver (not supported: use cgroupfs paths).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Path to criu (accepted for compatibility; checkpoint/restore are not supported yet).
    #[arg(long, global = true)]
    criu: Option<PathBuf>,
    /// Rootless mode: only "auto" and "false" are supported.
    #[arg(long)]
    rootless: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container (INIT waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Output the state of a container.
    State { id: String },
    /// Send a signal to the container's init process.
    Kill {
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Send the signal to every process in the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container and everything it holds.
    Delete {
        id: String,
        #[arg(short, long)]
        force: bool,
    },
    /// Create and start a container, and wait for it.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
        /// Do not delete the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Run a new process inside a container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps {
        id: String,
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers.
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change the resources of a running container.
    Update(UpdateArgs),
    /// Container statistics and OOM events.
    Events {
        id: String,
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// The runtime's features, as JSON.
    Features,
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
    /// Not supported yet.
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Not supported yet.
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    id: String,
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Berth never creates a session keyring: accepted for compatibility.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
}

#[derive(clap::Args, Debug)]
struct ExecArgs {
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    /// A process.json to run instead of the command.
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(short, long)]
    env: Vec<String>,
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    #[arg(short, long)]
    cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    #[arg(long = "process-label")]
    process_label: Option<String>,
    #[arg(long)]
    apparmor: Option<String>,
}

#[derive(clap::Args, Debug)]
struct UpdateArgs {
    id: String,
    /// Resources as JSON (OCI linux.resources), from a file or `-` for stdin.
    #[arg(short, long)]
    resources: Option<String>,
    #[arg(long)]
    memory: Option<String>,
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
}

struct Logger {
    file: Option<std::fs::File>,
    json: bool,
}

/// One log line, as runc's logrus writes it (`level` is "error" or "warning").
fn log_line(json: bool, level: &str, msg: &str) -> String {
    let time = berth_runtime::state::rfc3339(std::time::SystemTime::now());
    if json {
        serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
    } else {
        format!("time={time:?} level={level} msg={msg:?}")
    }
}

impl Logger {
    fn error(&mut self, msg: &str) {
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{}", log_line(self.json, "error", msg));
        }
        eprintln!("{}", log_line(false, "error", msg));
    }
}

fn main() {
    let cli = Cli::parse();
    let mut log = Logger {
        file: cli.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        }),
        json: cli.log_format == "json",
    };
    // Warnings go to --log only, like runc's: on `create` our stderr is the container's stderr.
    if let Some(mut f) = log.file.as_ref().and_then(|f| f.try_clone().ok()) {
        let json = log.json;
        berth_runtime::set_warning_sink(Box::new(move |msg: &str| {
            let _ = writeln!(f, "{}", log_line(json, "warning", msg));
        }));
    }
    match real_main(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            log.error(&format!("{e:#}"));
            std::process::exit(1);
        }
    }
}

fn parse_user(s: &str) -> anyhow::Result<(u32, u32)> {
    let (u, g) = s.split_once(':').unwrap_or((s, "0"));
    Ok((
        u.parse()
            .with_context(|| format!("invalid uid in --user {s:?}"))?,
        g.parse()
            .with_context(|| format!("invalid gid in --user {s:?}"))?,
    ))
}

fn real_main(cli: Cli) -> anyhow::Result<i32> {
    if cli.systemd_cgroup {
        bail!(
            "the systemd cgroup driver is not supported; use cgroupfs paths in linux.cgroupsPath"
        );
    }
    if let Some(r) = &cli.rootless {
        if r != "auto" && r != "false" {
            bail!("rootless mode is not supported yet (--rootless={r})");
        }
    }
    if !matches!(cli.log_format.as_str(), "text" | "json") {
        bail!(
            "invalid --log-format {:?}: want text or json",
            cli.log_format
        );
    }
    let root = cli.root;
    match cli.cmd {
        Cmd::Create(a) => {
            berth_runtime::process::protect_executable();
            container::create(&root, &a.id, &create_opts(&a))?;
            Ok(0)
        }
        Cmd::Start { id } => {
            container::start(&root, &id)?;
            Ok(0)
        }
        Cmd::State { id } => {
            let s = container::oci_state(&root, &id)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(0)
        }
        Cmd::Kill { id, signal, all } => {
            container::kill(&root, &id, container::parse_signal(&signal)?, all)?;
            Ok(0)
        }
        Cmd::Delete { id, force } => {
            match container::delete(&root, &id, force) {
                Err(berth_runtime::RuntimeError::NotFound(_)) if force => {}
                r => r?,
            }
            Ok(0)
        }
        Cmd::Run {
            create,
            detach,
            keep,
        } => {
            berth_runtime::process::protect_executable();
            let opts = create_opts(&create);
            if keep {
                let c = container::create(&root, &create.id, &opts)?;
                container::start(&root, &create.id)?;
                return Ok(if detach {
                    0
                } else {
                    container::wait_exit(c.pid)?
                });
            }
            Ok(container::run(&root, &create.id, &opts, detach)?)
        }
        Cmd::Exec(a) => {
            berth_runtime::process::protect_executable();
            exec(&root, a)
        }
        Cmd::Ps {
            id,
            format,
            ps_args,
        } => {
            let pids = container::pids(&root, &id)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string(&pids)?),
                "table" => {
                    let args = if ps_args.is_empty() {
                        vec!["-ef".to_string()]
                    } else {
                        ps_args
                    };
                    let out = std::process::Command::new("ps")
                        .args(&args)
                        .output()
                        .context("run ps")?;
                    let text = String::from_utf8_lossy(&out.stdout);
                    let mut lines = text.lines();
                    let header = lines.next().unwrap_or("");
                    let pid_col = header
                        .split_whitespace()
                        .position(|h| h == "PID")
                        .ok_or_else(|| anyhow!("ps output has no PID column"))?;
                    println!("{header}");
                    for l in lines {
                        let pid: i32 = l
                            .split_whitespace()
                            .nth(pid_col)
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(-1);
                        if pids.contains(&pid) {
                            println!("{l}");
                        }
                    }
                }
                f => bail!("invalid format option {f:?}"),
            }
            Ok(0)
        }
        Cmd::List { format, quiet } => {
            let all = container::list(&root)?;
            if quiet {
                for s in &all {
                    println!("{}", s.id);
                }
            } else if format == "json" {
                println!("{}", serde_json::to_string(&all)?);
            } else if format == "table" {
                println!(
                    "{:<12} {:<10} {:<10} {:<40} {:<30} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for s in &all {
                    println!(
                        "{:<12} {:<10} {:<10} {:<40} {:<30} {}",
                        s.id,
                        s.pid,
                        s.status.to_string(),
                        s.bundle.display(),
                        s.created,
                        if s.owner.is_empty() { "root" } else { &s.owner }
                    );
                }
            } else {
                bail!("invalid format option {format:?}");
            }
            Ok(0)
        }
        Cmd::Pause { id } => {
            container::pause(&root, &id)?;
            Ok(0)
        }
        Cmd::Resume { id } => {
            container::resume(&root, &id)?;
            Ok(0)
        }
        Cmd::Update(a) => {
            update(&root, a)?;
            Ok(0)
        }
        Cmd::Events {
            id,
            stats,
            interval,
        } => {
            events(&root, &id, stats, &interval)?;
            Ok(0)
        }
        Cmd::Features => {
            println!("{}", serde_json::to_string_pretty(&defaults::features())?);
            Ok(0)
        }
        Cmd::Spec { bundle, rootless } => {
            if rootless {
                bail!("rootless specs are not supported yet");
            }
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            std::fs::write(&path, serde_json::to_string_pretty(&defaults::spec())?)
                .with_context(|| format!("write {}", path.display()))?;
            Ok(0)
        }
        Cmd::Checkpoint { .. } | Cmd::Restore { .. } => {
            bail!("checkpoint and restore are not supported yet")
        }
    }
}

fn create_opts(a: &CreateArgs) -> CreateOpts {
    let _ = a.no_new_keyring;
    CreateOpts {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
    }
}

fn exec(root: &std::path::Path, a: ExecArgs) -> anyhow::Result<i32> {
    let mut process = match &a.process {
        Some(p) => {
            let data = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
            let de = &mut serde_json::Deserializer::from_slice(&data);
            serde_path_to_error_free(de).map_err(|e| anyhow!("process.json: {e}"))?
        }
        None => {
            if a.command.is_empty() {
                bail!("exec: a command or --process is required");
            }
            let user = match &a.user {
                Some(u) => {
                    let (uid, gid) = parse_user(u)?;
                    Some((uid, gid, a.additional_gids.clone()))
                }
                None => None,
            };
            container::exec_process_from_config(
                root,
                &a.id,
                container::ExecOverrides {
                    args: a.command.clone(),
                    env: a.env.clone(),
                    cwd: a.cwd.clone(),
                    user,
                    tty: a.tty,
                    caps: a.cap.clone(),
                    no_new_privs: a.no_new_privs,
                },
            )?
        }
    };
    if let Some(l) = &a.process_label {
        process.set_selinux_label(Some(l.clone()));
    }
    if let Some(p) = &a.apparmor {
        process.set_apparmor_profile(Some(p.clone()));
    }
    if a.process.is_some() && a.tty {
        process.set_terminal(Some(true));
    }
    let opts = ExecOpts {
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
    };
    let pid = container::exec(root, &a.id, &process, &opts)?;
    if a.detach {
        return Ok(0);
    }
    Ok(container::wait_exit(pid)?)
}

fn serde_path_to_error_free(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<oci_spec::runtime::Process, String> {
    use serde::Deserialize;
    oci_spec::runtime::Process::deserialize(de).map_err(|e| e.to_string())
}

fn parse_bytes(s: &str) -> anyhow::Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let (num, mult) = match t.trim_end_matches('b').chars().last() {
        Some('k') => (&t[..t.trim_end_matches('b').len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (t.trim_end_matches('b'), 1),
    };
    let n: f64 = num.parse().with_context(|| format!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as i64)
}

fn update(root: &std::path::Path, a: UpdateArgs) -> anyhow::Result<()> {
    let mut res: oci_spec::runtime::LinuxResources = match &a.resources {
        Some(src) => {
            let mut data = Vec::new();
            if src == "-" {
                std::io::stdin().read_to_end(&mut data)?;
            } else {
                data = std::fs::read(src).with_context(|| format!("read {src}"))?;
            }
            serde_json::from_slice(&data).context("resources JSON")?
        }
        None => Default::default(),
    };
    let mut mem = res.memory().unwrap_or_default();
    let mut mem_set = res.memory().is_some();
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if mem_set {
        res.set_memory(Some(mem));
    }
    let mut cpu = res.cpu().clone().unwrap_or_default();
    let cpu_set = res.cpu().is_some()
        || a.cpu_shares.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some();
    if let Some(v) = a.cpu_shares {
        cpu.set_shares(Some(v));
    }
    if let Some(v) = a.cpu_quota {
        cpu.set_quota(Some(v));
    }
    if let Some(v) = a.cpu_period {
        cpu.set_period(Some(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
    }
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = oci_spec::runtime::LinuxPids::default();
        pids.set_limit(p);
        res.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = res.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    for w in container::update(root, &a.id, &res)? {
        berth_runtime::warn(&w);
    }
    Ok(())
}

fn parse_duration(s: &str) -> anyhow::Result<std::time::Duration> {
    let (n, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let v: f64 = n
        .parse()
        .with_context(|| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => bail!("invalid duration {s:?}"),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn events(root: &std::path::Path, id: &str, stats: bool, interval: &str) -> anyhow::Result<()> {
    let every = parse_duration(interval)?;
    let mut last_oom = container::oom_count(root, id).unwrap_or(0);
    loop {
        let s = container::stats(root, id)?;
        let ev = serde_json::json!({"type": "stats", "id": id, "data": s});
        println!("{ev}");
        std::io::stdout().flush()?;
        if stats {
            return Ok(());
        }
        let deadline = std::time::Instant::now() + every;
        while std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let oom = container::oom_count(root, id).unwrap_or(last_oom);
            if oom > last_oom {
                last_oom = oom;
                println!("{}", serde_json::json!({"type": "oom", "id": id}));
                std::io::stdout().flush()?;
            }
            if container::oci_state(root, id)
                .map(|s| s.status == berth_runtime::state::Status::Stopped)
                .unwrap_or(true)
            {
                return Ok(());
            }
        }
    }
}
