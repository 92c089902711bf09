//! `/containers/...`.
use berth_api::container::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerWaitResponse,
};
use berth_daemon::containers::{AttachRequest, LogOptions, WaitCondition};
use berth_daemon::{Error, Result};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::http::{self as h, Resp};
use crate::router::{no_content, Ctx};

pub async fn create(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 16 << 20).await?;
    let r: ContainerCreateRequest = h::parse_json(&body)?;
    if r.config.image.is_empty() {
        return Err(Error::invalid(
            "config cannot be empty in order to create a container",
        ));
    }
    let name = c.query.get("name").map(String::from);
    let svc = c.daemon.containers.clone();
    let (id, warnings) = tokio::task::spawn_blocking(move || svc.create(name.as_deref(), r))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::json(
        StatusCode::CREATED,
        &ContainerCreateResponse { id, warnings },
    ))
}

pub fn list(c: &Ctx) -> Result<Resp> {
    let limit = c.query.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let v = c
        .daemon
        .containers
        .list(c.query.bool("all", false), limit, &c.query.filters()?)?;
    Ok(h::json(StatusCode::OK, &v))
}

pub fn inspect(c: &Ctx, id: &str) -> Result<Resp> {
    Ok(h::json(StatusCode::OK, &c.daemon.containers.inspect(id)?))
}

pub async fn start(c: &Ctx, id: &str) -> Result<Resp> {
    c.daemon.containers.start(id).await?;
    Ok(no_content())
}

pub async fn stop(c: &Ctx, id: &str) -> Result<Resp> {
    let t = c.query.int("t")?;
    c.daemon
        .containers
        .stop(id, t, c.query.get("signal"))
        .await?;
    Ok(no_content())
}

pub async fn restart(c: &Ctx, id: &str) -> Result<Resp> {
    let t = c.query.int("t")?;
    match c.daemon.containers.stop(id, t, c.query.get("signal")).await {
        Ok(()) => {}
        Err(e) if e.kind == berth_daemon::ErrorKind::NotModified => {}
        Err(e) => return Err(e),
    }
    c.daemon.containers.start(id).await?;
    Ok(no_content())
}

pub async fn kill(c: &Ctx, id: &str) -> Result<Resp> {
    c.daemon
        .containers
        .kill(id, c.query.get("signal").unwrap_or(""))
        .await?;
    Ok(no_content())
}

pub async fn remove(c: &Ctx, id: &str) -> Result<Resp> {
    if c.query.bool("link", false) {
        return Err(Error::invalid("links are not supported"));
    }
    c.daemon
        .containers
        .remove(id, c.query.bool("force", false), c.query.bool("v", false))
        .await?;
    Ok(no_content())
}

pub async fn resize(c: &Ctx, id: &str) -> Result<Resp> {
    let hgt = c.query.int("h")?.unwrap_or(0);
    let w = c.query.int("w")?.unwrap_or(0);
    c.daemon.containers.resize(id, hgt as u16, w as u16).await?;
    Ok(h::empty(StatusCode::OK))
}

/// `POST /wait`: headers at once (the CLI waits for them before starting the container), the
/// body when the condition is met.
pub fn wait(c: &Ctx, id: &str) -> Result<Resp> {
    let cond = WaitCondition::parse(c.query.get("condition").unwrap_or(""))?;
    // 404 now, not in the stream.
    c.daemon.containers.record(id)?;
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    let svc = c.daemon.containers.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        tokio::select! {
            r = svc.wait(&id, cond) => {
                let body = match r {
                    Ok(code) => ContainerWaitResponse { status_code: code, error: None },
                    Err(e) => ContainerWaitResponse {
                        status_code: -1,
                        error: Some(berth_api::container::WaitError { message: e.message }),
                    },
                };
                let mut b = serde_json::to_vec(&body).unwrap_or_default();
                b.push(b'\n');
                let _ = tx.send(Bytes::from(b)).await;
            }
            _ = tx.closed() => {}
        }
    });
    Ok(resp)
}

/// `POST /attach`: 101, then the container's streams over the hijacked connection.
pub async fn attach(c: &Ctx, id: &str, mut req: Request<Incoming>) -> Result<Resp> {
    let rec = c.daemon.containers.record(id)?;
    let q = &c.query;
    let (logs, stream) = (q.bool("logs", false), q.bool("stream", false));
    // logs=1: what the container already wrote comes first (docker-compose attaches this way).
    let past: Vec<Bytes> = if logs {
        let o = LogOptions {
            stdout: q.bool("stdout", false),
            stderr: q.bool("stderr", false),
            ..Default::default()
        };
        match c.daemon.containers.read_logs(id, &o) {
            Ok((tty, recs)) => recs
                .into_iter()
                .map(|(stream, _, line)| {
                    if tty {
                        Bytes::from(line)
                    } else {
                        let l = (line.len() as u32).to_be_bytes();
                        let mut b = vec![stream, 0, 0, 0, l[0], l[1], l[2], l[3]];
                        b.extend_from_slice(line.as_bytes());
                        Bytes::from(b)
                    }
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let a = AttachRequest {
        stdin: q.bool("stdin", false) && rec.config.open_stdin,
        stdout: q.bool("stdout", false),
        stderr: q.bool("stderr", false),
    };
    let detach_keys = crate::detach::keys(q.get("detachKeys"))?;
    let upgrade = hyper::upgrade::on(&mut req);
    let svc = c.daemon.containers.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let Ok(up) = upgrade.await else { return };
        let mut client = TokioIo::new(up);
        {
            use tokio::io::AsyncWriteExt;
            for b in &past {
                if client.write_all(b).await.is_err() {
                    return;
                }
            }
            // logs without stream: the past only, then the end.
            if !stream {
                let _ = client.shutdown().await;
                return;
            }
        }
        let shim = match svc.attach(&id, a).await {
            Ok(s) => s,
            Err(e) => {
                use tokio::io::AsyncWriteExt;
                tracing::warn!(container = %id, error = %e.message, "attach failed");
                let _ = client
                    .write_all(format!("{}\r\n", e.message).as_bytes())
                    .await;
                let _ = client.shutdown().await;
                return;
            }
        };
        if shim.set_nonblocking(true).is_err() {
            return;
        }
        let Ok(shim) = tokio::net::UnixStream::from_std(shim) else {
            return;
        };
        let (shim_r, shim_w) = shim.into_split();
        let (cl_r, cl_w) = tokio::io::split(client);
        let input = tokio::spawn(crate::detach::copy_input(cl_r, shim_w, detach_keys));
        let output = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut shim_r, mut cl_w) = (shim_r, cl_w);
            let _ = tokio::io::copy(&mut shim_r, &mut cl_w).await;
            let _ = cl_w.shutdown().await;
        });
        tokio::pin!(output);
        tokio::select! {
            _ = &mut output => {}
            detached = input => {
                if matches!(detached, Ok(true)) {
                    // Detached: the container keeps running; this connection ends.
                    output.abort();
                } else {
                    let _ = output.await;
                }
            }
        }
    });
    let mut r = h::empty(StatusCode::SWITCHING_PROTOCOLS);
    let ct = if rec.config.tty || !c.version.at_least(1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let hd = r.headers_mut();
    hd.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    hd.insert(http::header::UPGRADE, HeaderValue::from_static("tcp"));
    if let Ok(v) = HeaderValue::from_str(ct) {
        hd.insert(http::header::CONTENT_TYPE, v);
    }
    Ok(r)
}

fn parse_time(s: Option<&str>) -> Result<f64> {
    match s {
        None | Some("") | Some("0") => Ok(0.0),
        Some(v) => v
            .parse::<f64>()
            .map_err(|_| Error::invalid(format!("invalid time value: {v}"))),
    }
}

/// `GET /logs`: the json-file log as frames (raw with a TTY); `follow` keeps reading until the
/// container stops.
pub fn logs(c: &Ctx, id: &str) -> Result<Resp> {
    let q = &c.query;
    let o = LogOptions {
        stdout: q.bool("stdout", false),
        stderr: q.bool("stderr", false),
        timestamps: q.bool("timestamps", false),
        tail: match q.get("tail") {
            None | Some("all") | Some("") => None,
            Some(n) => Some(
                n.parse::<usize>()
                    .map_err(|_| Error::invalid(format!("invalid tail value: {n}")))?,
            ),
        },
        since: parse_time(q.get("since"))?,
        until: parse_time(q.get("until"))?,
    };
    if !o.stdout && !o.stderr {
        return Err(Error::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let follow = q.bool("follow", false);
    let svc = c.daemon.containers.clone();
    let (tty, first) = svc.read_logs(id, &o)?;
    let (resp, tx) = h::stream(
        StatusCode::OK,
        if tty {
            "application/vnd.docker.raw-stream"
        } else {
            "application/vnd.docker.multiplexed-stream"
        },
    );
    let id = id.to_string();
    let mut all_opts = o.clone();
    all_opts.tail = None;
    let base = if follow {
        svc.read_logs(&id, &all_opts)
            .map(|(_, v)| v.len())
            .unwrap_or(0)
    } else {
        0
    };
    tokio::spawn(async move {
        let frame = |(stream, time, line): &(u8, String, String)| -> Bytes {
            let payload = if o.timestamps {
                format!("{time} {line}")
            } else {
                line.clone()
            };
            if tty {
                Bytes::from(payload)
            } else {
                let mut b = Vec::with_capacity(payload.len() + 8);
                let l = (payload.len() as u32).to_be_bytes();
                b.extend_from_slice(&[*stream, 0, 0, 0, l[0], l[1], l[2], l[3]]);
                b.extend_from_slice(payload.as_bytes());
                Bytes::from(b)
            }
        };
        for rec in &first {
            if tx.send(frame(rec)).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        let mut sent = base;
        loop {
            let running = svc
                .record(&id)
                .map(|r| r.state.status.is_live())
                .unwrap_or(false);
            if let Ok((_, now)) = svc.read_logs(&id, &all_opts) {
                for rec in now.iter().skip(sent) {
                    if tx.send(frame(rec)).await.is_err() {
                        return;
                    }
                }
                sent = sent.max(now.len());
            }
            if !running {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

pub async fn pause(c: &Ctx, id: &str, pause: bool) -> Result<Resp> {
    c.daemon.containers.set_paused(id, pause).await?;
    Ok(no_content())
}

pub async fn top(c: &Ctx, id: &str) -> Result<Resp> {
    let t = c
        .daemon
        .containers
        .top(id, c.query.get("ps_args").unwrap_or(""))
        .await?;
    Ok(h::json(StatusCode::OK, &t))
}

pub fn rename(c: &Ctx, id: &str) -> Result<Resp> {
    c.daemon
        .containers
        .rename(id, c.query.get("name").unwrap_or(""))?;
    Ok(no_content())
}

pub async fn update(c: &Ctx, id: &str, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let u: berth_api::container::ContainerUpdateRequest = h::parse_json(&body)?;
    let w = c.daemon.containers.update(id, u).await?;
    Ok(h::json(
        StatusCode::OK,
        &berth_api::container::ContainerUpdateResponse {
            warnings: if w.is_empty() { None } else { Some(w) },
        },
    ))
}

/// `GET /stats`: one sample (`stream=0`), or one per second until the client goes.
pub async fn stats(c: &Ctx, id: &str) -> Result<Resp> {
    let svc = c.daemon.containers.clone();
    let first = svc.stats(id, None).await?;
    if !c.query.bool("stream", true) {
        // With one-shot off, Docker fills precpu from a second sample a moment later.
        let one_shot = c.query.bool("one-shot", false);
        let s = if one_shot {
            first
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            svc.stats(id, Some(&first)).await.unwrap_or(first)
        };
        return Ok(h::json(StatusCode::OK, &s));
    }
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    let id = id.to_string();
    tokio::spawn(async move {
        let mut prev = first;
        loop {
            let mut b = serde_json::to_vec(&prev).unwrap_or_default();
            b.push(b'\n');
            if tx.send(Bytes::from(b)).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
            match svc.stats(&id, Some(&prev)).await {
                Ok(s) => prev = s,
                Err(_) => return,
            }
        }
    });
    Ok(resp)
}

pub async fn prune(c: &Ctx) -> Result<Resp> {
    let removed = c.daemon.containers.prune(&c.query.filters()?).await?;
    Ok(h::json(
        StatusCode::OK,
        &berth_api::container::ContainerPruneResponse {
            containers_deleted: removed,
            space_reclaimed: 0,
        },
    ))
}

pub fn changes(c: &Ctx, id: &str) -> Result<Resp> {
    Ok(h::json(StatusCode::OK, &c.daemon.containers.changes(id)?))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`.
pub async fn commit(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    let q = &c.query;
    let name = q
        .get("container")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("the container to commit is required"))?
        .to_string();
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let config: Option<berth_api::container::ContainerConfig> =
        if body.iter().all(|b| b.is_ascii_whitespace()) || &body[..] == b"null" {
            None
        } else {
            Some(h::parse_json(&body)?)
        };
    let repo = q.get("repo").unwrap_or("");
    let tag = q.get("tag").unwrap_or("");
    let reference = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => String::new(),
        (false, true) => repo.to_string(),
        (false, false) => format!("{repo}:{tag}"),
    };
    let id = c
        .daemon
        .containers
        .commit(
            &name,
            berth_daemon::containers::CommitRequest {
                reference,
                comment: q.get("comment").unwrap_or("").to_string(),
                author: q.get("author").unwrap_or("").to_string(),
                changes: q.all("changes"),
                pause: q.bool("pause", true),
                config,
            },
        )
        .await?;
    Ok(h::json(StatusCode::CREATED, &berth_api::IdResponse { id }))
}

/// `GET /containers/{id}/export`: a tar of the container's filesystem, streamed.
pub fn export(c: &Ctx, id: &str) -> Result<Resp> {
    let rec = c.daemon.containers.record(id)?;
    let svc = c.daemon.containers.clone();
    let (resp, tx) = h::stream(StatusCode::OK, "application/octet-stream");
    let cid = rec.id.clone();
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(1 << 20, crate::routes::images::ChanWriter(tx));
        if let Err(e) = svc.export(&cid, w) {
            tracing::warn!(container = %cid, error = %e.message, "export failed");
        }
    });
    let attrs = std::collections::BTreeMap::from([("name".to_string(), rec.name.clone())]);
    c.daemon
        .events
        .publish("container", "export", &rec.id, attrs);
    Ok(resp)
}
