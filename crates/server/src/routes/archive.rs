//! `/containers/{id}/archive`: `docker cp` — `HEAD` stats a path, `GET` streams it as a tar,
//! `PUT` extracts a tar streamed in (plain, gzip or zstd) into a directory.
use berth_daemon::containers::{ContainerPathStat, ExtractRequest};
use berth_daemon::{Error, Result};
use http::{HeaderValue, Request, StatusCode};
use hyper::body::Incoming;

use crate::http::{self as h, BodyReader, Resp};
use crate::router::Ctx;
use crate::routes::images::ChanWriter;

/// The response header carrying the stat.
pub const STAT_HEADER: &str = "x-docker-container-path-stat";

/// Standard base64 with padding (Go's `base64.StdEncoding`).
fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                s.push(char::from(A[((n >> shift) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn with_stat(mut resp: Resp, st: &ContainerPathStat) -> Result<Resp> {
    let json = serde_json::to_vec(st).map_err(|e| Error::internal(e.to_string()))?;
    let v = HeaderValue::from_str(&base64(&json)).map_err(|e| Error::internal(e.to_string()))?;
    resp.headers_mut().insert(STAT_HEADER, v);
    Ok(resp)
}

fn path(c: &Ctx) -> String {
    c.query.get("path").unwrap_or("").to_string()
}

/// `HEAD /containers/{id}/archive?path=`.
pub async fn head(c: &Ctx, id: &str) -> Result<Resp> {
    let (svc, id, path) = (c.daemon.containers.clone(), id.to_string(), path(c));
    let st = tokio::task::spawn_blocking(move || svc.archive_stat(&id, &path))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    with_stat(h::empty(StatusCode::OK), &st)
}

/// `GET /containers/{id}/archive?path=`: the stat header, then the tar streamed as it is made.
pub async fn get(c: &Ctx, id: &str) -> Result<Resp> {
    let (svc, id, path) = (c.daemon.containers.clone(), id.to_string(), path(c));
    let (resp, tx) = h::stream(StatusCode::OK, "application/x-tar");
    let (stat_tx, stat_rx) = tokio::sync::oneshot::channel::<Result<ContainerPathStat>>();
    tokio::task::spawn_blocking(move || {
        let mut stat_tx = Some(stat_tx);
        let w = std::io::BufWriter::with_capacity(1 << 20, ChanWriter(tx));
        let started = |st| {
            if let Some(t) = stat_tx.take() {
                let _ = t.send(Ok(st));
            }
        };
        let res = svc.archive_path(&id, &path, started, w);
        if let Err(e) = res {
            match stat_tx.take() {
                Some(t) => {
                    let _ = t.send(Err(e));
                }
                // The client sees a cut stream.
                None => tracing::warn!(container = %id, %path, error = %e.message, "cp failed"),
            }
        }
    });
    match stat_rx.await {
        Ok(Ok(st)) => with_stat(resp, &st),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::internal("archive task failed")),
    }
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: the body is
/// extracted while it arrives.
pub async fn put(c: &Ctx, id: &str, req: Request<Incoming>) -> Result<Resp> {
    let (svc, id, path) = (c.daemon.containers.clone(), id.to_string(), path(c));
    let q = ExtractRequest {
        no_overwrite_dir_non_dir: c.query.bool("noOverwriteDirNonDir", false),
        copy_uid_gid: c.query.bool("copyUIDGID", false),
    };
    let mut body = BodyReader::spawn(req.into_body());
    tokio::task::spawn_blocking(move || {
        let res = svc.extract_to_dir(&id, &path, q, &mut body);
        if res.is_err() {
            // Read (a bounded part of) what is still coming, so that the client, still sending,
            // gets the error instead of a broken pipe.
            let _ = std::io::copy(
                &mut std::io::Read::take(&mut body, 64 << 20),
                &mut std::io::sink(),
            );
        }
        res
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))??;
    Ok(h::empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_as_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"name\":\"x\"}"), "eyJuYW1lIjoieCJ9");
    }
}
