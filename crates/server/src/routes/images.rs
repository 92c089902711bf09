//! `/images/...`.
use berth_api::image::ProgressMessage;
use berth_daemon::{Error, Result};
use bytes::Bytes;
use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::http::{self as h, BodyReader, Resp};
use crate::router::Ctx;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(e.to_string()))?
}

pub fn list(c: &Ctx) -> Result<Resp> {
    let f = c.query.filters()?;
    f.validate(berth_api::filters::IMAGE_LIST_FILTERS)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let mut v = c.daemon.images.list(c.query.bool("all", false));
    let refs = f.get("reference");
    if !refs.is_empty() {
        // Like moby: only the matching tags are listed, and images without one are left out.
        let matches = |t: &String| {
            refs.iter().any(|r| {
                t == r
                    || t.rsplit_once(':').map(|x| x.0) == Some(*r)
                    || (r.ends_with('*') && t.starts_with(r.trim_end_matches('*')))
            })
        };
        for i in v.iter_mut() {
            i.repo_tags.retain(matches);
        }
        v.retain(|i| !i.repo_tags.is_empty());
    }
    let dangling = f.get("dangling");
    if let Some(d) = dangling.first() {
        let want = matches!(*d, "true" | "1");
        v.retain(|i| i.repo_tags.is_empty() == want);
    }
    Ok(h::json(StatusCode::OK, &v))
}

pub fn inspect(c: &Ctx, name: &str) -> Result<Resp> {
    Ok(h::json(StatusCode::OK, &c.daemon.images.inspect(name)?))
}

pub fn tag(c: &Ctx, name: &str) -> Result<Resp> {
    let repo = c.query.get("repo").unwrap_or("");
    if repo.is_empty() {
        return Err(Error::invalid(
            "repository name must have at least one component",
        ));
    }
    c.daemon
        .images
        .tag(name, repo, c.query.get("tag").unwrap_or(""))?;
    Ok(h::empty(StatusCode::CREATED))
}

fn line(m: &ProgressMessage) -> Bytes {
    let mut b = serde_json::to_vec(m).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// The `X-Registry-Auth` header (base64url JSON credentials), if any.
fn registry_auth(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Run a blocking operation that reports Docker progress messages: an error before the first
/// message is the response's status (as dockerd answers `404 manifest unknown`), later ones
/// become an `errorDetail` line in the stream.
async fn progress_stream(
    op: impl FnOnce(&mut dyn FnMut(ProgressMessage)) -> Result<()> + Send + 'static,
) -> Result<Resp> {
    let (txm, mut rxm) = tokio::sync::mpsc::channel::<ProgressMessage>(64);
    let job = tokio::task::spawn_blocking(move || {
        op(&mut |m| {
            let _ = txm.blocking_send(m);
        })
    });
    let Some(first) = rxm.recv().await else {
        job.await.map_err(|e| Error::internal(e.to_string()))??;
        return Ok(h::empty(StatusCode::OK));
    };
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let _ = tx.send(line(&first)).await;
        while let Some(m) = rxm.recv().await {
            if tx.send(line(&m)).await.is_err() {
                break;
            }
        }
        match job.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = tx.send(line(&ProgressMessage::error(0, e.message))).await;
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

/// `POST /images/{name}/push?tag=`.
pub async fn push(c: &Ctx, name: &str, req: Request<Incoming>) -> Result<Resp> {
    let (name, tag) = (
        name.to_string(),
        c.query.get("tag").unwrap_or("").to_string(),
    );
    let auth = registry_auth(&req);
    let images = c.daemon.images.clone();
    progress_stream(move |emit| images.push(&name, &tag, auth.as_deref(), emit)).await
}

/// `POST /auth`: check credentials against the registry.
pub async fn auth(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    let body = h::read_body(req.into_body(), 1 << 20).await?;
    let a: berth_api::system::AuthConfig = h::parse_json(&body)?;
    let images = c.daemon.images.clone();
    let token = blocking(move || {
        images.login(
            &a.serveraddress,
            &a.username,
            &a.password,
            &a.identity_token,
        )
    })
    .await?;
    Ok(h::json(
        StatusCode::OK,
        &berth_api::system::AuthResponse {
            identity_token: token.unwrap_or_default(),
            status: "Login Succeeded".into(),
        },
    ))
}

/// `POST /images/load`: the archive streams in; what was loaded streams out.
pub async fn load(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    let reader = BodyReader::spawn(req.into_body());
    let images = c.daemon.images.clone();
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let r = blocking(move || images.load(reader)).await;
        match r {
            Ok(lines) => {
                for l in lines {
                    let _ = tx
                        .send(line(&ProgressMessage::stream(format!("{l}\n"))))
                        .await;
                }
            }
            Err(e) => {
                let _ = tx.send(line(&ProgressMessage::error(0, e.message))).await;
            }
        }
    });
    Ok(resp)
}

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage` (pull) comes with the
/// registry issue.
pub async fn create(c: &Ctx, req: Request<Incoming>) -> Result<Resp> {
    if let Some(img) = c.query.get("fromImage") {
        let (img, tag) = (
            img.to_string(),
            c.query.get("tag").unwrap_or("").to_string(),
        );
        let platform = c.query.get("platform").map(String::from);
        let auth = registry_auth(&req);
        let images = c.daemon.images.clone();
        return progress_stream(move |emit| {
            images.pull(&img, &tag, platform.as_deref(), auth.as_deref(), emit)
        })
        .await;
    }
    match c.query.get("fromSrc") {
        Some("-") => {}
        Some(other) => {
            return Err(Error::invalid(format!(
                "importing from a URL is not supported ({other}); send the tarball in the body with fromSrc=-"
            )))
        }
        None => return Err(Error::invalid("fromImage or fromSrc is required")),
    }
    let repo = c.query.get("repo").unwrap_or("").to_string();
    let tag = c.query.get("tag").unwrap_or("").to_string();
    let reference = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => None,
        (false, true) => Some(repo),
        (false, false) => Some(format!("{repo}:{tag}")),
    };
    let changes = c.query.all("changes");
    let message = c.query.get("message").map(String::from);
    let reader = BodyReader::spawn(req.into_body());
    let images = c.daemon.images.clone();
    let (resp, tx) = h::stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        let r =
            blocking(move || images.import(reader, reference.as_deref(), changes, message)).await;
        let m = match r {
            Ok(id) => ProgressMessage::status(id),
            Err(e) => ProgressMessage::error(0, e.message),
        };
        let _ = tx.send(line(&m)).await;
    });
    Ok(resp)
}

pub fn remove(c: &Ctx, name: &str) -> Result<Resp> {
    let in_use = c.daemon.containers.images_in_use();
    let items = c
        .daemon
        .images
        .remove(name, c.query.bool("force", false), &in_use)?;
    Ok(h::json(StatusCode::OK, &items))
}

pub fn history(c: &Ctx, name: &str) -> Result<Resp> {
    Ok(h::json(StatusCode::OK, &c.daemon.images.history(name)?))
}

pub fn prune(c: &Ctx) -> Result<Resp> {
    let f = c.query.filters()?;
    f.validate(berth_api::filters::IMAGE_PRUNE_FILTERS)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let all = f
        .get("dangling")
        .first()
        .is_some_and(|d| matches!(*d, "false" | "0"));
    let in_use = c.daemon.containers.images_in_use();
    Ok(h::json(
        StatusCode::OK,
        &c.daemon.images.prune(all, &in_use)?,
    ))
}

/// A `Write` that feeds a streamed response from blocking code.
pub(crate) struct ChanWriter(pub(crate) tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(b))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`: a docker-archive.
pub fn save(c: &Ctx, names: Vec<String>) -> Result<Resp> {
    if names.is_empty() {
        return Err(Error::invalid("no images given"));
    }
    // Unknown names are 404 before any byte is sent.
    for n in &names {
        c.daemon.images.resolve(n)?;
    }
    let images = c.daemon.images.clone();
    let (resp, tx) = h::stream(StatusCode::OK, "application/x-tar");
    tokio::task::spawn_blocking(move || {
        let w = std::io::BufWriter::with_capacity(1 << 20, ChanWriter(tx));
        let _ = images.save(&names, w);
    });
    Ok(resp)
}
