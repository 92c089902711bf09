//! `docker build`: the builder crate's [`BuildBackend`] over the daemon's services. Step
//! containers are ordinary containers (created from the step's parent image, run through a shim
//! with their output attached, committed, removed); COPY writes into a created container's
//! filesystem; the cache is a key → image file below the data root, kept across restarts; the
//! parent of every step image is recorded so `docker images` hides intermediate images and
//! `rmi` removes them with their child, as Docker does.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_builder::{BackendError, BuildBackend, History, ImageInfo, Out, StepContainer};
pub use berth_builder::{BuildError, Event};
use berth_image::Digest;
use serde_json::{json, Value};

use crate::containers::{AttachRequest, ContainerService, WaitCondition};
use crate::error::{Error, ErrorKind, Result};
use crate::images::ImageService;

pub use berth_builder::{BuildOptions, BuildResult, Context};

/// A `-t` name is a valid image reference.
pub fn check_tag(t: &str) -> Result<()> {
    berth_image::Reference::parse(t)
        .map(|_| ())
        .map_err(|e| Error::invalid(format!("invalid reference format: {e}")))
}

/// The build service: cache and parent records.
#[derive(Debug)]
pub struct BuildService {
    dir: PathBuf,
    images: Arc<ImageService>,
    containers: Arc<ContainerService>,
    cache: Mutex<BTreeMap<String, String>>,
}

fn save_map(p: &std::path::Path, m: &BTreeMap<String, String>) -> Result<()> {
    let data = serde_json::to_vec(m).map_err(|e| Error::internal(e.to_string()))?;
    crate::fsutil::write_atomic(p, &data, crate::fsutil::Atomic::DURABLE)
}

impl BuildService {
    /// Opens `<root>/builder`.
    pub fn open(
        data_root: &std::path::Path,
        images: Arc<ImageService>,
        containers: Arc<ContainerService>,
    ) -> Result<Arc<BuildService>> {
        let dir = data_root.join("builder");
        std::fs::create_dir_all(dir.join("contexts"))?;
        // Contexts a crash left behind.
        if let Ok(rd) = std::fs::read_dir(dir.join("contexts")) {
            for e in rd.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let cache = crate::fsutil::read_json_or_default(&dir.join("cache.json"));
        Ok(Arc::new(BuildService {
            dir,
            images,
            containers,
            cache: Mutex::new(cache),
        }))
    }

    /// Where contexts are unpacked.
    pub fn contexts_dir(&self) -> PathBuf {
        self.dir.join("contexts")
    }

    /// Runs a build (blocking; call from a blocking thread inside the runtime).
    pub fn build(
        self: &Arc<Self>,
        context: &Context,
        opts: &berth_builder::BuildOptions,
        auth: BTreeMap<String, String>,
        out: Out<'_>,
    ) -> std::result::Result<berth_builder::BuildResult, BuildError> {
        let mut be = Backend {
            svc: self.clone(),
            rt: tokio::runtime::Handle::current(),
            auth,
            made: Vec::new(),
            cancel: opts.cancel.clone(),
        };
        let res = berth_builder::build_with(&mut be, context.root(), context.digests(), opts, out);
        // Whatever a failure left: step containers are removed.
        for id in std::mem::take(&mut be.made) {
            let _ = be.rt.block_on(self.containers.remove(&id, true, true));
        }
        res
    }

    /// `POST /build/prune`: forgets the cache and removes the step images nothing else needs
    /// (untagged, no container, not below a kept image). IDs removed and bytes reclaimed.
    pub fn prune(&self, in_use: &std::collections::BTreeSet<Digest>) -> Result<(Vec<String>, i64)> {
        let ids: Vec<String> = {
            let mut c = self.cache.lock().map_err(crate::containers::poisoned)?;
            let ids = c.values().cloned().collect();
            c.clear();
            save_map(&self.dir.join("cache.json"), &c)?;
            ids
        };
        let (removed, bytes) = self.images.remove_unused(&ids, in_use)?;
        Ok((removed, bytes))
    }
}

struct Backend {
    svc: Arc<BuildService>,
    rt: tokio::runtime::Handle,
    auth: BTreeMap<String, String>,
    /// Step containers not yet removed.
    made: Vec<String>,
    /// Set when the client went away: a running step is killed.
    cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Marks a step finished when dropped (stops its cancel watcher).
struct Finish(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn be(e: Error) -> BackendError {
    BackendError {
        not_found: e.kind == ErrorKind::NotFound,
        message: e.message,
    }
}

impl BuildBackend for Backend {
    fn image(
        &mut self,
        name: &str,
        pull: bool,
        out: Out<'_>,
    ) -> std::result::Result<ImageInfo, BackendError> {
        let local = self.svc.images.resolve(name);
        let img = match local {
            Ok(i) if !pull => i,
            _ => {
                let r = berth_image::Reference::parse(name)
                    .map_err(|e| BackendError::new(format!("invalid reference format: {e}")))?;
                let auth = self.auth.get(r.domain()).cloned();
                let repo = r.name();
                let tag = match (r.digest(), r.tag()) {
                    (Some(d), _) => d.to_string(),
                    (None, Some(t)) => t.to_string(),
                    (None, None) => "latest".to_string(),
                };
                let mut progress = |m: berth_api::image::ProgressMessage| {
                    if let Ok(v) = serde_json::to_value(&m) {
                        out(Event::Progress(v));
                    }
                };
                self.svc
                    .images
                    .pull(&repo, &tag, None, auth.as_deref(), &mut progress)
                    .map_err(be)?;
                self.svc.images.resolve(name).map_err(be)?
            }
        };
        let raw = self
            .svc
            .images
            .root()
            .images
            .config_bytes(&img.id)
            .map_err(|e| BackendError::new(e.to_string()))?;
        let v: Value =
            serde_json::from_slice(&raw).map_err(|e| BackendError::new(e.to_string()))?;
        Ok(ImageInfo {
            id: img.id.to_string(),
            config: v["config"].clone(),
        })
    }

    fn create(&mut self, c: &StepContainer<'_>) -> std::result::Result<String, BackendError> {
        let parent = match c.parent {
            Some(p) => p.to_string(),
            None => self.svc.images.empty_image().map_err(be)?,
        };
        let mut req = c.config.clone();
        req["Image"] = json!(parent);
        let mut host = json!({});
        if let Some(n) = c.network {
            host["NetworkMode"] = json!(if n == "default" { "bridge" } else { n });
        }
        req["HostConfig"] = host;
        let req: berth_api::container::ContainerCreateRequest = serde_json::from_value(req)
            .map_err(|e| BackendError::new(format!("step config: {e}")))?;
        let (id, _) = self.svc.containers.create(None, req).map_err(be)?;
        self.made.push(id.clone());
        Ok(id)
    }

    fn run(&mut self, container: &str, out: Out<'_>) -> std::result::Result<i64, BackendError> {
        let svc = self.svc.clone();
        let id = container.to_string();
        let attach = {
            let svc = svc.clone();
            let id = id.clone();
            self.rt.spawn(async move {
                svc.containers
                    .attach(
                        &id,
                        AttachRequest {
                            stdin: false,
                            stdout: true,
                            stderr: true,
                        },
                    )
                    .await
            })
        };
        // The attach is pending before the start, so no output is missed.
        std::thread::sleep(std::time::Duration::from_millis(1));
        let containers = svc.containers.clone();
        self.rt.block_on(containers.start(&id)).map_err(be)?;
        let mut stream = self
            .rt
            .block_on(attach)
            .map_err(|e| BackendError::new(e.to_string()))?
            .map_err(be)?;
        // A client that goes away stops the step.
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(cancel) = self.cancel.clone() {
            let (done, svc, id, rt) = (done.clone(), svc.clone(), id.clone(), self.rt.clone());
            std::thread::spawn(move || {
                use std::sync::atomic::Ordering;
                while !done.load(Ordering::SeqCst) {
                    if cancel.load(Ordering::SeqCst) {
                        let _ = rt.block_on(svc.containers.kill(&id, "KILL"));
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
        }
        let _finish = Finish(done);
        // Docker's multiplexed frames: 8-byte header, then the payload.
        let mut hdr = [0u8; 8];
        loop {
            if stream.read_exact(&mut hdr).is_err() {
                break;
            }
            let n = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
            let mut buf = vec![0u8; n];
            if stream.read_exact(&mut buf).is_err() {
                break;
            }
            out(Event::Stream(String::from_utf8_lossy(&buf).into_owned()));
        }
        self.rt
            .block_on(svc.containers.wait(&id, WaitCondition::NotRunning))
            .map_err(be)
    }

    fn with_root(
        &mut self,
        container: &str,
        f: &mut dyn FnMut(BorrowedFd<'_>) -> std::result::Result<(), BuildError>,
    ) -> std::result::Result<(), BuildError> {
        let mut inner: std::result::Result<(), BuildError> = Ok(());
        self.svc
            .containers
            .with_rootfs(container, true, |root| {
                inner = f(root);
                Ok(())
            })
            .map_err(|e| BuildError::Backend(e.message))?;
        inner
    }

    fn with_image_root(
        &mut self,
        image: &str,
        f: &mut dyn FnMut(BorrowedFd<'_>) -> std::result::Result<(), BuildError>,
    ) -> std::result::Result<(), BuildError> {
        let id: Digest = image
            .parse()
            .map_err(|_| BuildError::Backend(format!("bad image id {image}")))?;
        let mut inner: std::result::Result<(), BuildError> = Ok(());
        self.svc
            .images
            .with_image_fs(&id, &self.svc.dir, |path| {
                let d = std::fs::File::open(path)?;
                inner = f(d.as_fd());
                Ok(())
            })
            .map_err(|e| BuildError::Backend(e.message))?;
        inner
    }

    fn commit(
        &mut self,
        container: Option<&str>,
        parent: Option<&str>,
        config: &Value,
        history: &History,
        epoch: Option<i64>,
    ) -> std::result::Result<String, BackendError> {
        let parent = parent
            .map(|p| p.parse::<Digest>())
            .transpose()
            .map_err(|_| BackendError::new("bad parent image id"))?;
        let key = container.map(crate::containers::snapshot_key);
        let id = self
            .svc
            .images
            .commit_build(
                key.as_deref(),
                parent.as_ref(),
                config.clone(),
                &history.created_by,
                &history.created,
                history.author.as_deref(),
                epoch.map(|e| e.max(0) as u64),
            )
            .map_err(be)?;
        if let (Some(p), Ok(child)) = (parent, id.parse::<Digest>()) {
            self.svc.images.set_parent(&child, &p).map_err(be)?;
        }
        Ok(id)
    }

    fn remove(&mut self, container: &str) -> std::result::Result<(), BackendError> {
        self.made.retain(|c| c != container);
        self.rt
            .block_on(self.svc.containers.remove(container, true, true))
            .map_err(be)
    }

    fn cache_get(&mut self, key: &str) -> Option<String> {
        let id = self.svc.cache.lock().ok()?.get(key).cloned()?;
        let d: Digest = id.parse().ok()?;
        self.svc.images.root().images.get(&d).map(|_| id)
    }

    fn cache_put(&mut self, key: &str, image: &str) -> std::result::Result<(), BackendError> {
        let mut c = self
            .svc
            .cache
            .lock()
            .map_err(|_| BackendError::new("cache lock poisoned"))?;
        c.insert(key.to_string(), image.to_string());
        save_map(&self.svc.dir.join("cache.json"), &c).map_err(be)
    }

    fn tag(&mut self, image: &str, name: &str) -> std::result::Result<String, BackendError> {
        let r = berth_image::Reference::parse(name)
            .map_err(|e| BackendError::new(format!("invalid reference format: {e}")))?;
        self.svc.images.tag_ref(image, &r).map_err(be)?;
        Ok(r.familiar())
    }
}
