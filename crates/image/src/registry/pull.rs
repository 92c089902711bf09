//! `docker pull`: resolve the reference to a manifest (through an index for the wanted platform),
//! fetch the config, then download the missing layers a few at a time, each unpacked while it
//! downloads, and record the image under its tag and repo digest.
//!
//! A layer's bytes go from the socket into the content store's ingest `blob-<hex>` (hashed as
//! they are written); a second thread follows the ingest and unpacks into a staging directory.
//! The blob is named only after its size and digest matched the manifest; the staged layer is
//! named (its chain ID) only after that and after its diff ID matched the config's. A broken
//! connection resumes from the ingest's length with `Range`, in the same pull (back-off retries)
//! or in a later one (the ingest stays on disk).

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::Duration;

use ureq::http::StatusCode;

use super::client::{error_entry, ReqBody, Session};
use super::{format_platform, host_platform, Credentials, Event, Registry, RegistryError};
use crate::archive::{store_image_as, Staged};
use crate::content::Writer;
use crate::images::{parse_config, Image, MAX_CONFIG_SIZE};
use crate::manifest::{
    chain_ids, Descriptor, Index, Manifest, Platform, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};
use crate::reference::{Digest, Reference};
use crate::ImageRoot;

/// Manifests larger than this are refused (Docker's limit).
const MAX_MANIFEST: u64 = 4 << 20;
/// Progress messages at most every this many bytes.
const PROGRESS_STEP: u64 = 512 << 10;

/// Options of a pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Credentials for the registry (anonymous when empty).
    pub credentials: Credentials,
    /// The platform to pick from an index (this machine's when `None`).
    pub platform: Option<Platform>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// The image, with its names.
    pub image: Image,
    /// The reference pulled.
    pub reference: Reference,
    /// The digest the registry knows the image by (the index's, when it had one): the repo
    /// digest recorded.
    pub digest: Digest,
    /// The platform manifest's digest.
    pub manifest: Digest,
    /// Whether the name already pointed at this image (`Status: Image is up to date`).
    pub up_to_date: bool,
}

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

impl Registry {
    /// Pulls `reference` (a tag or a digest) into `root`. Progress goes to `progress` in Docker's
    /// order (see the module doc of [`crate::registry`]).
    pub fn pull(
        &self,
        root: &ImageRoot,
        reference: &Reference,
        opts: &PullOptions,
        progress: &mut dyn FnMut(Event),
    ) -> Result<PullResult, RegistryError> {
        let scopes = vec![format!("repository:{}:pull", reference.path())];
        let mut mirror_err = None;
        if reference.domain() == "docker.io" {
            for m in &self.inner.config.mirrors {
                let r = Session::connect_mirror(self, m, &opts.credentials, scopes.clone())
                    .and_then(|s| {
                        let resolved = resolve(&s, reference, opts)?;
                        Ok((s, resolved))
                    });
                match r {
                    Ok((s, resolved)) => {
                        return pull_resolved(&s, root, reference, opts, resolved, progress)
                    }
                    Err(e) => mirror_err = Some(e),
                }
            }
        }
        let _ = mirror_err; // a failing mirror falls back to the registry, as Docker's
        let host = super::transport::api_host(reference.domain()).to_owned();
        let sess = Session::connect(self, &host, &opts.credentials, scopes)?;
        let resolved = resolve(&sess, reference, opts)?;
        pull_resolved(&sess, root, reference, opts, resolved, progress)
    }

    /// `docker pull -a`: every tag of the repository.
    pub fn pull_all_tags(
        &self,
        root: &ImageRoot,
        repository: &Reference,
        opts: &PullOptions,
        progress: &mut dyn FnMut(Event),
    ) -> Result<Vec<PullResult>, RegistryError> {
        let mut tags = self.tags(&repository.repository(), &opts.credentials)?;
        tags.sort();
        let mut out = Vec::new();
        for t in tags {
            let r = repository
                .with_tag(&t)
                .map_err(|e| RegistryError::InvalidReference(format!("{t}: {e}")))?;
            out.push(self.pull(root, &r, opts, progress)?);
        }
        Ok(out)
    }
}

struct Resolved {
    /// The digest of what the reference names (index or manifest).
    top: Digest,
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
    manifest_digest: Digest,
    /// The index's bytes, if the reference named one.
    index: Option<Vec<u8>>,
}

fn is_index(media_type: &str, body: &[u8]) -> bool {
    match media_type {
        MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST => true,
        MEDIA_OCI_MANIFEST | MEDIA_DOCKER_MANIFEST => false,
        _ => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .is_some_and(|v| v.get("manifests").is_some()),
    }
}

fn get_manifest(
    sess: &Session<'_>,
    reference: &Reference,
    what: &str,
    want: Option<&Digest>,
) -> Result<(Vec<u8>, String, Digest), RegistryError> {
    let url = sess.url(&format!("/v2/{}/manifests/{what}", reference.path()));
    let resp = sess.call(
        "GET",
        &url,
        &[("Accept", ACCEPT.to_owned())],
        &ReqBody::Empty,
        true,
    )?;
    let status = resp.status();
    if !status.is_success() {
        return Err(pull_error(reference, &url, resp));
    }
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let mut resp = resp;
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_MANIFEST)
        .read_to_vec()
        .map_err(|e| RegistryError::Transport {
            method: "Get".into(),
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let d = Digest::of(&body);
    if let Some(w) = want {
        if *w != d {
            return Err(RegistryError::Invalid(format!(
                "manifest verification failed for digest {w}"
            )));
        }
    }
    Ok((body, ct, d))
}

fn pull_error(
    reference: &Reference,
    url: &str,
    mut resp: ureq::http::Response<ureq::Body>,
) -> RegistryError {
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 16)
        .read_to_vec()
        .unwrap_or_default();
    let entry = error_entry(&body);
    let code = entry.as_ref().map(|(c, _)| c.as_str()).unwrap_or("");
    let detail = entry
        .as_ref()
        .map(|(c, m)| format!("{}: {m}", c.to_ascii_lowercase().replace('_', " ")));
    match (status.as_u16(), code) {
        (404, "MANIFEST_UNKNOWN") | (404, "") => RegistryError::ManifestUnknown {
            reference: reference.familiar(),
        },
        (401 | 403, _) | (404, "NAME_UNKNOWN") | (_, "DENIED" | "UNAUTHORIZED") => {
            RegistryError::PullDenied {
                name: reference.familiar_name(),
                detail: detail
                    .unwrap_or_else(|| "denied: requested access to the resource is denied".into()),
            }
        }
        _ => match entry {
            Some((c, m)) => RegistryError::Registry {
                code: c.to_ascii_lowercase().replace('_', " "),
                message: m,
            },
            None => RegistryError::Status {
                method: "GET".into(),
                url: url.to_owned(),
                status: status.to_string(),
            },
        },
    }
}

/// Whether an index entry's platform is the wanted one (variant compared only when wanted;
/// arm64's `v8` is its default).
fn platform_matches(have: &Platform, want: &Platform) -> bool {
    let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
        ("arm64", Some("v8")) => None,
        (_, v) => v.map(str::to_owned),
    };
    have.os == want.os
        && have.architecture == want.architecture
        && (want.variant.is_none() || norm(have) == norm(want))
}

/// Picks the manifest for `want` from an index (exact variant first).
pub fn select_platform<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| platform_matches(p, want))
        })
        .collect();
    candidates
        .iter()
        .find(|d| d.platform.as_ref().map(|p| &p.variant) == Some(&want.variant))
        .or_else(|| candidates.first())
        .copied()
}

fn resolve(
    sess: &Session<'_>,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Resolved, RegistryError> {
    let what = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    let (body, ct, top) = get_manifest(sess, reference, &what, reference.digest())?;
    if !is_index(&ct, &body) {
        let manifest = Manifest::parse(&body).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        return Ok(Resolved {
            manifest_digest: top.clone(),
            top,
            manifest_bytes: body,
            manifest,
            index: None,
        });
    }
    let index = Index::parse(&body).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    let want = opts.platform.clone().unwrap_or_else(host_platform);
    let desc = select_platform(&index, &want)
        .ok_or_else(|| RegistryError::NoMatchingPlatform(format_platform(&want)))?;
    let (mbody, _, md) = get_manifest(
        sess,
        reference,
        &desc.digest.to_string(),
        Some(&desc.digest),
    )?;
    let manifest = Manifest::parse(&mbody).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    Ok(Resolved {
        top,
        manifest_bytes: mbody,
        manifest,
        manifest_digest: md,
        index: Some(body),
    })
}

/// A small blob (a config) into memory, verified.
fn fetch_small(
    sess: &Session<'_>,
    path: &str,
    desc: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>, RegistryError> {
    if desc.size > limit {
        return Err(RegistryError::Invalid(format!(
            "blob {} is too large ({} bytes)",
            desc.digest, desc.size
        )));
    }
    let url = sess.url(&format!("/v2/{path}/blobs/{}", desc.digest));
    let mut resp = sess.call("GET", &url, &[], &ReqBody::Empty, true)?;
    if !resp.status().is_success() {
        return Err(sess.error("GET", &url, resp));
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| RegistryError::Transport {
            method: "Get".into(),
            url: url.clone(),
            reason: e.to_string(),
        })?;
    if Digest::of(&body) != desc.digest || body.len() as u64 != desc.size {
        return Err(RegistryError::DigestMismatch(desc.digest.to_string()));
    }
    Ok(body)
}

fn pull_resolved(
    sess: &Session<'_>,
    root: &ImageRoot,
    reference: &Reference,
    opts: &PullOptions,
    r: Resolved,
    progress: &mut dyn FnMut(Event),
) -> Result<PullResult, RegistryError> {
    let content = root.images.content();
    let path = reference.path();
    let shown_id = reference
        .tag()
        .map(str::to_owned)
        .or_else(|| reference.digest().map(|d| d.to_string()))
        .unwrap_or_else(|| "latest".into());
    progress(Event::new(Some(&shown_id), format!("Pulling from {path}")));
    // Nothing written from here on is referenced by an image until the end.
    let _g = root.images.gc_read();
    if let Some(ix) = &r.index {
        content.write_blob(ix)?;
    }
    content.write_blob(&r.manifest_bytes)?;
    let m = &r.manifest;
    let config = if content.exists(&m.config.digest) {
        content.read_to_vec(&m.config.digest, MAX_CONFIG_SIZE)?
    } else {
        let c = fetch_small(sess, path, &m.config, MAX_CONFIG_SIZE)?;
        content.write_blob(&c)?;
        c
    };
    let cfg = parse_config(&m.config.digest, &config)?;
    if let (Some(want), None) = (&opts.platform, &r.index) {
        let have = Platform {
            architecture: cfg.architecture().to_string(),
            os: cfg.os().to_string(),
            variant: cfg.variant().clone(),
        };
        if !platform_matches(&have, want) {
            return Err(RegistryError::Invalid(format!(
                "image with reference {} was found but does not match the specified platform: wanted {}, actual: {}",
                reference.familiar(),
                format_platform(want),
                format_platform(&have)
            )));
        }
    }
    let diff_ids: Vec<Digest> = cfg
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| d.parse::<Digest>())
        .collect::<Result<_, _>>()
        .map_err(|e| RegistryError::Invalid(format!("config {}: {e}", m.config.digest)))?;
    if diff_ids.len() != m.layers.len() {
        return Err(RegistryError::Invalid(format!(
            "image {}: config has {} layers, manifest {}",
            m.config.digest,
            diff_ids.len(),
            m.layers.len()
        )));
    }
    let chains = chain_ids(&diff_ids);
    let before = root.images.lookup(reference);

    // Which layers need work, with Docker's first messages.
    let mut todo = Vec::new();
    let workers = sess.reg.inner.config.max_concurrent_downloads.max(1);
    for (i, l) in m.layers.iter().enumerate() {
        let id = l.digest.short();
        if content.exists(&l.digest) && root.snapshots.exists(chains[i].hex()) {
            progress(Event::new(Some(id), "Already exists"));
        } else {
            progress(Event::new(Some(id), "Pulling fs layer"));
            todo.push(i);
        }
    }
    for &i in todo.iter().skip(workers) {
        progress(Event::new(Some(m.layers[i].digest.short()), "Waiting"));
    }
    let ctx = LayerCtx {
        sess,
        root,
        path,
        layers: &m.layers,
        diff_ids: &diff_ids,
        chains: &chains,
    };
    let results: Vec<(usize, Result<(), RegistryError>)> = {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel::<Event>();
            let handles: Vec<_> = (0..workers.min(todo.len()))
                .map(|_| {
                    let tx = tx.clone();
                    let (ctx, todo, next, stop) = (&ctx, &todo, &next, &stop);
                    s.spawn(move || {
                        let mut out = Vec::new();
                        while !stop.load(Ordering::Relaxed) {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = todo.get(k) else { break };
                            let r = ctx.pull_layer(i, &tx);
                            if r.is_err() {
                                stop.store(true, Ordering::Relaxed);
                            }
                            out.push((i, r));
                        }
                        out
                    })
                })
                .collect();
            drop(tx);
            for ev in rx {
                progress(ev);
            }
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![(
                            usize::MAX,
                            Err(RegistryError::Invalid(
                                "a layer download thread panicked".into(),
                            )),
                        )]
                    })
                })
                .collect()
        })
    };
    let mut results = results;
    results.sort_by_key(|(i, _)| *i);
    for (_, r) in results {
        r?;
    }

    let blobs: Vec<(Digest, String)> = m
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.media_type.clone()))
        .collect();
    let mut names = Vec::new();
    if reference.digest().is_none() {
        names.push(reference.clone());
    }
    names.push(reference.repository().with_digest(r.top.clone()));
    let loaded = store_image_as(
        root.stores(),
        &config,
        &blobs,
        &names,
        &mut Staged::new(),
        Some(r.manifest_digest.clone()),
    )?;
    {
        let mut src = sess
            .reg
            .inner
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for l in m.layers.iter().chain(std::iter::once(&m.config)) {
            src.record(&sess.host, path, &l.digest);
        }
    }
    let up_to_date = before.as_ref() == Some(&loaded.image.id);
    progress(Event::new(None, format!("Digest: {}", r.top)));
    progress(Event::new(
        None,
        if up_to_date {
            format!("Status: Image is up to date for {}", reference.familiar())
        } else {
            format!(
                "Status: Downloaded newer image for {}",
                reference.familiar()
            )
        },
    ));
    Ok(PullResult {
        image: loaded.image,
        reference: reference.clone(),
        digest: r.top,
        manifest: r.manifest_digest,
        up_to_date,
    })
}

struct LayerCtx<'a, 'r> {
    sess: &'a Session<'r>,
    root: &'a ImageRoot,
    path: &'a str,
    layers: &'a [Descriptor],
    diff_ids: &'a [Digest],
    chains: &'a [Digest],
}

/// Reports `Extracting` for what the unpacker read, once the download is complete (before, the
/// `Downloading` messages tell the story).
struct Extracting<R> {
    inner: R,
    tx: Sender<Event>,
    id: String,
    total: u64,
    pos: u64,
    last: u64,
    downloaded: Arc<AtomicBool>,
}

impl<R: Read> Read for Extracting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        if self.downloaded.load(Ordering::Relaxed)
            && (self.pos - self.last >= PROGRESS_STEP || (n == 0 && self.pos != self.last))
        {
            self.last = self.pos;
            let _ = self
                .tx
                .send(Event::bytes(&self.id, "Extracting", self.pos, self.total));
        }
        Ok(n)
    }
}

impl LayerCtx<'_, '_> {
    fn pull_layer(&self, i: usize, tx: &Sender<Event>) -> Result<(), RegistryError> {
        let desc = &self.layers[i];
        let id = desc.digest.short().to_owned();
        let content = self.root.images.content();
        let snaps = &self.root.snapshots;
        let parent = i.checked_sub(1).map(|p| &self.chains[p]);
        let name = format!("blob-{}", desc.digest.hex());
        let writer = content.writer(&name, Some(&desc.digest))?;
        let Some(mut w) = writer else {
            // The blob is here (from another image, or a concurrent pull): unpack it.
            return self.unpack_stored(i, tx);
        };
        let follower = w.follow()?;
        let downloaded = Arc::new(AtomicBool::new(false));
        std::thread::scope(|s| {
            let rd = Extracting {
                inner: follower,
                tx: tx.clone(),
                id: id.clone(),
                total: desc.size,
                pos: 0,
                last: 0,
                downloaded: downloaded.clone(),
            };
            let stage = s.spawn(move || snaps.stage_layer(&desc.digest.to_string(), rd, true));
            let dl = self.download(desc, &mut w, tx, &id);
            let committed = match dl {
                Ok(()) => {
                    let _ = tx.send(Event::new(Some(&id), "Verifying Checksum"));
                    w.commit(Some(desc.size)).map_err(|e| match e {
                        crate::content::ContentError::DigestMismatch { .. }
                        | crate::content::ContentError::SizeMismatch { .. } => {
                            RegistryError::DigestMismatch(desc.digest.to_string())
                        }
                        other => other.into(),
                    })
                }
                Err(e) => {
                    drop(w); // the follower fails instead of waiting
                    Err(e)
                }
            };
            if committed.is_ok() {
                let _ = tx.send(Event::new(Some(&id), "Download complete"));
            }
            downloaded.store(true, Ordering::Relaxed);
            let staged = stage.join();
            committed?;
            // The diff ID is checked when the staged layer is named; if unpacking while
            // downloading failed (or the diff ID differs), the layer is unpacked again from the
            // verified blob, which reports the real error.
            let named = match staged {
                Ok(Ok(layer)) => snaps
                    .commit_staged(layer, parent, &self.diff_ids[i])
                    .is_ok(),
                _ => false,
            };
            if !named {
                return self.unpack_stored(i, tx);
            }
            let _ = tx.send(Event::bytes(&id, "Extracting", desc.size, desc.size));
            let _ = tx.send(Event::new(Some(&id), "Pull complete"));
            Ok(())
        })
    }

    /// Unpacks layer `i` from its blob in the content store.
    fn unpack_stored(&self, i: usize, tx: &Sender<Event>) -> Result<(), RegistryError> {
        let desc = &self.layers[i];
        let id = desc.digest.short().to_owned();
        let content = self.root.images.content();
        let snaps = &self.root.snapshots;
        if !snaps.exists(self.chains[i].hex()) {
            let rd = Extracting {
                inner: content.reader(&desc.digest)?,
                tx: tx.clone(),
                id: id.clone(),
                total: desc.size,
                pos: 0,
                last: 0,
                downloaded: Arc::new(AtomicBool::new(true)),
            };
            let parent = i.checked_sub(1).map(|p| &self.chains[p]);
            snaps.unpack_layer(&self.chains[i], parent, &self.diff_ids[i], rd)?;
        }
        let _ = tx.send(Event::new(Some(&id), "Pull complete"));
        Ok(())
    }

    /// Streams the blob into `w`, resuming with `Range` after broken connections.
    fn download(
        &self,
        desc: &Descriptor,
        w: &mut Writer,
        tx: &Sender<Event>,
        id: &str,
    ) -> Result<(), RegistryError> {
        let sess = self.sess;
        let cfg = &sess.reg.inner.config;
        let url = sess.url(&format!("/v2/{}/blobs/{}", self.path, desc.digest));
        let mut failures = 0u32;
        let mut delay = cfg.retry_delay;
        let mut last_sent = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        let io = |e: std::io::Error| RegistryError::Io {
            what: format!("write blob {}", desc.digest),
            source: e,
        };
        loop {
            let off = w.offset();
            if off > desc.size {
                w.truncate()?;
                continue;
            }
            if off == desc.size && off > 0 {
                return Ok(());
            }
            let headers = if off > 0 {
                vec![("Range", format!("bytes={off}-"))]
            } else {
                Vec::new()
            };
            let got = sess.call("GET", &url, &headers, &ReqBody::Empty, true);
            let resp = match got {
                Ok(r) => r,
                Err(e) if e.is_transient() && failures + 1 < cfg.max_attempts => {
                    failures += 1;
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    continue;
                }
                Err(e) => return Err(e),
            };
            match resp.status() {
                StatusCode::OK => {
                    if off > 0 {
                        w.truncate()?; // the server ignored the range
                    }
                }
                StatusCode::PARTIAL_CONTENT => {
                    let start = resp
                        .headers()
                        .get("content-range")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.parse::<u64>().ok());
                    if start != Some(off) {
                        w.truncate()?;
                        continue;
                    }
                }
                StatusCode::RANGE_NOT_SATISFIABLE if off > 0 => {
                    w.truncate()?;
                    continue;
                }
                _ => {
                    return Err(sess.error("GET", &url, resp));
                }
            }
            let mut rd = resp.into_body().into_with_config().limit(u64::MAX).reader();
            let mut progressed = false;
            let broken = loop {
                let n = match rd.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => break Some(e.to_string()),
                };
                if w.offset() + n as u64 > desc.size {
                    return Err(RegistryError::DigestMismatch(desc.digest.to_string()));
                }
                std::io::Write::write_all(w, &buf[..n]).map_err(io)?;
                progressed = true;
                let cur = w.offset();
                if cur - last_sent >= PROGRESS_STEP || cur == desc.size {
                    last_sent = cur;
                    let _ = tx.send(Event::bytes(id, "Downloading", cur, desc.size));
                }
            };
            if broken.is_none() && w.offset() == desc.size {
                return Ok(());
            }
            // Short body or broken connection: resume from what we have.
            if progressed {
                failures = 0;
                delay = cfg.retry_delay;
            }
            failures += 1;
            if failures >= cfg.max_attempts {
                return Err(RegistryError::Transport {
                    method: "Get".into(),
                    url,
                    reason: broken.unwrap_or_else(|| "unexpected EOF".into()),
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(MEDIA_OCI_MANIFEST, Digest::of(arch.as_bytes()), 1);
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(str::to_owned),
        });
        d
    }

    #[test]
    fn platform_selection() {
        let ix = Index {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_INDEX.into()),
            manifests: vec![
                entry("amd64", None),
                entry("arm", Some("v6")),
                entry("arm", Some("v7")),
                entry("arm64", Some("v8")),
            ],
            annotations: Default::default(),
        };
        let want = |a: &str, v: Option<&str>| Platform {
            architecture: a.into(),
            os: "linux".into(),
            variant: v.map(str::to_owned),
        };
        let pick = |p: Platform| select_platform(&ix, &p).map(|d| d.digest.clone());
        assert_eq!(pick(want("amd64", None)), Some(Digest::of(b"amd64")));
        assert_eq!(pick(want("arm64", None)), Some(Digest::of(b"arm64")));
        assert_eq!(
            pick(want("arm", Some("v7"))),
            ix.manifests[2].digest.clone().into()
        );
        assert_eq!(pick(want("s390x", None)), None);
        assert!(is_index("", br#"{"manifests":[]}"#));
        assert!(!is_index(MEDIA_DOCKER_MANIFEST, br#"{"manifests":[]}"#));
    }
}
