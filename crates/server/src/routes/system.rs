//! `/_ping`, `/version`, `/info`, `/events`.
use std::collections::BTreeMap;

use berth_api::system::{ComponentVersion, Platform, SwarmInfo, SystemInfo, SystemVersion};
use berth_api::{MAX_API_VERSION, MIN_API_VERSION};
use berth_daemon::{Error, Result};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};

use crate::http::{self as h, Resp};
use crate::router::Ctx;

pub fn ping(m: &Method) -> Resp {
    let mut r = if m == Method::HEAD {
        h::bytes(StatusCode::OK, "text/plain; charset=utf-8", Bytes::new())
    } else {
        h::bytes(StatusCode::OK, "text/plain; charset=utf-8", "OK")
    };
    let hd = r.headers_mut();
    for (k, v) in [
        ("cache-control", "no-cache, no-store, must-revalidate"),
        ("pragma", "no-cache"),
        ("builder-version", "1"),
        ("swarm", "inactive"),
    ] {
        hd.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn version(_c: &Ctx) -> Resp {
    let details = BTreeMap::from([
        ("ApiVersion".to_string(), MAX_API_VERSION.to_string()),
        ("MinAPIVersion".to_string(), MIN_API_VERSION.to_string()),
        ("GitCommit".to_string(), crate::GIT_COMMIT.to_string()),
        ("GoVersion".to_string(), "n/a (Rust)".to_string()),
        ("Os".to_string(), "linux".to_string()),
        ("Arch".to_string(), arch().to_string()),
        ("KernelVersion".to_string(), kernel()),
        ("Experimental".to_string(), "false".to_string()),
        ("BuildTime".to_string(), String::new()),
    ]);
    let v = SystemVersion {
        platform: Platform {
            name: "Berth Engine".into(),
        },
        components: vec![ComponentVersion {
            name: "Engine".into(),
            version: crate::ENGINE_VERSION.into(),
            details,
        }],
        version: crate::ENGINE_VERSION.into(),
        api_version: MAX_API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: crate::GIT_COMMIT.into(),
        go_version: "n/a (Rust)".into(),
        os: "linux".into(),
        arch: arch().into(),
        kernel_version: kernel(),
        experimental: false,
        build_time: String::new(),
    };
    h::json(StatusCode::OK, &v)
}

/// `Runtimes` of `docker info`: the linked runtime (the shim's own binary does the work) and
/// every added one.
fn runtimes(
    cfg: &berth_daemon::DaemonConfig,
) -> std::collections::BTreeMap<String, berth_api::system::Runtime> {
    let mut m = std::collections::BTreeMap::new();
    m.insert(
        berth_daemon::config::LINKED_RUNTIME.to_string(),
        berth_api::system::Runtime {
            path: cfg.shim.display().to_string(),
            runtime_args: Vec::new(),
        },
    );
    for (name, rt) in &cfg.runtimes {
        m.insert(
            name.clone(),
            berth_api::system::Runtime {
                path: rt.path.display().to_string(),
                runtime_args: rt.args.clone(),
            },
        );
    }
    m
}

pub fn info(c: &Ctx) -> Result<Resp> {
    let d = &c.daemon;
    let all = d
        .containers
        .list(true, None, &berth_api::Filters::default())?;
    let running = all.iter().filter(|s| s.state == "running").count() as i64;
    let paused = all.iter().filter(|s| s.state == "paused").count() as i64;
    let mem_total = berth_daemon::containers::host_memory() as i64;
    let cgv2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let info = SystemInfo {
        id: "berth".into(),
        containers: all.len() as i64,
        containers_running: running,
        containers_paused: paused,
        containers_stopped: all.len() as i64 - running - paused,
        images: d.images.list(false).len() as i64,
        driver: "overlay2".into(),
        memory_limit: true,
        swap_limit: true,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        oom_kill_disable: true,
        logging_driver: "json-file".into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: if cgv2 { "2" } else { "1" }.into(),
        kernel_version: kernel(),
        operating_system: "Berth".into(),
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        ncpu: std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1),
        mem_total,
        docker_root_dir: d.config.data_root.display().to_string(),
        name: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        server_version: crate::ENGINE_VERSION.into(),
        runtimes: runtimes(&d.config),
        default_runtime: d.config.default_runtime.clone(),
        swarm: SwarmInfo::inactive(),
        live_restore_enabled: true,
        isolation: String::new(),
        // dockerd's order: apparmor (when the host has it), seccomp, userns.
        security_options: berth_daemon::apparmor::host_enabled()
            .then(|| "name=apparmor".to_string())
            .into_iter()
            .chain(std::iter::once("name=seccomp,profile=builtin".to_string()))
            .chain(d.config.userns_remap.as_ref().map(|r| r.security_option()))
            .collect(),
        ..Default::default()
    };
    Ok(h::json(StatusCode::OK, &info))
}

/// `GET /events`: newline-separated JSON messages as they happen (`type` filter honoured).
pub fn events(c: &Ctx) -> Result<Resp> {
    let f = c.query.filters()?;
    f.validate(berth_api::filters::EVENT_FILTERS)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let own = |k: &str| -> Vec<String> { f.get(k).iter().map(|s| s.to_string()).collect() };
    let types = own("type");
    let containers = own("container");
    let actions = own("event");
    let images = own("image");
    let labels = own("label");
    let networks = own("network");
    let volumes = own("volume");
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let since = parse_time(c.query.get("since"), now_ns)?;
    let until = parse_time(c.query.get("until"), now_ns)?;
    let (past, mut rx) = c
        .daemon
        .events
        .replay_and_subscribe(since.unwrap_or(i64::MAX), until);
    // moby's filters: each key any-of, all keys together.
    let keep = move |m: &berth_api::system::EventMessage| {
        let attr = |k: &str| m.actor.attributes.get(k);
        let by_id_or_name = |want: &Vec<String>, typ: &str| {
            want.is_empty()
                || (m.r#type == typ
                    && want
                        .iter()
                        .any(|w| m.actor.id.starts_with(w.as_str()) || attr("name") == Some(w)))
        };
        (types.is_empty() || types.contains(&m.r#type))
            && by_id_or_name(&containers, "container")
            && by_id_or_name(&networks, "network")
            && by_id_or_name(&volumes, "volume")
            && (actions.is_empty()
                || actions.iter().any(|a| {
                    m.action == *a || m.action.split_once(':').map(|x| x.0) == Some(a.as_str())
                }))
            && (images.is_empty()
                || images.iter().any(|i| {
                    attr("image") == Some(i)
                        || (m.r#type == "image" && m.actor.id.contains(i.as_str()))
                }))
            && labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => attr(k).is_some_and(|x| x == v),
                None => attr(l).is_some(),
            })
    };
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let line = |m: &berth_api::system::EventMessage| {
            let mut b = serde_json::to_vec(m).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        for m in past.iter().filter(|m| keep(m)) {
            if tx.send(line(m)).await.is_err() {
                return;
            }
        }
        // With an until in the past there is nothing more to wait for.
        let deadline = until.map(|u| {
            tokio::time::Instant::now()
                + std::time::Duration::from_nanos(u.saturating_sub(now_ns).max(0) as u64)
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                m = next => match m {
                    None => return,
                    Some(Ok(m)) => {
                        if !keep(&m) {
                            continue;
                        }
                        if tx.send(line(&m)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                    Some(Err(_)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

/// `since`/`until`: Unix seconds with an optional fraction, as the CLI sends them (it converts
/// durations like `10m` and dates itself). Nanoseconds, `None` when absent.
fn parse_time(v: Option<&str>, _now_ns: i64) -> Result<Option<i64>> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => {
            let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
            let secs: i64 = secs
                .parse()
                .map_err(|_| Error::invalid(format!("invalid time value: {s}")))?;
            let mut f = frac.to_string();
            f.truncate(9);
            while f.len() < 9 {
                f.push('0');
            }
            let nanos: i64 = if frac.is_empty() {
                0
            } else {
                f.parse().unwrap_or(0)
            };
            Ok(Some(secs * 1_000_000_000 + nanos))
        }
    }
}

/// `GET /system/df`: images with their sizes, containers with their writable layers.
pub fn df(c: &Ctx) -> Result<Resp> {
    let d = &c.daemon;
    let mut images = d.images.list(true);
    let (shared, layers) = d.images.layer_sharing();
    let all = d
        .containers
        .list(true, None, &berth_api::Filters::default())?;
    for i in images.iter_mut() {
        // Containers made from the image (any state), as Docker counts them.
        i.containers = all.iter().filter(|c| c.image_id == i.id).count() as i64;
        i.shared_size = shared.get(&i.id).copied().unwrap_or(0);
    }
    let mut containers = d
        .containers
        .list(true, None, &berth_api::Filters::default())?;
    for ct in containers.iter_mut() {
        ct.size_rw = d.containers.size_rw(&ct.id).unwrap_or(0);
        ct.size_root_fs = images
            .iter()
            .find(|i| i.id == ct.image_id)
            .map(|i| i.size + ct.size_rw)
            .unwrap_or(ct.size_rw);
    }
    let v = berth_api::system::DiskUsage {
        layers_size: layers,
        images,
        containers,
        volumes: crate::routes::volumes::usage(d)?,
        build_cache: Vec::new(),
    };
    Ok(h::json(StatusCode::OK, &v))
}
