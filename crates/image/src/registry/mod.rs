//! The registry client: `docker pull`, `docker push`, `docker login` and tag listing over the
//! distribution v2 API, synchronous (std threads, `ureq` with rustls).
//!
//! # How the daemon uses it
//!
//! One [`Registry`] per daemon (cheap to clone, shared between requests), made from the daemon's
//! config with [`RegistryConfig`] (`insecure-registries`, `registry-mirrors`, the certs
//! directory, `max-concurrent-downloads` / `-uploads`). Then:
//!
//! - `POST /images/create?fromImage=X&tag=T[&platform=P]`: decode `X-Registry-Auth` (base64url
//!   JSON `{username, password, identitytoken, registrytoken}`) into [`Credentials`], parse the
//!   reference, and call [`Registry::pull`] (or [`Registry::pull_all_tags`] when `tag` is
//!   empty and the CLI asked for `-a`) with a progress callback that writes each [`Event`] as
//!   one JSON line: `{"status": status, "id": id, "progressDetail": {"current", "total"}}`
//!   (`id` and `progressDetail` only when present; Docker also adds a `progress` bar string).
//!   An error after the stream started becomes `{"errorDetail": {"message": e}, "error": e}`
//!   with `e` the error's `Display`, which is Docker's text.
//! - `POST /images/{name}/push?tag=T`: [`Registry::push`] per tag (all tags of the repository
//!   when `tag` is empty, as `docker push -a`); after each push the daemon writes the aux line
//!   `{"progressDetail": {}, "aux": {"Tag", "Digest", "Size"}}` from the [`PushResult`].
//! - `POST /auth`: [`Registry::login`]; `Ok` is `{"Status": "Login Succeeded",
//!   "IdentityToken": token}`, [`RegistryError::LoginFailed`] / `Unauthorized` map to 401.
//!
//! Error kinds for the daemon's HTTP mapping: [`RegistryError::ManifestUnknown`],
//! [`RegistryError::PullDenied`] and [`RegistryError::NoSuchLocalImage`] are NotFound;
//! `Unauthorized`/`LoginFailed`/`Denied` are Unauthorized/Forbidden; `NoMatchingPlatform` and
//! `InvalidReference` are InvalidArgument; the rest Internal (Docker answers 500 for most
//! registry failures too).
//!
//! # What it does
//!
//! - Transport ([`transport`]): HTTPS with the system roots (plus `<certs_dir>/<host[:port]>/*.crt`,
//!   and `client.cert`/`client.key` pairs for client authentication); insecure registries (and
//!   every loopback address, as Docker) try HTTPS without verification, then plain HTTP; proxies
//!   from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, never for loopback; mirrors of docker.io tried
//!   first for pulls. Transient failures (5xx, 429, broken or refused connections) are retried
//!   with exponential back-off.
//! - Auth ([`auth`]): anonymous, basic, bearer tokens from the `WWW-Authenticate` challenge
//!   (basic credentials, an identity token as OAuth refresh token, or a registry token as is),
//!   tokens cached per registry, scope and user until they expire.
//! - Pull ([`pull`]): indexes and manifest lists with platform selection, OCI and Docker schema2
//!   manifests, gzip/zstd/plain layers, three layers at once, each unpacked while it downloads
//!   (the unpacker follows the content store's ingest, so the bytes are hashed once and read from
//!   the network once; the blob gets its name only once its digest matched, a wrong digest is
//!   never stored and the staged layer is thrown away). Interrupted downloads resume from the
//!   ingest with HTTP `Range`, within a pull (retries) and across pulls.
//! - Push ([`push`]): layers as stored (compressed as pulled or loaded; a plain tar layer is
//!   pushed as is with the OCI `tar` media type, not recompressed), skipped when the registry has
//!   them (`HEAD`), mounted from another repository of the same registry when a blob was seen
//!   there (a small record of blob sources, persisted when [`RegistryConfig::blob_sources`] is
//!   set), otherwise uploaded monolithically (`POST` + `PUT ?digest=`) or in chunks (`PATCH`)
//!   when [`RegistryConfig::chunk_size`] is set; then the config, then the manifest.
//!
//! All of it writes only below the [`crate::ImageRoot`] given (blobs, snapshots, image records)
//! and holds the image store's gc read lock while it does.

pub mod auth;
mod client;
pub mod pull;
pub mod push;
pub mod transport;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use auth::Credentials;
pub use pull::{PullOptions, PullResult};
pub use push::{PushOptions, PushResult};

use crate::manifest::Platform;
use crate::reference::Reference;

/// Errors of registry operations. The texts are Docker's where Docker has one.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The tag or digest is not in the repository.
    #[error("manifest for {reference} not found: manifest unknown: manifest unknown")]
    ManifestUnknown {
        /// The reference as the user wrote it (familiar form).
        reference: String,
    },
    /// The repository does not exist or needs credentials.
    #[error("pull access denied for {name}, repository does not exist or may require 'docker login': {detail}")]
    PullDenied {
        /// The repository (familiar form).
        name: String,
        /// The registry's own message.
        detail: String,
    },
    /// The registry refused the credentials or the operation.
    #[error("denied: {0}")]
    Denied(String),
    /// The registry wants credentials that were not given or not accepted.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// `login` was refused.
    #[error("login attempt to {url} failed with status: {status}")]
    LoginFailed {
        /// The URL tried.
        url: String,
        /// The HTTP status line.
        status: String,
    },
    /// No manifest in an index for the requested platform.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(String),
    /// Push of an image that is not in the image store (Docker's text, capitalised as Docker's).
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchLocalImage(String),
    /// A reference or platform string that does not parse.
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// A blob whose bytes do not hash to its digest.
    #[error("filesystem layer verification failed for digest {0}")]
    DigestMismatch(String),
    /// An error the registry reported in its JSON error body (`<code>: <message>`).
    #[error("{code}: {message}")]
    Registry {
        /// The error code in Docker's form (`blob unknown`).
        code: String,
        /// The message.
        message: String,
    },
    /// An HTTP status the operation did not expect.
    #[error("received unexpected HTTP status: {status} ({method} {url})")]
    Status {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The status line (`500 Internal Server Error`).
        status: String,
    },
    /// The request did not get an answer (connection refused, TLS, timeout...), as Go prints it.
    #[error("{method} {url:?}: {reason}")]
    Transport {
        /// The method, Go style (`Get`).
        method: String,
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A manifest, index or token response that does not make sense.
    #[error("{0}")]
    Invalid(String),
    /// Content store.
    #[error(transparent)]
    Content(#[from] crate::content::ContentError),
    /// Image store.
    #[error(transparent)]
    Image(#[from] crate::images::ImageError),
    /// Storing the image (unpacking, records).
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// Unpacking.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// Local I/O (certificates, records).
    #[error("{what}: {source}")]
    Io {
        /// The object.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether retrying the same request may succeed (5xx, 429, broken connections).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. } => true,
            RegistryError::Status { status, .. } => {
                status.starts_with('5') || status.starts_with("429")
            }
            _ => false,
        }
    }
}

/// One progress message, as Docker's JSON progress stream has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The layer (12 hex), the tag, or none for whole-operation messages.
    pub id: Option<String>,
    /// `Pulling fs layer`, `Downloading`, `Digest: sha256:…`, …
    pub status: String,
    /// `(current, total)` bytes for `Downloading`, `Extracting` and `Pushing`.
    pub progress: Option<(u64, u64)>,
}

impl Event {
    pub(crate) fn new(id: Option<&str>, status: impl Into<String>) -> Event {
        Event {
            id: id.map(str::to_owned),
            status: status.into(),
            progress: None,
        }
    }

    pub(crate) fn bytes(id: &str, status: &str, current: u64, total: u64) -> Event {
        Event {
            id: Some(id.to_owned()),
            status: status.to_owned(),
            progress: Some((current, total)),
        }
    }
}

/// Registry settings (from the daemon's config).
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Per-registry certificates: `<certs_dir>/<host[:port]>/*.crt` (CAs), `*.cert` + `*.key`.
    pub certs_dir: PathBuf,
    /// Registries reached without TLS verification, or over plain HTTP: `host[:port]` or a
    /// CIDR (`10.0.0.0/8`). Loopback is always insecure.
    pub insecure_registries: Vec<String>,
    /// Mirrors of docker.io (`https://mirror.example.com`), tried in order before it.
    pub mirrors: Vec<String>,
    /// Layers downloaded at once (Docker: 3).
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once (Docker: 5).
    pub max_concurrent_uploads: usize,
    /// Attempts per request on transient failures (Docker: 5).
    pub max_attempts: u32,
    /// First back-off delay; doubled after each failed attempt.
    pub retry_delay: Duration,
    /// Push blobs in `PATCH` chunks of this size instead of one `PUT`.
    pub chunk_size: Option<u64>,
    /// Where the record of which repository each blob was seen in is kept (in memory only
    /// when `None`). The daemon uses `<data-root>/image/registry-sources.json`.
    pub blob_sources: Option<PathBuf>,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for RegistryConfig {
    fn default() -> RegistryConfig {
        RegistryConfig {
            certs_dir: PathBuf::from("/etc/berth/certs.d"),
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            max_concurrent_downloads: 3,
            max_concurrent_uploads: 5,
            max_attempts: 5,
            retry_delay: Duration::from_millis(250),
            chunk_size: None,
            blob_sources: None,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The registry client. Clones share connections, tokens and the blob-source record.
#[derive(Debug, Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: RegistryConfig,
    pub(crate) endpoints: Mutex<std::collections::HashMap<String, transport::Endpoint>>,
    pub(crate) tokens: auth::TokenCache,
    pub(crate) sources: Mutex<client::Sources>,
}

impl Registry {
    /// A client with these settings.
    pub fn new(config: RegistryConfig) -> Registry {
        let sources = client::Sources::load(config.blob_sources.as_deref());
        Registry {
            inner: Arc::new(Inner {
                config,
                endpoints: Mutex::new(Default::default()),
                tokens: auth::TokenCache::default(),
                sources: Mutex::new(sources),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// Checks credentials against the registry's `/v2/` (what `POST /auth` does). `server` is
    /// what `docker login` sends: empty or `https://index.docker.io/v1/` for Docker Hub, else
    /// `host[:port]` or a URL. Returns the identity token the registry gave, if any.
    pub fn login(
        &self,
        server: &str,
        creds: &Credentials,
    ) -> Result<Option<String>, RegistryError> {
        auth::login(self, server, creds)
    }

    /// The tags of a repository (`/v2/<name>/tags/list`, every page).
    pub fn tags(
        &self,
        repository: &Reference,
        creds: &Credentials,
    ) -> Result<Vec<String>, RegistryError> {
        let host = transport::api_host(repository.domain()).to_owned();
        let scopes = vec![format!("repository:{}:pull", repository.path())];
        let sess = client::Session::connect(self, &host, creds, scopes)?;
        sess.tags(repository.path())
    }
}

/// Parses a platform string as `docker pull --platform` takes it: `os[/arch[/variant]]`.
pub fn parse_platform(s: &str) -> Result<Platform, RegistryError> {
    let mut it = s.split('/');
    let os = it.next().unwrap_or_default().to_ascii_lowercase();
    let arch = it.next().map(str::to_ascii_lowercase);
    let variant = it.next().map(str::to_ascii_lowercase);
    if os.is_empty() || it.next().is_some() || arch.as_deref() == Some("") {
        return Err(RegistryError::InvalidReference(format!(
            "invalid platform: {s:?}"
        )));
    }
    let arch = arch.unwrap_or_else(|| crate::archive::host_arch().to_owned());
    // Docker's normalisation: arm64 has variant v8 by default, amd64 none.
    let (arch, variant) = match (arch.as_str(), variant) {
        ("x86_64" | "x86-64", v) => ("amd64".to_owned(), v),
        ("aarch64", v) => ("arm64".to_owned(), v),
        ("arm64", Some(v)) if v == "v8" => ("arm64".to_owned(), None),
        (a, v) => (a.to_owned(), v),
    };
    Ok(Platform {
        architecture: arch,
        os,
        variant,
    })
}

/// The platform Berth pulls by default: this machine's.
pub fn host_platform() -> Platform {
    Platform {
        architecture: crate::archive::host_arch().to_owned(),
        os: "linux".to_owned(),
        variant: match crate::archive::host_arch() {
            "arm" => Some("v7".to_owned()),
            _ => None,
        },
    }
}

/// `os/arch[/variant]`, as Docker prints platforms.
pub fn format_platform(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{}", p.os, p.architecture, v),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_as_docker() {
        let p = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant),
            ("linux", "arm64", None)
        );
        let p = parse_platform("linux/arm/v7").unwrap();
        assert_eq!(format_platform(&p), "linux/arm/v7");
        assert_eq!(
            parse_platform("Linux/x86_64").unwrap().architecture,
            "amd64"
        );
        assert!(parse_platform("").is_err());
        assert!(parse_platform("linux/").is_err());
        assert!(parse_platform("a/b/c/d").is_err());
    }
}
