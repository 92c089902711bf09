//! Routing: `/v1.NN` negotiation, method + path to a handler, headers on every response.
use std::sync::Arc;

use berth_api::{ApiVersion, MAX_API_VERSION};
use berth_daemon::{Daemon, Error};
use http::{HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;

use crate::http::{self as h, Query, Resp};
use crate::routes::{archive, build, containers, exec, images, networks, system, volumes};

/// What every handler gets.
pub struct Ctx {
    pub daemon: Daemon,
    pub version: ApiVersion,
    pub query: Query,
}

pub async fn handle(daemon: Arc<Daemon>, req: Request<Incoming>) -> Resp {
    let mut resp = route(&daemon, req).await;
    let hd = resp.headers_mut();
    for (k, v) in [
        ("api-version", MAX_API_VERSION.to_string()),
        ("ostype", "linux".to_string()),
        (
            "server",
            format!("Docker/{} (linux)", crate::ENGINE_VERSION),
        ),
        ("docker-experimental", "false".to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            hd.insert(k, v);
        }
    }
    resp
}

async fn route(daemon: &Daemon, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let (ver, rest) = match ApiVersion::split_path(&path) {
        Ok(x) => x,
        Err(e) => return h::error(&Error::invalid(e.to_string())),
    };
    let version = match ApiVersion::resolve(ver) {
        Ok(v) => v,
        Err(e) => return h::error(&Error::invalid(e.to_string())),
    };
    let ctx = Ctx {
        daemon: daemon.clone(),
        version,
        query: Query::parse(req.uri().query()),
    };
    let m = req.method().clone();
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let r = match (&m, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(&m)),
        (&Method::GET, ["version"]) => Ok(system::version(&ctx)),
        (&Method::GET, ["info"]) => system::info(&ctx),
        (&Method::GET, ["events"]) => system::events(&ctx),
        (&Method::GET, ["system", "df"]) => system::df(&ctx),
        (&Method::POST, ["commit"]) => containers::commit(&ctx, req).await,

        (&Method::POST, ["containers", "create"]) => containers::create(&ctx, req).await,
        (&Method::GET, ["containers", "json"]) => containers::list(&ctx),
        (&Method::POST, ["containers", "prune"]) => containers::prune(&ctx).await,
        (&Method::GET, ["containers", id, "json"]) => containers::inspect(&ctx, id),
        (&Method::POST, ["containers", id, "start"]) => containers::start(&ctx, id).await,
        (&Method::POST, ["containers", id, "stop"]) => containers::stop(&ctx, id).await,
        (&Method::POST, ["containers", id, "restart"]) => containers::restart(&ctx, id).await,
        (&Method::POST, ["containers", id, "kill"]) => containers::kill(&ctx, id).await,
        (&Method::POST, ["containers", id, "wait"]) => containers::wait(&ctx, id),
        (&Method::POST, ["containers", id, "attach"]) => containers::attach(&ctx, id, req).await,
        (&Method::POST, ["containers", id, "resize"]) => containers::resize(&ctx, id).await,
        (&Method::GET, ["containers", id, "logs"]) => containers::logs(&ctx, id),
        (&Method::DELETE, ["containers", id]) => containers::remove(&ctx, id).await,
        (&Method::POST, ["containers", id, "exec"]) => exec::create(&ctx, id, req).await,
        (&Method::POST, ["containers", id, "pause"]) => containers::pause(&ctx, id, true).await,
        (&Method::POST, ["containers", id, "unpause"]) => containers::pause(&ctx, id, false).await,
        (&Method::GET, ["containers", id, "top"]) => containers::top(&ctx, id).await,
        (&Method::GET, ["containers", id, "changes"]) => containers::changes(&ctx, id),
        (&Method::GET, ["containers", id, "export"]) => containers::export(&ctx, id),
        (&Method::HEAD, ["containers", id, "archive"]) => archive::head(&ctx, id).await,
        (&Method::GET, ["containers", id, "archive"]) => archive::get(&ctx, id).await,
        (&Method::PUT, ["containers", id, "archive"]) => archive::put(&ctx, id, req).await,
        (&Method::GET, ["containers", id, "stats"]) => containers::stats(&ctx, id).await,
        (&Method::POST, ["containers", id, "rename"]) => containers::rename(&ctx, id),
        (&Method::POST, ["containers", id, "update"]) => containers::update(&ctx, id, req).await,
        (&Method::POST, ["exec", id, "start"]) => exec::start(&ctx, id, req).await,
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(&ctx, id),
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(&ctx, id).await,

        (&Method::GET, ["images", "json"]) => images::list(&ctx),
        (&Method::GET, ["images", "search"]) => Err(Error::new(
            berth_daemon::ErrorKind::NotFound,
            "search is not supported by berthd: registries have no common search API (Docker Hub's is its own); browse the registry's web page or list tags with `skopeo list-tags`",
        )),
        (&Method::POST, ["images", "load"]) => images::load(&ctx, req).await,
        (&Method::POST, ["build"]) => build::build(&ctx, req).await,
        (&Method::POST, ["build", "prune"]) => build::prune(&ctx).await,
        (&Method::POST, ["images", "create"]) => images::create(&ctx, req).await,
        (&Method::POST, ["images", "prune"]) => images::prune(&ctx),
        (&Method::GET, ["images", "get"]) => images::save(&ctx, ctx.query.all("names")),
        (&Method::GET, ["images", name @ .., "get"]) if !name.is_empty() => {
            images::save(&ctx, vec![name.join("/")])
        }
        (&Method::GET, ["images", name @ .., "history"]) if !name.is_empty() => {
            images::history(&ctx, &name.join("/"))
        }
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::remove(&ctx, &name.join("/"))
        }
        // Image names contain '/': match by suffix.
        (&Method::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            images::inspect(&ctx, &name.join("/"))
        }
        (&Method::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            images::push(&ctx, &name.join("/"), req).await
        }
        (&Method::POST, ["auth"]) => images::auth(&ctx, req).await,
        (&Method::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            images::tag(&ctx, &name.join("/"))
        }
        (&Method::GET, ["networks"]) => networks::list(&ctx),
        (&Method::POST, ["networks", "create"]) => networks::create(&ctx, req).await,
        (&Method::POST, ["networks", "prune"]) => networks::prune(&ctx).await,
        (&Method::GET, ["networks", id]) => networks::inspect(&ctx, id),
        (&Method::DELETE, ["networks", id]) => networks::remove(&ctx, id).await,
        (&Method::POST, ["networks", id, "connect"]) => networks::connect(&ctx, id, req).await,
        (&Method::POST, ["networks", id, "disconnect"]) => {
            networks::disconnect(&ctx, id, req).await
        }
        (&Method::GET, ["volumes"]) => volumes::list(&ctx),
        (&Method::POST, ["volumes", "create"]) => volumes::create(&ctx, req).await,
        (&Method::POST, ["volumes", "prune"]) => volumes::prune(&ctx).await,
        (&Method::GET, ["volumes", name]) => volumes::inspect(&ctx, name),
        (&Method::DELETE, ["volumes", name]) => volumes::remove(&ctx, name).await,
        _ => Err(Error::not_found("page not found")),
    };
    match r {
        Ok(resp) => resp,
        Err(e) => {
            if e.kind != berth_daemon::ErrorKind::NotModified {
                tracing::debug!(%m, %path, error = %e.message, "request failed");
            }
            h::error(&e)
        }
    }
}

/// For handlers that answer 204.
pub fn no_content() -> Resp {
    h::empty(StatusCode::NO_CONTENT)
}
