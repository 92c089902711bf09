//! `berth create` and the container flags shared with `run`: flags → the create body, field by
//! field as the docker CLI 28 sends it (see the captured bodies in `tests/fixtures`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use berth_api::container::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, HealthConfig, HostConfig,
    LogConfig, PortBinding, Resources, RestartPolicy,
};
use berth_api::network::{EndpointSettings, NetworkingConfig};
use clap::{ArgAction, Args};

use super::{cpath, CmdError, CmdResult, Ctx};
use crate::client::{Body, ClientError, Request};
use crate::units;

/// Container configuration flags (`docker create`/`docker run`).
#[derive(Debug, Clone, Default, Args)]
pub struct ContainerFlags {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs directory
    #[arg(long, value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string")]
    pub hostname: Option<String>,
    /// Connect a container to a network (none, host, or a network name)
    #[arg(long = "network", alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<i64>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string")]
    pub restart: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

/// `berth create`.
#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// The container.
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// How the container's streams are attached (from `-d`, `-i`, `-t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachMode {
    /// `-d`.
    pub detach: bool,
    /// Terminal size for `ConsoleSize` (`-t` on a terminal).
    pub console: Option<(u16, u16)>,
}

fn env_entry(e: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if e.contains('=') {
        e.to_owned()
    } else {
        match lookup(e) {
            Some(v) => format!("{e}={v}"),
            None => e.to_owned(),
        }
    }
}

fn cap(c: &str) -> String {
    let u = c.trim().to_ascii_uppercase();
    if u == "ALL" || u.starts_with("CAP_") {
        u
    } else {
        format!("CAP_{u}")
    }
}

fn parse_publish(
    spec: &str,
    exposed: &mut BTreeSet<String>,
    bindings: &mut BTreeMap<String, Vec<PortBinding>>,
) -> Result<(), CmdError> {
    let bad = || {
        CmdError::Usage(format!(
            "invalid argument \"{spec}\" for \"-p, --publish\" flag: invalid port"
        ))
    };
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_owned()),
        None => (spec, "tcp".to_owned()),
    };
    let parts: Vec<&str> = if rest.starts_with('[') {
        // [v6]:host:ctr
        let end = rest.find(']').ok_or_else(bad)?;
        let mut v = vec![&rest[1..end]];
        v.extend(rest[end + 1..].trim_start_matches(':').split(':'));
        v
    } else {
        rest.split(':').collect()
    };
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(bad()),
    };
    if ctr.is_empty() || !ctr.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return Err(bad());
    }
    let key = format!("{ctr}/{proto}");
    exposed.insert(key.clone());
    bindings.entry(key).or_default().push(PortBinding {
        host_ip: ip.to_owned(),
        host_port: host.to_owned(),
    });
    Ok(())
}

/// A `--health-*` duration in nanoseconds (Go's `time.ParseDuration`), negative refused.
fn health_duration(flag: &str, v: Option<&str>) -> Result<i64, CmdError> {
    let Some(v) = v else { return Ok(0) };
    let (neg, body) = match v.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let n = units::go_duration_nanos(body).ok_or_else(|| {
        let why = if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit() || c == '.') {
            format!("time: missing unit in duration \"{v}\"")
        } else {
            format!("time: invalid duration \"{v}\"")
        };
        CmdError::Usage(format!(
            "invalid argument \"{v}\" for \"--{flag}\" flag: {why}"
        ))
    })?;
    if neg && n != 0 {
        return Err(CmdError::Usage(format!("--{flag} cannot be negative")));
    }
    Ok(n)
}

impl ContainerFlags {
    /// The health check of `--health-*` / `--no-healthcheck`, as the docker CLI builds it.
    pub fn healthcheck(&self) -> Result<Option<HealthConfig>, CmdError> {
        let interval = health_duration("health-interval", self.health_interval.as_deref())?;
        let timeout = health_duration("health-timeout", self.health_timeout.as_deref())?;
        let start_period =
            health_duration("health-start-period", self.health_start_period.as_deref())?;
        let start_interval = health_duration(
            "health-start-interval",
            self.health_start_interval.as_deref(),
        )?;
        let retries = self.health_retries.unwrap_or(0);
        let cmd = self.health_cmd.clone().unwrap_or_default();
        let any = !cmd.is_empty()
            || interval != 0
            || timeout != 0
            || start_period != 0
            || start_interval != 0
            || retries != 0;
        if self.no_healthcheck {
            if any {
                return Err(CmdError::Usage(
                    "--no-healthcheck conflicts with --health-* options".into(),
                ));
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..HealthConfig::default()
            }));
        }
        if !any {
            return Ok(None);
        }
        if retries < 0 {
            return Err(CmdError::Usage(
                "--health-retries cannot be negative".into(),
            ));
        }
        Ok(Some(HealthConfig {
            test: if cmd.is_empty() {
                Vec::new()
            } else {
                vec!["CMD-SHELL".into(), cmd]
            },
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        }))
    }

    /// The image and command.
    pub fn image(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }

    /// Reads `--env-file` files: `KEY=value` lines, `KEY` alone takes the local value, `#`
    /// comments and blank lines skipped.
    fn env_files(&self) -> Result<Vec<String>, CmdError> {
        let mut out = Vec::new();
        for f in &self.env_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| CmdError::Usage(format!("open {}: {e}", f.display())))?;
            for line in text.lines() {
                let l = line.trim_start();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                out.push(l.to_owned());
            }
        }
        Ok(out)
    }

    /// The create body (and `?name=`), as the docker CLI builds it. `lookup` reads the local
    /// environment (for `-e NAME`), `cwd` resolves relative bind sources.
    pub fn create_body(
        &self,
        mode: AttachMode,
        lookup: &dyn Fn(&str) -> Option<String>,
        cwd: &std::path::Path,
    ) -> Result<ContainerCreateRequest, CmdError> {
        let image = self.image().to_owned();
        let cmd: Vec<String> = self.args.iter().skip(1).cloned().collect();
        let attach = !mode.detach;
        let mut env: Vec<String> = self
            .env_files()?
            .iter()
            .map(|e| env_entry(e, lookup))
            .collect();
        env.extend(self.env.iter().map(|e| env_entry(e, lookup)));

        let mut labels = BTreeMap::new();
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.to_owned(), v.to_owned());
        }

        let mut binds = Vec::new();
        let mut volumes = BTreeSet::new();
        for v in &self.volume {
            let parts: Vec<&str> = v.splitn(3, ':').collect();
            if parts.len() == 1 {
                volumes.insert(v.clone());
                continue;
            }
            let src = parts[0];
            let src = if src.starts_with('.') {
                super::abs_path(cwd, src)
            } else {
                src.to_owned()
            };
            let mut b = format!("{src}:{}", parts[1]);
            if let Some(o) = parts.get(2) {
                b.push(':');
                b.push_str(o);
            }
            binds.push(b);
        }

        let mounts = self
            .mount
            .iter()
            .map(|m| super::mount_opt::parse(m, cwd))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CmdError::Usage(e.to_string()))?;

        let mut tmpfs = BTreeMap::new();
        for t in &self.tmpfs {
            let (p, o) = t.split_once(':').unwrap_or((t, ""));
            tmpfs.insert(p.to_owned(), o.to_owned());
        }

        let mut exposed = BTreeSet::new();
        let mut port_bindings = BTreeMap::new();
        for p in &self.publish {
            parse_publish(p, &mut exposed, &mut port_bindings)?;
        }

        let restart = match self.restart.as_deref() {
            None | Some("") => RestartPolicy {
                name: "no".into(),
                maximum_retry_count: 0,
            },
            Some(r) => {
                let (name, n) = r.split_once(':').unwrap_or((r, "0"));
                let n: i64 = n.parse().map_err(|_| {
                    CmdError::Usage(format!("invalid restart policy format: maximum retry count must be an integer: {r}"))
                })?;
                if !matches!(name, "no" | "always" | "unless-stopped" | "on-failure") {
                    return Err(CmdError::Usage(format!("invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")));
                }
                RestartPolicy {
                    name: name.to_owned(),
                    maximum_retry_count: n,
                }
            }
        };

        let network = self.network.clone().unwrap_or_else(|| "default".into());
        let mut endpoints = BTreeMap::new();
        if !matches!(network.as_str(), "host" | "none") && !network.starts_with("container:") {
            endpoints.insert(network.clone(), EndpointSettings::default());
        }

        let config = ContainerConfig {
            hostname: self.hostname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin: attach && self.interactive,
            attach_stdout: attach,
            attach_stderr: attach,
            exposed_ports: exposed,
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: attach && self.interactive,
            env: (!env.is_empty()).then_some(env),
            cmd: (!cmd.is_empty()).then_some(cmd),
            image,
            volumes: Some(volumes),
            working_dir: self.workdir.clone().unwrap_or_default(),
            entrypoint: self.entrypoint.as_ref().map(|e| vec![e.clone()]),
            labels: Some(labels),
            stop_signal: self.stop_signal.clone().unwrap_or_default(),
            stop_timeout: self.stop_timeout,
            healthcheck: self.healthcheck()?,
            ..ContainerConfig::default()
        };
        let resources = Resources {
            memory: self
                .memory
                .as_deref()
                .map(units::ram_in_bytes)
                .transpose()?
                .unwrap_or(0),
            nano_cpus: self
                .cpus
                .as_deref()
                .map(units::nano_cpus)
                .transpose()?
                .unwrap_or(0),
            pids_limit: Some(self.pids_limit.unwrap_or(0)),
            blkio_weight_device: Some(Vec::new()),
            blkio_device_read_bps: Some(Vec::new()),
            blkio_device_write_bps: Some(Vec::new()),
            blkio_device_read_iops: Some(Vec::new()),
            blkio_device_write_iops: Some(Vec::new()),
            devices: Some(Vec::new()),
            memory_swappiness: Some(-1),
            oom_kill_disable: Some(false),
            ulimits: Some(Vec::new()),
            ..Resources::default()
        };
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let host = HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            log_config: LogConfig {
                r#type: String::new(),
                config: Some(BTreeMap::new()),
            },
            network_mode: network,
            port_bindings: Some(
                port_bindings
                    .into_iter()
                    .map(|(k, v)| (k, Some(v)))
                    .collect(),
            ),
            restart_policy: restart,
            auto_remove: self.rm,
            cap_add: (!self.cap_add.is_empty())
                .then(|| self.cap_add.iter().map(|c| cap(c)).collect()),
            cap_drop: (!self.cap_drop.is_empty())
                .then(|| self.cap_drop.iter().map(|c| cap(c)).collect()),
            dns: Some(Vec::new()),
            dns_options: Some(Vec::new()),
            dns_search: Some(Vec::new()),
            privileged: self.privileged,
            readonly_rootfs: self.read_only,
            security_opt: list(&self.security_opt),
            tmpfs,
            console_size: mode
                .console
                .map_or([0, 0], |(h, w)| [u64::from(h), u64::from(w)]),
            resources,
            init: self.init.then_some(true),
            mounts,
            volumes_from: list(&self.volumes_from),
            ..HostConfig::default()
        };
        Ok(ContainerCreateRequest {
            config,
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: endpoints,
            }),
        })
    }
}

/// Sends the create request; prints the daemon's warnings to stderr.
pub fn create_container(
    ctx: &Ctx,
    body: &ContainerCreateRequest,
    name: Option<&str>,
) -> Result<String, ClientError> {
    let mut req = Request::new("POST", "/containers/create").body(Body::json(body)?);
    if let Some(n) = name {
        req = req.query("name", n);
    }
    let resp: ContainerCreateResponse = ctx.client.json(req)?;
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(resp.id)
}

/// Create, pulling the image once on "No such image" (as the docker CLI: "Unable to find image
/// 'x:latest' locally", then the pull, then create again).
pub fn create_or_pull(
    ctx: &Ctx,
    body: &ContainerCreateRequest,
    name: Option<&str>,
) -> Result<String, ClientError> {
    match create_container(ctx, body, name) {
        Err(e)
            if e.is_not_found() && e.message().is_some_and(|m| m.starts_with("No such image")) =>
        {
            let image = &body.config.image;
            eprintln!("Unable to find image '{}' locally", super::tagged(image));
            pull(ctx, image)?;
            create_container(ctx, body, name)
        }
        r => r,
    }
}

/// `POST /images/create?fromImage=&tag=` with the progress printed to stderr (non-TTY style).
pub fn pull(ctx: &Ctx, image: &str) -> Result<(), ClientError> {
    let (name, tag) = super::split_ref(image, true);
    let mut req = Request::new("POST", "/images/create").query("fromImage", name);
    if let Some(t) = tag {
        req = req.query("tag", t);
    }
    req.headers.push((
        "X-Registry-Auth".into(),
        super::registry::auth_header(image),
    ));
    let resp = ctx.client.send(req)?;
    crate::client::read_progress(resp, |m| {
        if m.progress_detail
            .as_ref()
            .is_some_and(|d| d.current != 0 || d.total != 0)
        {
            return;
        }
        if !m.status.is_empty() {
            if m.id.is_empty() {
                eprintln!("{}", m.status);
            } else {
                eprintln!("{}: {}", m.id, m.status);
            }
        }
    })
}

/// The `run`/`create` error print: `berth: <err>` + the help hint, exit 125.
pub fn run_error(cmd: &str, e: impl std::fmt::Display, code: i32) -> CmdError {
    CmdError::Status {
        message: format!("berth: {e}\n\nRun 'berth {cmd} --help' for more information"),
        code,
    }
}

/// `berth create`: prints the new container's ID.
pub fn run(ctx: &Ctx, args: CreateArgs) -> CmdResult {
    let f = &args.flags;
    let console = if f.tty { crate::term::size() } else { None };
    let cwd = std::env::current_dir().unwrap_or_default();
    let body = f
        .create_body(
            AttachMode {
                detach: true,
                console,
            },
            &|k| std::env::var(k).ok(),
            &cwd,
        )
        .map_err(|e| run_error("create", e, 125))?;
    // `docker create` keeps the Attach* flags of a foreground run.
    let mut body = body;
    body.config.attach_stdin = f.interactive;
    body.config.attach_stdout = true;
    body.config.attach_stderr = true;
    body.config.stdin_once = f.interactive;
    let id =
        create_or_pull(ctx, &body, f.name.as_deref()).map_err(|e| run_error("create", e, 125))?;
    super::out(&format!("{id}\n"));
    let _ = cpath;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::Value;

    #[derive(Parser, Debug)]
    #[command(disable_help_flag = true)]
    struct T {
        #[arg(short = 'd', long)]
        detach: bool,
        #[command(flatten)]
        f: ContainerFlags,
    }

    fn parse(argv: &[&str]) -> T {
        T::try_parse_from(std::iter::once("run").chain(argv.iter().copied())).unwrap()
    }

    fn body(t: &T, console: Option<(u16, u16)>) -> Value {
        let env = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        let b =
            t.f.create_body(
                AttachMode {
                    detach: t.detach,
                    console,
                },
                &env,
                std::path::Path::new("/work"),
            )
            .unwrap();
        serde_json::to_value(b).unwrap()
    }

    /// Every key we send equals docker's; every key docker sends is ours, except fields of API
    /// versions above 1.41 (`GwPriority`, `DNSNames`), absent from berth-api's 1.41 types.
    fn same(ours: &Value, docker: &Value, path: &str) {
        const NEWER: &[&str] = &["GwPriority", "DNSNames"];
        match (ours, docker) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    if NEWER.contains(&k.as_str()) {
                        continue;
                    }
                    let o = a
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}.{k} missing, docker: {v}"));
                    same(o, v, &format!("{path}.{k}"));
                }
                for k in a.keys() {
                    // API 1.41 fields that CLI 28 no longer sends.
                    let older = ["KernelMemory", "KernelMemoryTCP"].contains(&k.as_str());
                    assert!(
                        b.contains_key(k) || older,
                        "{path}.{k} not sent by docker: {}",
                        a[k]
                    );
                }
            }
            _ => assert_eq!(ours, docker, "at {path}"),
        }
    }

    fn fixture(name: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn run_rm_echo_matches_docker() {
        let t = parse(&["--rm", "busybox", "echo", "hi"]);
        same(&body(&t, None), &fixture("docker-run-rm-echo.json"), "");
    }

    #[test]
    fn many_flags_match_docker() {
        let t = parse(&[
            "-d",
            "--name",
            "t",
            "-e",
            "FOO=bar",
            "-e",
            "BAZ",
            "-e",
            "HOME",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "--entrypoint",
            "/bin/echo",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "mknod",
            "--read-only",
            "--tmpfs",
            "/run:size=1m",
            "-v",
            "/tmp:/h:ro",
            "-v",
            "/data",
            "--security-opt",
            "no-new-privileges",
            "--hostname",
            "hh",
            "--network",
            "none",
            "--label",
            "a=b",
            "--label",
            "c",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "5",
            "-p",
            "8080:80",
            "busybox",
            "x",
            "y",
        ]);
        assert_eq!(t.f.name.as_deref(), Some("t"));
        same(&body(&t, None), &fixture("docker-run-d-flags.json"), "");
    }

    #[test]
    fn interactive_restart_init_match_docker() {
        let t = parse(&["-i", "--restart", "on-failure:3", "--init", "busybox", "sh"]);
        same(
            &body(&t, None),
            &fixture("docker-run-i-restart-init.json"),
            "",
        );
    }

    #[test]
    fn tty_host_network_match_docker() {
        let t = parse(&["-it", "--network", "host", "--rm", "busybox", "sh"]);
        same(
            &body(&t, Some((30, 100))),
            &fixture("docker-run-it-host.json"),
            "",
        );
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let t = parse(&["-d", "busybox", "ls", "-l", "--rm", "-h"]);
        assert!(!t.f.rm);
        assert_eq!(t.f.args, ["busybox", "ls", "-l", "--rm", "-h"]);
        let t = parse(&["-h", "box", "busybox"]);
        assert_eq!(t.f.hostname.as_deref(), Some("box"));
    }

    #[test]
    fn health_and_mounts() {
        let t = parse(&[
            "--health-cmd",
            "true",
            "--health-interval",
            "1m30s",
            "--health-retries",
            "2",
            "--health-start-period",
            "500ms",
            "--mount",
            "type=tmpfs,dst=/t",
            "--volumes-from",
            "other:ro",
            "busybox",
        ]);
        let v = body(&t, None);
        assert_eq!(
            v["Healthcheck"],
            serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64,
                "StartPeriod": 500_000_000, "Retries": 2})
        );
        assert_eq!(
            v["HostConfig"]["Mounts"],
            serde_json::json!([{"Type": "tmpfs", "Target": "/t"}])
        );
        assert_eq!(
            v["HostConfig"]["VolumesFrom"],
            serde_json::json!(["other:ro"])
        );
        let t = parse(&["--no-healthcheck", "busybox"]);
        assert_eq!(
            body(&t, None)["Healthcheck"],
            serde_json::json!({"Test": ["NONE"]})
        );
        let env = |_: &str| None;
        let cwd = std::path::Path::new("/");
        let mode = AttachMode {
            detach: true,
            console: None,
        };
        for (argv, msg) in [
            (
                &["--no-healthcheck", "--health-retries", "1", "busybox"][..],
                "--no-healthcheck conflicts with --health-* options",
            ),
            (
                &["--health-interval", "5", "busybox"],
                "invalid argument \"5\" for \"--health-interval\" flag: time: missing unit in duration \"5\"",
            ),
            (
                &["--health-timeout", "-1s", "busybox"],
                "--health-timeout cannot be negative",
            ),
            (
                &["--mount", "type=bind,src=/x", "busybox"],
                "invalid argument \"type=bind,src=/x\" for \"--mount\" flag: target is required",
            ),
        ] {
            let e = parse(argv).f.create_body(mode, &env, cwd).unwrap_err();
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn publish_forms() {
        let mut e = BTreeSet::new();
        let mut b = BTreeMap::new();
        parse_publish("127.0.0.1:18081:81/udp", &mut e, &mut b).unwrap();
        parse_publish("80", &mut e, &mut b).unwrap();
        assert!(e.contains("81/udp") && e.contains("80/tcp"));
        assert_eq!(b["81/udp"][0].host_ip, "127.0.0.1");
        assert_eq!(b["80/tcp"][0].host_port, "");
        assert!(parse_publish("a:b:c:d", &mut e, &mut b).is_err());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let t = parse(&["-m", "lots", "busybox"]);
        let e =
            t.f.create_body(
                AttachMode {
                    detach: false,
                    console: None,
                },
                &|_| None,
                std::path::Path::new("/"),
            )
            .unwrap_err();
        assert!(e.to_string().contains("invalid size"), "{e}");
        let t = parse(&["--restart", "sometimes", "busybox"]);
        assert!(t
            .f
            .create_body(
                AttachMode {
                    detach: false,
                    console: None
                },
                &|_| None,
                std::path::Path::new("/")
            )
            .is_err());
    }
}
