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

pub fn info(c: &Ctx) -> Result<Resp> {
    let d = &c.daemon;
    let all = d
        .containers
        .list(true, None, &berth_api::Filters::default())?;
    let running = all.iter().filter(|s| s.state == "running").count() as i64;
    let paused = all.iter().filter(|s| s.state == "paused").count() as i64;
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<i64>().ok())
        })
        .unwrap_or(0)
        * 1024;
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
        default_runtime: "berth".into(),
        swarm: SwarmInfo::inactive(),
        live_restore_enabled: true,
        isolation: String::new(),
        security_options: vec!["name=seccomp,profile=builtin".into()],
        ..Default::default()
    };
    Ok(h::json(StatusCode::OK, &info))
}

/// `GET /events`: newline-separated JSON messages as they happen (`type` filter honoured).
pub fn events(c: &Ctx) -> Result<Resp> {
    let f = c.query.filters()?;
    f.validate(berth_api::filters::EVENT_FILTERS)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let types: Vec<String> = f.get("type").iter().map(|s| s.to_string()).collect();
    let containers: Vec<String> = f.get("container").iter().map(|s| s.to_string()).collect();
    let until = c.query.int("until")?;
    let mut rx = c.daemon.events.subscribe();
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let deadline = until.map(|u| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            tokio::time::Instant::now() + std::time::Duration::from_secs((u - now).max(0) as u64)
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
                        if !types.is_empty() && !types.contains(&m.r#type) {
                            continue;
                        }
                        if !containers.is_empty()
                            && !containers.iter().any(|c| m.actor.id.starts_with(c.as_str()) || m.actor.attributes.get("name") == Some(c))
                        {
                            continue;
                        }
                        let mut b = serde_json::to_vec(&m).unwrap_or_default();
                        b.push(b'\n');
                        if tx.send(Bytes::from(b)).await.is_err() {
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
