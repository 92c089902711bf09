//! `POST /build` (Docker's classic builder stream) and `POST /build/prune`.
use std::collections::BTreeMap;

use berth_api::image::ProgressMessage;
use berth_daemon::build::{check_tag, BuildError, BuildOptions, Context, Event};
use berth_daemon::{Error, ErrorKind, Result};
use bytes::Bytes;
use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::http::{self as h, BodyReader, Resp};
use crate::router::Ctx;

fn line(m: &ProgressMessage) -> Bytes {
    let mut b = serde_json::to_vec(m).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn json_map(c: &Ctx, k: &str) -> Result<BTreeMap<String, Option<String>>> {
    match c.query.get(k).filter(|v| !v.is_empty()) {
        None => Ok(BTreeMap::new()),
        Some(v) => serde_json::from_str(v).map_err(|e| Error::invalid(format!("{k}: {e}"))),
    }
}

/// Query options the classic builder here does not implement: refused when set to anything
/// but their defaults.
fn refuse_unsupported(c: &Ctx) -> Result<()> {
    let zero = |k: &str| {
        c.query
            .get(k)
            .is_none_or(|v| v.is_empty() || v == "0" || v == "-1")
    };
    for k in [
        "memory",
        "memswap",
        "cpushares",
        "cpuperiod",
        "cpuquota",
        "shmsize",
    ] {
        if !zero(k) {
            return Err(Error::invalid(format!(
                "the build option {k} is not supported by Berth's builder: limit the daemon's build containers instead"
            )));
        }
    }
    for k in [
        "cpusetcpus",
        "cpusetmems",
        "remote",
        "extrahosts",
        "outputs",
        "cgroupparent",
        "isolation",
    ] {
        if c.query
            .get(k)
            .is_some_and(|v| !v.is_empty() && v != "[]" && v != "null" && v != "default")
        {
            return Err(Error::invalid(format!(
                "the build option {k} is not supported by Berth's builder"
            )));
        }
    }
    if c.query.bool("squash", false) {
        return Err(Error::invalid(
            "--squash is not supported by Berth's builder",
        ));
    }
    let cache_from = c.query.get("cachefrom").unwrap_or("");
    if !cache_from.is_empty() && cache_from != "[]" && cache_from != "null" {
        return Err(Error::invalid(
            "--cache-from is not supported by Berth's builder: the local cache is used",
        ));
    }
    if c.query.get("version") == Some("2") {
        return Err(Error::invalid(
            "BuildKit is not supported by berthd: build with DOCKER_BUILDKIT=0 (the classic builder)",
        ));
    }
    Ok(())
}

/// `X-Registry-Config`: base64 JSON `{registry: AuthConfig}` → registry host → the
/// `X-Registry-Auth` form a pull takes.
fn registry_config(req: &Request<Incoming>) -> BTreeMap<String, String> {
    use base64::Engine as _;
    let Some(v) = req
        .headers()
        .get("x-registry-config")
        .and_then(|v| v.to_str().ok())
    else {
        return BTreeMap::new();
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(v.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v.trim()))
        .unwrap_or_default();
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&raw).unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| {
            let host = k
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("")
                .to_string();
            let host = if host == "index.docker.io" {
                "docker.io".to_string()
            } else {
                host
            };
            let enc = base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
            (host, enc)
        })
        .collect()
}

/// `POST /build`: the context tar in, the classic builder's JSON stream out.
pub async fn build(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    refuse_unsupported(c)?;
    let mut tags = Vec::new();
    for t in c.query.all("t") {
        check_tag(&t)?;
        tags.push(t);
    }
    let build_args = json_map(c, "buildargs")?;
    let labels: BTreeMap<String, String> = json_map(c, "labels")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let network = c
        .query
        .get("networkmode")
        .filter(|n| !n.is_empty() && *n != "default")
        .map(String::from);
    let dockerfile_name = c
        .query
        .get("dockerfile")
        .filter(|d| !d.is_empty())
        .unwrap_or("Dockerfile")
        .to_string();
    let quiet = c.query.bool("q", false);
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut opts = BuildOptions {
        dockerfile: String::new(),
        tags,
        build_args,
        labels,
        no_cache: c.query.bool("nocache", false),
        pull: c.query.bool("pull", false),
        network,
        target: c
            .query
            .get("target")
            .filter(|t| !t.is_empty())
            .map(String::from),
        platform: c
            .query
            .get("platform")
            .filter(|p| !p.is_empty())
            .map(String::from),
        cancel: Some(cancel.clone()),
    };
    let auth = registry_config(&req);
    let reader = BodyReader::spawn(req.into_body());
    let builds = c.daemon.builds.clone();
    let (txm, mut rxm) = tokio::sync::mpsc::channel::<ProgressMessage>(256);
    let job = tokio::task::spawn_blocking(move || -> std::result::Result<String, BuildError> {
        let t0 = std::time::Instant::now();
        let ctx = Context::from_tar(reader, &builds.contexts_dir())?;
        tracing::debug!("build context unpacked in {:?}", t0.elapsed());
        opts.dockerfile = ctx.dockerfile(&dockerfile_name)?;
        ctx.apply_ignore()?;
        let send = |m: ProgressMessage| {
            let _ = txm.blocking_send(m);
        };
        let mut out = |e: Event| match e {
            Event::Stream(s) if !quiet => send(ProgressMessage::stream(s)),
            Event::Stream(_) => {}
            Event::Progress(v) if !quiet => {
                if let Ok(m) = serde_json::from_value(v) {
                    send(m);
                }
            }
            Event::Progress(_) => {}
            Event::Built(id) => {
                send(ProgressMessage {
                    aux: Some(serde_json::json!({"ID": id})),
                    ..Default::default()
                });
            }
        };
        let t1 = std::time::Instant::now();
        let r = builds.build(&ctx, &opts, auth, &mut out)?;
        tracing::debug!("build ran in {:?}", t1.elapsed());
        let t2 = std::time::Instant::now();
        drop(ctx);
        tracing::debug!("context removed in {:?}", t2.elapsed());
        Ok(r.image)
    });
    // An error before any output is the response's status.
    let Some(first) = rxm.recv().await else {
        let res = job.await.map_err(|e| Error::internal(e.to_string()))?;
        return match res {
            Ok(id) => {
                let (resp, tx) = h::stream(StatusCode::OK, "application/json");
                if quiet {
                    let _ = tx
                        .send(line(&ProgressMessage::stream(format!("{id}\n"))))
                        .await;
                }
                Ok(resp)
            }
            Err(e) => Err(to_error(e)),
        };
    };
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let mut next = Some(first);
        while let Some(m) = next {
            if tx.send(line(&m)).await.is_err() {
                return;
            }
            next = tokio::select! {
                m = rxm.recv() => m,
                // The client went away: the build stops.
                _ = tx.closed() => {
                    cancel.store(true, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            };
        }
        match job.await {
            Ok(Ok(id)) => {
                if quiet {
                    let _ = tx
                        .send(line(&ProgressMessage::stream(format!("{id}\n"))))
                        .await;
                }
            }
            Ok(Err(e)) => {
                let code = e.code().unwrap_or(0);
                let _ = tx
                    .send(line(&ProgressMessage::error(code, e.to_string())))
                    .await;
            }
            Err(e) => {
                let _ = tx
                    .send(line(&ProgressMessage::error(0, e.to_string())))
                    .await;
            }
        }
    });
    Ok(resp)
}

fn to_error(e: BuildError) -> Error {
    match e {
        BuildError::NotFound(m) => Error::new(ErrorKind::NotFound, m),
        BuildError::Backend(m) => Error::internal(m),
        other => Error::invalid(other.to_string()),
    }
}

/// `POST /build/prune`: forget the build cache and remove its images nothing else needs.
pub async fn prune(c: &Ctx) -> Result<Resp> {
    let in_use = c.daemon.containers.images_in_use();
    let builds = c.daemon.builds.clone();
    let (ids, bytes) = tokio::task::spawn_blocking(move || builds.prune(&in_use))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::json(
        StatusCode::OK,
        &serde_json::json!({"CachesDeleted": ids, "SpaceReclaimed": bytes}),
    ))
}
