//! A session with one registry for one operation: the endpoint, the scopes asked for, the
//! current `Authorization`, and requests with retries, re-authentication and Docker's error
//! texts. Also the record of where blobs were seen (for cross-repository mounts).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ureq::http::{Response, StatusCode};

use super::auth::{fetch_token, parse_challenge, Challenge, Credentials};
use super::transport::{agent_for, describe, is_insecure, is_tls_failure, Endpoint};
use super::{Registry, RegistryError};
use crate::reference::Digest;

/// A request body that can be sent again on a retry.
pub(crate) enum ReqBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of `file` from `offset`; `progress` gets the bytes sent so far.
    File {
        file: &'a File,
        offset: u64,
        len: u64,
        progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    },
}

struct Counting {
    inner: std::io::Take<File>,
    sent: u64,
    progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        if let Some(p) = &self.progress {
            p(self.sent);
        }
        Ok(n)
    }
}

/// Go's spelling of a method in `url.Error` texts.
fn go_method(m: &str) -> String {
    let mut s = m.to_ascii_lowercase();
    if let Some(f) = s.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    s
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The first error of a registry error body, as `(CODE, message)`.
pub(crate) fn error_entry(body: &[u8]) -> Option<(String, String)> {
    let b: ErrorBody = serde_json::from_slice(body).ok()?;
    b.errors.into_iter().next().map(|e| (e.code, e.message))
}

/// Docker's text of a registry error body's first error (`manifest unknown: manifest unknown`).
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    error_entry(body).map(|(c, m)| format!("{}: {m}", code_text(&c)))
}

fn code_text(code: &str) -> String {
    code.to_ascii_lowercase().replace('_', " ")
}

pub(crate) struct Session<'r> {
    pub(crate) reg: &'r Registry,
    /// `host[:port]` as in references (the API host for docker.io).
    pub(crate) host: String,
    pub(crate) ep: Endpoint,
    creds: Credentials,
    scopes: Vec<String>,
    challenge: Mutex<Option<Challenge>>,
    authorization: Mutex<Option<String>>,
}

impl<'r> Session<'r> {
    /// A session with `host` asking for `scopes` (`repository:<path>:pull[,push]`).
    pub(crate) fn connect(
        reg: &'r Registry,
        host: &str,
        creds: &Credentials,
        scopes: Vec<String>,
    ) -> Result<Session<'r>, RegistryError> {
        let ep = endpoint(reg, host)?;
        Session::with_endpoint(reg, host, ep, creds, scopes)
    }

    /// A session with a mirror at `base` (`https://mirror.example.com`).
    pub(crate) fn connect_mirror(
        reg: &'r Registry,
        base: &str,
        creds: &Credentials,
        scopes: Vec<String>,
    ) -> Result<Session<'r>, RegistryError> {
        let base = base.trim_end_matches('/');
        let host = base
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let verify = base.starts_with("https://") && !is_insecure(&reg.inner.config, &host);
        let ep = Endpoint {
            base: base.to_owned(),
            agent: agent_for(&reg.inner.config, &host, verify)?,
        };
        Session::with_endpoint(reg, &host, ep, creds, scopes)
    }

    fn with_endpoint(
        reg: &'r Registry,
        host: &str,
        ep: Endpoint,
        creds: &Credentials,
        scopes: Vec<String>,
    ) -> Result<Session<'r>, RegistryError> {
        let s = Session {
            reg,
            host: host.to_owned(),
            ep,
            creds: creds.clone(),
            scopes,
            challenge: Mutex::new(None),
            authorization: Mutex::new(None),
        };
        // Ping: learn how the registry wants to be authenticated.
        let url = format!("{}/v2/", s.ep.base);
        let resp = s.send_retrying("GET", &url, &[], &ReqBody::Empty, false)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            s.set_challenge(&resp);
            if s.challenge_lock().is_some() {
                s.authenticate()?;
            }
        }
        Ok(s)
    }

    fn challenge_lock(&self) -> std::sync::MutexGuard<'_, Option<Challenge>> {
        self.challenge.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn auth_lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.authorization.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_challenge(&self, resp: &Response<ureq::Body>) {
        let c = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_challenge)
            .min_by_key(|c| matches!(c, Challenge::Basic)); // prefer bearer
        if let Some(c) = c {
            *self.challenge_lock() = Some(c);
        }
    }

    /// Computes the `Authorization` header for the current challenge.
    fn authenticate(&self) -> Result<(), RegistryError> {
        let c = self.challenge_lock().clone();
        let header = match &c {
            None => None,
            Some(Challenge::Basic) => self.creds.has_basic().then(|| self.creds.basic_header()),
            Some(b @ Challenge::Bearer { .. }) => {
                let (t, _) = fetch_token(self.reg, &self.ep, b, &self.scopes, &self.creds, false)?;
                Some(format!("Bearer {t}"))
            }
        };
        *self.auth_lock() = header;
        Ok(())
    }

    /// `login`: checks the credentials against `/v2/`. Returns the identity token if the token
    /// server issued one.
    pub(crate) fn login(&self) -> Result<Option<String>, RegistryError> {
        let url = format!("{}/v2/", self.ep.base);
        let c = self.challenge_lock().clone();
        let mut identity = None;
        if let Some(b @ Challenge::Bearer { .. }) = &c {
            let (t, refresh) = fetch_token(self.reg, &self.ep, b, &[], &self.creds, true)?;
            *self.auth_lock() = Some(format!("Bearer {t}"));
            identity = refresh;
        }
        let resp = self.send_retrying("GET", &url, &[], &ReqBody::Empty, false)?;
        if resp.status().is_success() {
            Ok(identity)
        } else {
            Err(RegistryError::LoginFailed {
                url,
                status: resp.status().to_string(),
            })
        }
    }

    /// Sends a request with the session's authorization; on 401 re-authenticates once; with
    /// `retry`, retries transient failures with back-off.
    pub(crate) fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &ReqBody<'_>,
        retry: bool,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let resp = self.send_retrying(method, url, headers, body, retry)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let before = self.auth_lock().clone();
        self.set_challenge(&resp);
        if self.challenge_lock().is_none() {
            return Ok(resp);
        }
        self.authenticate()?;
        if *self.auth_lock() == before && before.is_some() {
            // Same credentials again would get the same answer... unless the token expired.
            // Tokens are cached with a margin, so this is a real refusal.
            return Ok(resp);
        }
        self.send_retrying(method, url, headers, body, retry)
    }

    fn send_retrying(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &ReqBody<'_>,
        retry: bool,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let cfg = &self.reg.inner.config;
        let attempts = if retry { cfg.max_attempts.max(1) } else { 1 };
        let mut delay = cfg.retry_delay;
        let mut n = 0;
        loop {
            n += 1;
            let r = self.send_once(method, url, headers, body);
            let transient = match &r {
                Ok(resp) => {
                    let s = resp.status().as_u16();
                    s >= 500 || s == 429
                }
                Err(_) => true,
            };
            if !transient || n >= attempts {
                return r;
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &ReqBody<'_>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let terr = |reason: String| RegistryError::Transport {
            method: go_method(method),
            url: url.to_owned(),
            reason,
        };
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        // Credentials go only to the registry itself, never to another host an upload
        // location or a redirect names.
        if url.starts_with(&format!("{}/", self.ep.base)) {
            if let Some(a) = self.auth_lock().clone() {
                b = b.header("Authorization", a);
            }
        }
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let res = match body {
            ReqBody::Empty => {
                let req = if matches!(method, "PUT" | "POST" | "PATCH") {
                    b.header("Content-Length", "0").body(ureq::SendBody::none())
                } else {
                    b.body(ureq::SendBody::none())
                }
                .map_err(|e| terr(e.to_string()))?;
                self.ep.agent.run(req)
            }
            ReqBody::Bytes(data) => {
                let req = b
                    .header("Content-Length", data.len().to_string())
                    .body(*data)
                    .map_err(|e| terr(e.to_string()))?;
                self.ep.agent.run(req)
            }
            ReqBody::File {
                file,
                offset,
                len,
                progress,
            } => {
                let mut f = file
                    .try_clone()
                    .map_err(|e| terr(format!("reopen blob: {e}")))?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| terr(format!("seek blob: {e}")))?;
                let reader = Counting {
                    inner: f.take(*len),
                    sent: 0,
                    progress: progress.clone(),
                };
                let req = b
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .map_err(|e| terr(e.to_string()))?;
                self.ep.agent.run(req)
            }
        };
        res.map_err(|e| terr(describe(&e)))
    }

    /// A URL below the endpoint (`/v2/...`), or `loc` made absolute (upload locations).
    pub(crate) fn url(&self, loc: &str) -> String {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            loc.to_owned()
        } else if loc.starts_with('/') {
            format!("{}{loc}", self.ep.base)
        } else {
            format!("{}/{loc}", self.ep.base)
        }
    }

    /// Turns an unexpected response into an error: the registry's own error if it sent one,
    /// else the status.
    pub(crate) fn error(
        &self,
        method: &str,
        url: &str,
        mut resp: Response<ureq::Body>,
    ) -> RegistryError {
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 16)
            .read_to_vec()
            .unwrap_or_default();
        match error_entry(&body) {
            Some((code, message)) if code == "DENIED" => RegistryError::Denied(message),
            Some((code, message)) if code == "UNAUTHORIZED" => RegistryError::Unauthorized(message),
            Some((code, message)) => RegistryError::Registry {
                code: code_text(&code),
                message,
            },
            None if status == StatusCode::UNAUTHORIZED => {
                RegistryError::Unauthorized("authentication required".into())
            }
            None => RegistryError::Status {
                method: method.to_owned(),
                url: url.to_owned(),
                status: status.to_string(),
            },
        }
    }

    /// Every tag of `path`, following `Link` pagination.
    pub(crate) fn tags(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut next = Some(format!("/v2/{path}/tags/list"));
        let mut pages = 0;
        while let Some(loc) = next.take() {
            pages += 1;
            if pages > 1000 {
                break;
            }
            let url = self.url(&loc);
            let mut resp = self.call("GET", &url, &[], &ReqBody::Empty, true)?;
            if !resp.status().is_success() {
                return Err(self.error("GET", &url, resp));
            }
            next = resp
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| {
                    let s = l.split(';').next()?.trim();
                    (l.contains("rel=\"next\"") || l.contains("rel=next"))
                        .then(|| s.trim_start_matches('<').trim_end_matches('>').to_owned())
                });
            let body = resp
                .body_mut()
                .with_config()
                .limit(16 << 20)
                .read_to_vec()
                .map_err(|e| RegistryError::Transport {
                    method: "Get".into(),
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            let t: Tags = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Invalid(format!("tags of {path}: {e}")))?;
            out.extend(t.tags.unwrap_or_default());
        }
        Ok(out)
    }

    /// Whether the repository `path` has the blob (`HEAD`).
    pub(crate) fn has_blob(&self, path: &str, d: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("/v2/{path}/blobs/{d}"));
        let resp = self.call("HEAD", &url, &[], &ReqBody::Empty, true)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.error("HEAD", &url, resp)),
        }
    }
}

/// The endpoint for `host`, discovered once: HTTPS (verified unless insecure), or plain HTTP for
/// an insecure host whose HTTPS attempt failed.
fn endpoint(reg: &Registry, host: &str) -> Result<Endpoint, RegistryError> {
    if let Some(e) = reg
        .inner
        .endpoints
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(host)
    {
        return Ok(e.clone());
    }
    let cfg = &reg.inner.config;
    let insecure = is_insecure(cfg, host);
    let https = Endpoint {
        base: format!("https://{host}"),
        agent: agent_for(cfg, host, !insecure)?,
    };
    let chosen = if !insecure {
        https
    } else {
        match https.agent.get(&format!("{}/v2/", https.base)).call() {
            Ok(_) => https,
            Err(e) if is_tls_failure(&e) => Endpoint {
                base: format!("http://{host}"),
                agent: https.agent.clone(),
            },
            Err(e)
                if matches!(e, ureq::Error::ConnectionFailed)
                    || matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused) =>
            {
                // Nothing listens (yet): plain HTTP for this attempt, but decide again next time.
                return Ok(Endpoint {
                    base: format!("http://{host}"),
                    agent: https.agent.clone(),
                });
            }
            Err(e) => {
                return Err(RegistryError::Transport {
                    method: "Get".into(),
                    url: format!("{}/v2/", https.base),
                    reason: describe(&e),
                })
            }
        }
    };
    reg.inner
        .endpoints
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(host.to_owned(), chosen.clone());
    Ok(chosen)
}

/// Where blobs were seen: digest → `host/path` of repositories that have it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Sources {
    #[serde(skip)]
    path: Option<PathBuf>,
    blobs: BTreeMap<String, BTreeSet<String>>,
}

/// At most this many repositories are remembered per blob, and this many blobs.
const SOURCES_PER_BLOB: usize = 4;
const SOURCES_MAX_BLOBS: usize = 50_000;

impl Sources {
    pub(crate) fn load(path: Option<&Path>) -> Sources {
        let mut s: Sources = path
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        s.path = path.map(Path::to_path_buf);
        s
    }

    /// Records that `host/repo` has `digest`; persists when the record changed.
    pub(crate) fn record(&mut self, host: &str, repo: &str, digest: &Digest) {
        let key = digest.to_string();
        let val = format!("{host}/{repo}");
        let set = self.blobs.entry(key).or_default();
        if set.contains(&val) {
            return;
        }
        if set.len() >= SOURCES_PER_BLOB {
            if let Some(first) = set.iter().next().cloned() {
                set.remove(&first);
            }
        }
        set.insert(val);
        while self.blobs.len() > SOURCES_MAX_BLOBS {
            let Some(k) = self.blobs.keys().next().cloned() else {
                break;
            };
            self.blobs.remove(&k);
        }
        if let Some(p) = &self.path {
            if let Ok(b) = serde_json::to_vec(&*self) {
                // A lost record only costs an upload instead of a mount.
                let _ = crate::fsutil::write_atomic(p, &b);
            }
        }
    }

    /// Other repositories of `host` known to have `digest`.
    pub(crate) fn candidates(&self, host: &str, repo: &str, digest: &Digest) -> Vec<String> {
        let prefix = format!("{host}/");
        self.blobs
            .get(&digest.to_string())
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.strip_prefix(&prefix))
                    .filter(|r| *r != repo)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_bodies() {
        let b =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_message(b).as_deref(),
            Some("manifest unknown: manifest unknown")
        );
        assert_eq!(error_message(b"<html>"), None);
        assert_eq!(go_method("GET"), "Get");
    }

    #[test]
    fn sources_are_bounded_and_persisted() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("sources.json");
        let d = Digest::of(b"x");
        let mut s = Sources::load(Some(&p));
        for i in 0..6 {
            s.record("reg:5000", &format!("r{i}"), &d);
        }
        s.record("other:5000", "r9", &d);
        let s = Sources::load(Some(&p));
        let c = s.candidates("reg:5000", "r5", &d);
        assert!(
            c.len() <= SOURCES_PER_BLOB && !c.contains(&"r5".to_owned()),
            "{c:?}"
        );
        assert!(s.candidates("nope", "x", &d).is_empty());
        assert_eq!(s.candidates("other:5000", "x", &d), vec!["r9".to_owned()]);
    }
}
