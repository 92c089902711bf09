//! `docker push`: layers (skipped when the registry has them, mounted from another repository of
//! the same registry when one is known to have them, else uploaded), then the config, then the
//! manifest under the tag.
//!
//! Layers are pushed as stored: compressed as they were pulled or loaded, and a plain tar layer
//! (from `docker load` of an old archive, `import`, `commit`) as is, with the OCI
//! `application/vnd.oci.image.layer.v1.tar` media type (not recompressed: no CPU spent, the
//! digest stays the one the image records). The manifest is the one the image was pulled with
//! when it still describes the image (so the digest is unchanged), else an OCI manifest.

use std::collections::BTreeSet;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::Duration;

use ureq::http::StatusCode;

use super::client::{ReqBody, Session};
use super::{Credentials, Event, Registry, RegistryError};
use crate::images::Image;
use crate::manifest::{Descriptor, Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST};
use crate::reference::{Digest, Reference};
use crate::ImageRoot;

const PROGRESS_STEP: u64 = 512 << 10;

/// Options of a push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Credentials for the registry.
    pub credentials: Credentials,
}

/// What a push did: the aux message `{Tag, Digest, Size}` Docker sends at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    /// The tag pushed (empty when pushed by digest).
    pub tag: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size.
    pub size: u64,
}

fn enc_digest(d: &Digest) -> String {
    d.to_string().replace(':', "%3A")
}

fn with_query(loc: &str, q: &str) -> String {
    if loc.contains('?') {
        format!("{loc}&{q}")
    } else {
        format!("{loc}?{q}")
    }
}

/// The manifest to push for `image`, and its media type.
fn manifest_for(root: &ImageRoot, image: &Image) -> (Vec<u8>, String) {
    let content = root.images.content();
    if let Some(md) = &image.manifest {
        if let Ok(bytes) = content.read_to_vec(md, 4 << 20) {
            if let Ok(m) = Manifest::parse(&bytes) {
                let same = m.config.digest == image.id
                    && m.layers.len() == image.layers.len()
                    && m.layers
                        .iter()
                        .zip(&image.layers)
                        .all(|(d, l)| d.digest == l.blob);
                if same {
                    let mt = m
                        .media_type
                        .clone()
                        .unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_owned());
                    return (bytes, mt);
                }
            }
        }
    }
    let m = Manifest::oci(
        Descriptor::new(MEDIA_OCI_CONFIG, image.id.clone(), image.config_size),
        image
            .layers
            .iter()
            .map(|l| Descriptor::new(&l.media_type, l.blob.clone(), l.blob_size))
            .collect(),
    );
    (m.to_bytes(), MEDIA_OCI_MANIFEST.to_owned())
}

impl Registry {
    /// Pushes the local image named `reference` to its registry (the tag in the reference,
    /// or its digest). Progress goes to `progress` in Docker's order.
    pub fn push(
        &self,
        root: &ImageRoot,
        reference: &Reference,
        opts: &PushOptions,
        progress: &mut dyn FnMut(Event),
    ) -> Result<PushResult, RegistryError> {
        let id = root
            .images
            .lookup(reference)
            .ok_or_else(|| RegistryError::NoSuchLocalImage(reference.familiar()))?;
        let _g = root.images.gc_read();
        let image = root
            .images
            .get(&id)
            .ok_or_else(|| RegistryError::NoSuchLocalImage(reference.familiar()))?;
        let host = super::transport::api_host(reference.domain()).to_owned();
        let path = reference.path().to_owned();
        progress(Event::new(
            None,
            format!("The push refers to repository [{}]", reference.name()),
        ));
        // Scopes: push here, and pull from the repositories blobs may be mounted from.
        let mut scopes = vec![format!("repository:{path}:pull,push")];
        let mut froms = BTreeSet::new();
        {
            let src = self.inner.sources.lock().unwrap_or_else(|p| p.into_inner());
            for l in &image.layers {
                froms.extend(src.candidates(&host, &path, &l.blob));
            }
        }
        scopes.extend(froms.iter().map(|f| format!("repository:{f}:pull")));
        let sess = Session::connect(self, &host, &opts.credentials, scopes)?;

        // One upload per distinct blob, bottom first.
        let mut seen = BTreeSet::new();
        let todo: Vec<usize> = (0..image.layers.len())
            .filter(|&i| seen.insert(image.layers[i].blob.clone()))
            .collect();
        let workers = self.inner.config.max_concurrent_uploads.max(1);
        for &i in &todo {
            progress(Event::new(
                Some(image.layers[i].diff_id.short()),
                "Preparing",
            ));
        }
        for &i in todo.iter().skip(workers) {
            progress(Event::new(Some(image.layers[i].diff_id.short()), "Waiting"));
        }
        let ctx = PushCtx {
            sess: &sess,
            root,
            path: &path,
            image: &image,
        };
        let results: Vec<Result<(), RegistryError>> = {
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
                                let r = ctx.push_layer(i, &tx);
                                if r.is_err() {
                                    stop.store(true, Ordering::Relaxed);
                                }
                                out.push(r);
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
                            vec![Err(RegistryError::Invalid(
                                "a layer upload thread panicked".into(),
                            ))]
                        })
                    })
                    .collect()
            })
        };
        for r in results {
            r?;
        }
        // The config, then the manifest.
        if !sess.has_blob(&path, &image.id)? {
            let f = root.images.content().reader(&image.id)?;
            ctx.upload(&image.id, image.config_size, &f, None, None)?;
        }
        let (bytes, media_type) = manifest_for(root, &image);
        let digest = Digest::of(&bytes);
        let what = reference
            .tag()
            .map(str::to_owned)
            .unwrap_or_else(|| digest.to_string());
        let url = sess.url(&format!("/v2/{path}/manifests/{what}"));
        let resp = sess.call(
            "PUT",
            &url,
            &[("Content-Type", media_type)],
            &ReqBody::Bytes(&bytes),
            true,
        )?;
        if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
            return Err(sess.error("PUT", &url, resp));
        }
        {
            let mut src = self.inner.sources.lock().unwrap_or_else(|p| p.into_inner());
            for l in &image.layers {
                src.record(&host, &path, &l.blob);
            }
            src.record(&host, &path, &image.id);
        }
        root.images.tag(
            &image.id,
            &reference.repository().with_digest(digest.clone()),
        )?;
        let tag = reference.tag().unwrap_or("").to_owned();
        let size = bytes.len() as u64;
        progress(Event::new(
            None,
            format!(
                "{}: digest: {digest} size: {size}",
                if tag.is_empty() {
                    digest.to_string()
                } else {
                    tag.clone()
                }
            ),
        ));
        Ok(PushResult { tag, digest, size })
    }
}

struct PushCtx<'a, 'r> {
    sess: &'a Session<'r>,
    root: &'a ImageRoot,
    path: &'a str,
    image: &'a Image,
}

impl PushCtx<'_, '_> {
    fn push_layer(&self, i: usize, tx: &Sender<Event>) -> Result<(), RegistryError> {
        let l = &self.image.layers[i];
        let id = l.diff_id.short().to_owned();
        let sess = self.sess;
        if sess.has_blob(self.path, &l.blob)? {
            let _ = tx.send(Event::new(Some(&id), "Layer already exists"));
            return Ok(());
        }
        let froms = sess
            .reg
            .inner
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .candidates(&sess.host, self.path, &l.blob);
        let mut location = None;
        for from in froms {
            let url = sess.url(&format!(
                "/v2/{}/blobs/uploads/?mount={}&from={from}",
                self.path,
                enc_digest(&l.blob)
            ));
            let resp = sess.call("POST", &url, &[], &ReqBody::Empty, true)?;
            match resp.status() {
                StatusCode::CREATED => {
                    let _ = tx.send(Event::new(Some(&id), format!("Mounted from {from}")));
                    return Ok(());
                }
                StatusCode::ACCEPTED => {
                    // Not mountable: the registry opened an ordinary upload instead.
                    location = resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    break;
                }
                _ => continue,
            }
        }
        let f = self.root.images.content().reader(&l.blob)?;
        let total = l.blob_size;
        let last = Arc::new(AtomicU64::new(0));
        let ptx = tx.clone();
        let pid = id.clone();
        let report: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |cur: u64| {
            let prev = last.load(Ordering::Relaxed);
            if cur >= prev + PROGRESS_STEP || (cur == total && prev != total) {
                last.store(cur, Ordering::Relaxed);
                let _ = ptx.send(Event::bytes(&pid, "Pushing", cur, total));
            }
        });
        self.upload(&l.blob, total, &f, location, Some(report))?;
        let _ = tx.send(Event::new(Some(&id), "Pushed"));
        Ok(())
    }

    /// Uploads a blob from `file`: monolithic `PUT`, or `PATCH` chunks when configured.
    /// Transient failures restart the upload (with a new upload session).
    fn upload(
        &self,
        digest: &Digest,
        size: u64,
        file: &File,
        mut location: Option<String>,
        report: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> Result<(), RegistryError> {
        let sess = self.sess;
        let cfg = &sess.reg.inner.config;
        let mut delay = cfg.retry_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = self.upload_once(digest, size, file, location.take(), report.clone());
            match r {
                Err(e) if e.is_transient() && attempt < cfg.max_attempts => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                r => return r,
            }
        }
    }

    fn upload_once(
        &self,
        digest: &Digest,
        size: u64,
        file: &File,
        location: Option<String>,
        report: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> Result<(), RegistryError> {
        let sess = self.sess;
        let next_location = |resp: &ureq::http::Response<ureq::Body>, url: &str| {
            resp.headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(|l| sess.url(l))
                .ok_or_else(|| {
                    RegistryError::Invalid(format!("upload response from {url} has no location"))
                })
        };
        let mut loc = match location {
            Some(l) => sess.url(&l),
            None => {
                let url = sess.url(&format!("/v2/{}/blobs/uploads/", self.path));
                let resp = sess.call("POST", &url, &[], &ReqBody::Empty, true)?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(sess.error("POST", &url, resp));
                }
                next_location(&resp, &url)?
            }
        };
        let octet = ("Content-Type", "application/octet-stream".to_owned());
        let done_url = |loc: &str| with_query(loc, &format!("digest={}", enc_digest(digest)));
        match sess.reg.inner.config.chunk_size {
            None => {
                let url = done_url(&loc);
                let body = ReqBody::File {
                    file,
                    offset: 0,
                    len: size,
                    progress: report,
                };
                let resp = sess.call("PUT", &url, &[octet], &body, false)?;
                if resp.status() != StatusCode::CREATED {
                    return Err(sess.error("PUT", &url, resp));
                }
            }
            Some(chunk) => {
                let chunk = chunk.max(1);
                let mut off = 0u64;
                while off < size {
                    let n = chunk.min(size - off);
                    let base = off;
                    let progress = report.clone().map(|r| {
                        Arc::new(move |sent: u64| r(base + sent)) as Arc<dyn Fn(u64) + Send + Sync>
                    });
                    let body = ReqBody::File {
                        file,
                        offset: off,
                        len: n,
                        progress,
                    };
                    let range = ("Content-Range", format!("{off}-{}", off + n - 1));
                    let resp = sess.call("PATCH", &loc, &[octet.clone(), range], &body, false)?;
                    if resp.status() != StatusCode::ACCEPTED {
                        return Err(sess.error("PATCH", &loc, resp));
                    }
                    loc = next_location(&resp, &loc)?;
                    off += n;
                }
                let url = done_url(&loc);
                let resp = sess.call("PUT", &url, &[], &ReqBody::Empty, false)?;
                if resp.status() != StatusCode::CREATED {
                    return Err(sess.error("PUT", &url, resp));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_urls() {
        let d = Digest::of(b"x");
        assert_eq!(
            with_query(
                "http://r/v2/a/blobs/uploads/u?_state=s",
                &format!("digest={}", enc_digest(&d))
            ),
            format!(
                "http://r/v2/a/blobs/uploads/u?_state=s&digest=sha256%3A{}",
                d.hex()
            )
        );
        assert_eq!(with_query("/u", "a=b"), "/u?a=b");
    }
}
