//! `/containers/{id}/exec` and `/exec/{id}/...`.
use berth_api::container::{ExecCreateRequest, ExecStartRequest};
use berth_api::IdResponse;
use berth_daemon::Result;
use http::{HeaderValue, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{self as h, Resp};
use crate::router::Ctx;

pub async fn create(c: &Ctx, id: &str, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let r: ExecCreateRequest = h::parse_json(&body)?;
    let exec_id = c.daemon.containers.exec_create(id, r)?;
    Ok(h::json(StatusCode::CREATED, &IdResponse { id: exec_id }))
}

pub fn inspect(c: &Ctx, id: &str) -> Result<Resp> {
    Ok(h::json(
        StatusCode::OK,
        &c.daemon.containers.exec_inspect(id)?,
    ))
}

pub async fn resize(c: &Ctx, id: &str) -> Result<Resp> {
    let hgt = c.query.int("h")?.unwrap_or(0);
    let w = c.query.int("w")?.unwrap_or(0);
    c.daemon
        .containers
        .exec_resize(id, hgt as u16, w as u16)
        .await?;
    Ok(h::empty(StatusCode::OK))
}

/// `POST /exec/{id}/start`: detached → 200; else 101 and the process's streams. The exit code
/// is recorded before the stream closes, so `GET /exec/{id}/json` right after has it.
pub async fn start(c: &Ctx, id: &str, mut req: Request<Incoming>) -> Result<Resp> {
    let info = c.daemon.containers.exec_inspect(id)?;
    let upgrade = hyper::upgrade::on(&mut req);
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let r: ExecStartRequest = h::parse_json(&body)?;
    let svc = c.daemon.containers.clone();
    if r.detach {
        svc.exec_start(id, true).await?;
        svc.exec_watch(id);
        return Ok(h::empty(StatusCode::OK));
    }
    let tty = info.process_config.tty;
    let keys = crate::detach::keys(Some(&svc.exec_detach_keys(id)))?;
    let id = id.to_string();
    tokio::spawn(async move {
        let Ok(up) = upgrade.await else { return };
        let mut client = TokioIo::new(up);
        let started = match svc.exec_start(&id, false).await {
            Ok(s) => s,
            Err(e) => {
                let text = format!("{}\r\n", e.message);
                if !tty {
                    let l = (text.len() as u32).to_be_bytes();
                    let _ = client
                        .write_all(&[1, 0, 0, 0, l[0], l[1], l[2], l[3]])
                        .await;
                }
                let _ = client.write_all(text.as_bytes()).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        let Some(shim) = started.stream else {
            let _ = svc.exec_finish(&id).await;
            let _ = client.shutdown().await;
            return;
        };
        if shim.set_nonblocking(true).is_err() {
            return;
        }
        let Ok(shim) = tokio::net::UnixStream::from_std(shim) else {
            return;
        };
        let (mut shim_r, shim_w) = shim.into_split();
        let (cl_r, mut cl_w) = tokio::io::split(client);
        // Input: until the client half-closes (then the process sees EOF on stdin).
        let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<bool>();
        let input = tokio::spawn(async move {
            let d = crate::detach::copy_input(cl_r, shim_w, keys).await;
            let _ = done_tx.send(d);
        });
        let mut buf = vec![0u8; 32 * 1024];
        let (mut detached, mut stdin_done) = (false, false);
        loop {
            tokio::select! {
                r = shim_r.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if cl_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                },
                d = &mut done_rx, if !stdin_done => {
                    stdin_done = true;
                    if d.unwrap_or(false) {
                        detached = true;
                        break;
                    }
                }
            }
        }
        if detached {
            // The process keeps running; its end is recorded in the background.
            svc.exec_watch(&id);
        } else {
            let _ = svc.exec_finish(&id).await;
        }
        let _ = cl_w.shutdown().await;
        input.abort();
    });
    let mut resp = h::empty(StatusCode::SWITCHING_PROTOCOLS);
    let hd = resp.headers_mut();
    hd.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    hd.insert(http::header::UPGRADE, HeaderValue::from_static("tcp"));
    hd.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    Ok(resp)
}
