//! Images through the API: the `image` crate's stores seen as Docker's image objects. All calls
//! block (disk I/O); the server runs them on blocking threads.
use std::io::Read;

use berth_api::container::ContainerConfig;
use std::collections::{BTreeMap, BTreeSet};

use berth_api::image::{
    HistoryItem, ImageDeleteItem, ImageInspect, ImagePruneResponse, ImageSummary, RootFs,
};
use berth_image::{archive, Digest, Image, ImageRoot, ImportOptions, Reference};

use crate::error::{Error, Result};

fn gc_err(e: berth_image::GcError) -> Error {
    match e {
        berth_image::GcError::Conflict(m) => Error::conflict(format!("conflict: unable to {m}")),
        berth_image::GcError::Image(i) => i.into(),
        other => Error::internal(other.to_string()),
    }
}

fn report_items(rep: &berth_image::RemoveReport) -> Vec<ImageDeleteItem> {
    rep.untagged
        .iter()
        .map(|r| ImageDeleteItem::Untagged(r.familiar()))
        .chain(
            rep.deleted
                .iter()
                .map(|d| ImageDeleteItem::Deleted(d.to_string())),
        )
        .collect()
}

/// Image operations over one data root.
#[derive(Debug)]
pub struct ImageService {
    root: ImageRoot,
    registry: berth_image::registry::Registry,
    events: crate::events::Events,
    /// Build step images' parents (child ID → parent ID), `<root>/builder/parents.json`.
    parents: std::sync::Mutex<BTreeMap<String, String>>,
    parents_file: std::path::PathBuf,
}

/// An image's runtime defaults (its config's `config` object), in API terms.
pub type ImageDefaults = ContainerConfig;

fn unix_secs(rfc3339: Option<&str>) -> i64 {
    // "2024-01-02T03:04:05.123Z" → seconds; a malformed time is 0 (Docker shows it as such).
    let Some(t) = rfc3339 else { return 0 };
    let b = t.as_bytes();
    if b.len() < 19 {
        return 0;
    }
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|s| s.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return 0;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    days * 86400 + h * 3600 + mi * 60 + s
}

impl ImageService {
    pub fn open(
        data_root: &std::path::Path,
        reg: &crate::config::RegistrySettings,
        events: crate::events::Events,
    ) -> Result<ImageService> {
        let root = ImageRoot::open(data_root).map_err(|e| Error::internal(e.to_string()))?;
        let registry =
            berth_image::registry::Registry::new(berth_image::registry::RegistryConfig {
                certs_dir: reg.certs_dir.clone(),
                insecure_registries: reg.insecure_registries.clone(),
                mirrors: reg.mirrors.clone(),
                max_concurrent_downloads: reg.max_concurrent_downloads.max(1),
                max_concurrent_uploads: reg.max_concurrent_uploads.max(1),
                blob_sources: Some(data_root.join("image/registry-sources.json")),
                user_agent: format!("berth/{} (docker-compatible)", env!("CARGO_PKG_VERSION")),
                ..Default::default()
            });
        let parents_file = data_root.join("builder/parents.json");
        let parents = crate::fsutil::read_json_or_default(&parents_file);
        Ok(ImageService {
            root,
            registry,
            events,
            parents: std::sync::Mutex::new(parents),
            parents_file,
        })
    }

    /// An image event as dockerd logs them (`Actor.ID` and the `name` attribute).
    fn event(&self, action: &str, id: &str, name: &str) {
        self.events.publish(
            "image",
            action,
            id,
            BTreeMap::from([("name".to_string(), name.to_string())]),
        );
    }

    fn delete_events(&self, items: &[ImageDeleteItem]) {
        for it in items {
            match it {
                ImageDeleteItem::Untagged(n) => self.event("untag", n, n),
                ImageDeleteItem::Deleted(id) => self.event("delete", id, id),
            }
        }
    }

    /// `POST /images/create?fromImage=…`: pull (every tag with `all_tags`), progress as
    /// Docker's JSON messages. Blocking.
    pub fn pull(
        &self,
        image: &str,
        tag: &str,
        platform: Option<&str>,
        auth_header: Option<&str>,
        progress: &mut dyn FnMut(berth_api::image::ProgressMessage),
    ) -> Result<()> {
        use berth_image::registry::{parse_platform, Credentials, PullOptions};
        let creds = match auth_header.filter(|h| !h.is_empty()) {
            Some(h) => Credentials::from_header(h)?,
            None => Credentials::default(),
        };
        let platform = platform
            .filter(|p| !p.is_empty())
            .map(parse_platform)
            .transpose()?;
        let opts = PullOptions {
            credentials: creds,
            platform,
        };
        // `fromImage` may carry the tag or digest itself; `tag` may be a digest too.
        let name = if tag.is_empty() {
            image.to_string()
        } else if tag.starts_with("sha256:") {
            format!("{image}@{tag}")
        } else {
            format!("{image}:{tag}")
        };
        let mut emit = |e: berth_image::registry::Event| progress(to_message(e));
        let all = tag.is_empty()
            && berth_image::Reference::parse_named(image)
                .map(|r| r.tag().is_none() && r.digest().is_none())
                .unwrap_or(false);
        if all {
            let repo = berth_image::Reference::parse_named(image)
                .map_err(|e| Error::invalid(format!("invalid reference format: {e}")))?;
            let pulled = self
                .registry
                .pull_all_tags(&self.root, &repo, &opts, &mut emit)?;
            let up = pulled.iter().all(|p| p.up_to_date);
            progress(berth_api::image::ProgressMessage::status(format!(
                "Status: {} for {}",
                if up {
                    "Image is up to date"
                } else {
                    "Downloaded newer image"
                },
                repo.familiar_name()
            )));
            return Ok(());
        }
        let reference = berth_image::Reference::parse(&name)
            .map_err(|e| Error::invalid(format!("invalid reference format: {e}")))?;
        self.registry
            .pull(&self.root, &reference, &opts, &mut emit)?;
        self.event("pull", &reference.familiar(), &reference.familiar());
        Ok(())
    }

    /// `POST /images/{name}/push`: the tag given, or every tag of the repository.
    pub fn push(
        &self,
        name: &str,
        tag: &str,
        auth_header: Option<&str>,
        progress: &mut dyn FnMut(berth_api::image::ProgressMessage),
    ) -> Result<()> {
        use berth_image::registry::{Credentials, PushOptions};
        let creds = match auth_header.filter(|h| !h.is_empty()) {
            Some(h) => Credentials::from_header(h)?,
            None => Credentials::default(),
        };
        let opts = PushOptions { credentials: creds };
        let repo = berth_image::Reference::parse_named(name)
            .map_err(|e| Error::invalid(format!("invalid reference format: {e}")))?;
        let tags: Vec<String> = if !tag.is_empty() {
            vec![tag.to_string()]
        } else if let Some(t) = repo.tag() {
            vec![t.to_string()]
        } else {
            let want = repo.repository();
            let mut t: Vec<String> = self
                .root
                .images
                .list()
                .iter()
                .flat_map(|i| i.repo_tags.iter())
                .filter(|r| r.repository() == want)
                .filter_map(|r| r.tag().map(str::to_string))
                .collect();
            t.dedup();
            t.sort();
            if t.is_empty() {
                return Err(Error::not_found(format!(
                    "An image does not exist locally with the tag: {}",
                    repo.familiar_name()
                )));
            }
            t
        };
        for t in tags {
            let r = repo
                .with_tag(&t)
                .map_err(|e| Error::invalid(format!("invalid reference format: {e}")))?;
            let mut emit = |e: berth_image::registry::Event| progress(to_message(e));
            let res = self.registry.push(&self.root, &r, &opts, &mut emit)?;
            self.event("push", &r.familiar(), &r.familiar());
            let mut aux = berth_api::image::ProgressMessage::aux(serde_json::json!({
                "Tag": res.tag, "Digest": res.digest.to_string(), "Size": res.size,
            }));
            aux.progress_detail = Some(Default::default());
            progress(aux);
        }
        Ok(())
    }

    /// `POST /auth`: the identity token the registry gave, if any.
    pub fn login(
        &self,
        server: &str,
        username: &str,
        password: &str,
        identity_token: &str,
    ) -> Result<Option<String>> {
        let mut c = berth_image::registry::Credentials::basic(username, password);
        c.identity_token = identity_token.to_string();
        Ok(self.registry.login(server, &c)?)
    }

    pub fn root(&self) -> &ImageRoot {
        &self.root
    }

    /// An image by name, ID or ID prefix (`No such image: X` otherwise).
    pub fn resolve(&self, name: &str) -> Result<Image> {
        Ok(self.root.images.resolve(name)?)
    }

    /// The image's config defaults (Cmd, Entrypoint, Env, ...).
    pub fn defaults(&self, id: &Digest) -> Result<ImageDefaults> {
        let raw = self.root.images.config_bytes(id)?;
        let v: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|e| Error::internal(format!("image config: {e}")))?;
        Ok(serde_json::from_value(v["config"].clone()).unwrap_or_default())
    }

    /// `GET /images/json`.
    pub fn list(&self, all: bool) -> Vec<ImageSummary> {
        let parents = self.parent_map();
        let with_children: BTreeSet<&String> = parents.values().collect();
        let mut v: Vec<ImageSummary> = self
            .root
            .images
            .list()
            .into_iter()
            // Docker lists intermediate build images only with `-a`.
            .filter(|i| {
                all || !i.repo_tags.is_empty() || !with_children.contains(&i.id.to_string())
            })
            .map(|i| {
                let size = i.size() as i64;
                ImageSummary {
                    containers: -1,
                    created: unix_secs(i.created.as_deref()),
                    id: i.id.to_string(),
                    labels: i.labels.clone(),
                    parent_id: parents.get(&i.id.to_string()).cloned().unwrap_or_default(),
                    repo_digests: i.repo_digests.iter().map(Reference::familiar).collect(),
                    repo_tags: i.repo_tags.iter().map(Reference::familiar).collect(),
                    shared_size: -1,
                    size,
                    virtual_size: size,
                }
            })
            .collect();
        v.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        v
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect> {
        let i = self.resolve(name)?;
        let raw = self.root.images.config_bytes(&i.id)?;
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
        let size = i.size() as i64;
        Ok(ImageInspect {
            id: i.id.to_string(),
            repo_tags: i.repo_tags.iter().map(Reference::familiar).collect(),
            repo_digests: i.repo_digests.iter().map(Reference::familiar).collect(),
            created: i.created.clone().unwrap_or_default(),
            config: serde_json::from_value(v["config"].clone()).unwrap_or_default(),
            author: v["author"].as_str().unwrap_or_default().to_string(),
            comment: v["comment"].as_str().unwrap_or_default().to_string(),
            docker_version: v["docker_version"].as_str().unwrap_or_default().to_string(),
            architecture: i.architecture.clone(),
            os: i.os.clone(),
            size,
            virtual_size: size,
            graph_driver: berth_api::container::GraphDriverData {
                name: "overlay2".into(),
                ..Default::default()
            },
            root_fs: RootFs {
                r#type: "layers".into(),
                layers: i.diff_ids().iter().map(|d| d.to_string()).collect(),
            },
            ..Default::default()
        })
    }

    /// For `system df`: each image's size shared with other images (layers they have in
    /// common), and the size of all distinct layers together.
    pub fn layer_sharing(&self) -> (std::collections::HashMap<String, i64>, i64) {
        let imgs = self.root.images.list();
        let mut count: std::collections::HashMap<Digest, (usize, u64)> = Default::default();
        for i in &imgs {
            for (cid, l) in i.chain_ids().into_iter().zip(&i.layers) {
                count.entry(cid).or_insert((0, l.unpacked_size)).0 += 1;
            }
        }
        let total = count.values().map(|(_, s)| *s as i64).sum();
        let shared = imgs
            .iter()
            .map(|i| {
                let s: i64 = i
                    .chain_ids()
                    .iter()
                    .filter_map(|c| count.get(c))
                    .filter(|(n, _)| *n > 1)
                    .map(|(_, s)| *s as i64)
                    .sum();
                (i.id.to_string(), s)
            })
            .collect();
        (shared, total)
    }

    /// `POST /images/load`: every image in a docker-archive or OCI archive. Returns the lines
    /// Docker prints (`Loaded image: busybox:latest`, `Loaded image ID: sha256:…`).
    pub fn load(&self, r: impl Read) -> Result<Vec<String>> {
        let loaded = archive::load(self.root.stores(), r, &mut |_| {})?;
        let mut out = Vec::new();
        for l in loaded {
            let id = l.image.id.to_string();
            self.event("load", &id, &id);
            for (name, old) in &l.moved {
                out.push(format!(
                    "The image {} already exists, renaming the old one with ID {} to empty string",
                    name.familiar(),
                    old
                ));
            }
            if l.names.is_empty() {
                out.push(format!("Loaded image ID: {}", l.image.id));
            }
            for n in &l.names {
                out.push(format!("Loaded image: {}", n.familiar()));
            }
        }
        Ok(out)
    }

    /// `POST /images/create?fromSrc=-`: a rootfs tarball as a one-layer image; its ID.
    pub fn import(
        &self,
        r: impl Read,
        reference: Option<&str>,
        changes: Vec<String>,
        message: Option<String>,
    ) -> Result<String> {
        let reference = match reference {
            Some(s) if !s.is_empty() => {
                Some(Reference::parse(s).map_err(|e| Error::invalid(e.to_string()))?)
            }
            _ => None,
        };
        let opts = ImportOptions {
            changes,
            message,
            reference,
            platform: None,
        };
        let l = archive::import(self.root.stores(), r, &opts)?;
        let id = l.image.id.to_string();
        self.event("import", &id, &id);
        Ok(id)
    }

    /// `DELETE /images/{name}`: untag, or delete when nothing else names or uses it.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &BTreeSet<Digest>,
    ) -> Result<Vec<ImageDeleteItem>> {
        let mut rep =
            berth_image::gc::remove_image(&self.root, name, in_use, force).map_err(gc_err)?;
        // Docker also deletes the untagged build parents nothing else needs.
        let mut next: Vec<Digest> = rep.deleted.clone();
        while let Some(child) = next.pop() {
            let parents = self.parent_map();
            let Some(p) = parents.get(&child.to_string()).cloned() else {
                continue;
            };
            let children = parents.values().filter(|v| **v == p).count();
            self.forget_parent(&child.to_string());
            let Ok(pd) = p.parse::<Digest>() else {
                continue;
            };
            if children > 1 || in_use.contains(&pd) {
                continue;
            }
            let more =
                berth_image::gc::remove_unnamed(&self.root, std::slice::from_ref(&pd), in_use)
                    .map_err(gc_err)?;
            if more.deleted.contains(&pd) {
                next.push(pd);
            }
            rep.merge_report(more);
        }
        let items = report_items(&rep);
        self.delete_events(&items);
        Ok(items)
    }

    /// `POST /images/prune`: dangling images, or (`all`) every unused one.
    pub fn prune(&self, all: bool, in_use: &BTreeSet<Digest>) -> Result<ImagePruneResponse> {
        // An image below another (a build step's parent) is not dangling.
        let mut keep = in_use.clone();
        if !all {
            keep.extend(self.parent_map().values().filter_map(|p| p.parse().ok()));
        }
        let rep = berth_image::gc::prune(&self.root, all, &keep).map_err(gc_err)?;
        let items = report_items(&rep);
        self.delete_events(&items);
        Ok(ImagePruneResponse {
            images_deleted: if items.is_empty() { None } else { Some(items) },
            space_reclaimed: rep.reclaimed,
        })
    }

    /// `GET /images/{name}/history`: newest first, as Docker lists it.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let img = self.resolve(name)?;
        let tags: Vec<String> = img.repo_tags.iter().map(Reference::familiar).collect();
        let entries = self.root.images.history(&img.id)?;
        let n = entries.len();
        Ok(entries
            .into_iter()
            .enumerate()
            .rev()
            .map(|(i, e)| HistoryItem {
                id: if i + 1 == n {
                    img.id.to_string()
                } else {
                    "<missing>".into()
                },
                created: unix_secs(e.created.as_deref()),
                created_by: e.created_by.unwrap_or_default(),
                tags: if i + 1 == n && !tags.is_empty() {
                    Some(tags.clone())
                } else {
                    None
                },
                size: e.size as i64,
                comment: e.comment.unwrap_or_default(),
            })
            .collect())
    }

    /// `GET /images/get?names=…`: a docker-archive of the named images.
    pub fn save(&self, names: &[String], w: impl std::io::Write) -> Result<()> {
        let mut list = Vec::new();
        for n in names {
            let img = self.resolve(n)?;
            // A name keeps its tag in the archive; an ID saves the image untagged.
            let refs = match Reference::parse(n) {
                Ok(r) if self.root.images.lookup(&r).as_ref() == Some(&img.id) => vec![r],
                _ => Vec::new(),
            };
            list.push((img.id.clone(), refs));
        }
        archive::save(self.root.stores(), &list, w, &mut |_| {})?;
        for (id, _) in &list {
            self.event("save", &id.to_string(), &id.to_string());
        }
        Ok(())
    }

    /// `POST /commit`: the container snapshot `key`'s changes as a new layer on top of image
    /// `parent`, with `config` as the image's runtime config (after `changes`). The new image ID.
    #[allow(clippy::too_many_arguments)]
    pub fn commit(
        &self,
        key: &str,
        parent: &Digest,
        config: &berth_api::container::ContainerConfig,
        changes: &[String],
        comment: &str,
        author: &str,
        created_by: &str,
        reference: Option<&str>,
    ) -> Result<String> {
        let reference = match reference {
            Some(r) if !r.is_empty() => {
                Some(Reference::parse(r).map_err(|e| Error::invalid(e.to_string()))?)
            }
            _ => None,
        };
        let img = self
            .root
            .images
            .get(parent)
            .ok_or_else(|| Error::not_found(format!("No such image: {parent}")))?;
        let raw = self.root.images.config_bytes(parent)?;
        let mut cfg: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|e| Error::internal(format!("image config: {e}")))?;
        let mut runtime =
            serde_json::to_value(config).map_err(|e| Error::internal(e.to_string()))?;
        for c in changes {
            berth_image::archive::apply_change(&mut runtime, c)?;
        }
        let blob = self.write_layer(key, None)?;
        let now = crate::containers::record::rfc3339_ns(crate::containers::record::now_ns());
        cfg["config"] = runtime;
        cfg["created"] = serde_json::json!(now);
        if !author.is_empty() {
            cfg["author"] = serde_json::json!(author);
        }
        // Docker keeps the commit message at the top of the config too (inspect's Comment).
        if let Some(o) = cfg.as_object_mut() {
            o.remove("comment");
        }
        if !comment.is_empty() {
            cfg["comment"] = serde_json::json!(comment);
        }
        if let Some(ids) = cfg["rootfs"]["diff_ids"].as_array_mut() {
            ids.push(serde_json::json!(blob.digest.to_string()));
        }
        let mut h = serde_json::json!({"created": now, "created_by": created_by});
        if !comment.is_empty() {
            h["comment"] = serde_json::json!(comment);
        }
        if !author.is_empty() {
            h["author"] = serde_json::json!(author);
        }
        match cfg["history"].as_array_mut() {
            Some(a) => a.push(h),
            None => cfg["history"] = serde_json::json!([h]),
        }
        let mut blobs: Vec<(Digest, String)> = img
            .layers
            .iter()
            .map(|l| (l.blob.clone(), l.media_type.clone()))
            .collect();
        blobs.push((
            blob.digest.clone(),
            "application/vnd.oci.image.layer.v1.tar".to_string(),
        ));
        let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
        let names: Vec<Reference> = reference.into_iter().collect();
        let l = archive::store_image(self.root.stores(), &bytes, &blobs, &names)?;
        Ok(l.image.id.to_string())
    }

    /// The active snapshot `key`'s changes as a layer blob in the content store (file times
    /// clamped to `clamp` when given).
    fn write_layer(&self, key: &str, clamp: Option<u64>) -> Result<berth_image::BlobInfo> {
        // The upper directory as a tar (whiteouts in OCI form), stored as a blob.
        let tmp = self
            .root
            .snapshots
            .root()
            .join(format!(".commit-{}-{key}", std::process::id()));
        let tar = std::fs::File::create(&tmp)?;
        let info = self
            .root
            .snapshots
            .commit_clamped(key, clamp, std::io::BufWriter::new(tar));
        let blob = info.map_err(Error::from).and_then(|_| {
            let f = std::fs::File::open(&tmp)?;
            self.root
                .content
                .ingest(&format!("commit-{key}"), f, None)
                .map_err(|e| Error::internal(e.to_string()))
        });
        let _ = std::fs::remove_file(&tmp);
        blob
    }

    /// A build step's image: `parent`'s layers (none: an empty image) plus the snapshot `key`'s
    /// changes if given, `runtime` as the runtime config, one history entry appended.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_build(
        &self,
        key: Option<&str>,
        parent: Option<&Digest>,
        runtime: serde_json::Value,
        created_by: &str,
        created: &str,
        author: Option<&str>,
        clamp: Option<u64>,
    ) -> Result<String> {
        let (mut cfg, mut blobs) = match parent {
            Some(p) => {
                let img = self
                    .root
                    .images
                    .get(p)
                    .ok_or_else(|| Error::not_found(format!("No such image: {p}")))?;
                let raw = self.root.images.config_bytes(p)?;
                let cfg: serde_json::Value = serde_json::from_slice(&raw)
                    .map_err(|e| Error::internal(format!("image config: {e}")))?;
                let blobs: Vec<(Digest, String)> = img
                    .layers
                    .iter()
                    .map(|l| (l.blob.clone(), l.media_type.clone()))
                    .collect();
                (cfg, blobs)
            }
            None => (
                serde_json::json!({
                    "architecture": berth_image::archive::host_arch(),
                    "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": []},
                }),
                Vec::new(),
            ),
        };
        let mut h = serde_json::json!({"created": created, "created_by": created_by});
        if let Some(k) = key {
            let blob = self.write_layer(k, clamp)?;
            if let Some(ids) = cfg["rootfs"]["diff_ids"].as_array_mut() {
                ids.push(serde_json::json!(blob.digest.to_string()));
            }
            blobs.push((
                blob.digest.clone(),
                "application/vnd.oci.image.layer.v1.tar".to_string(),
            ));
        } else {
            h["empty_layer"] = serde_json::json!(true);
        }
        if let Some(a) = author {
            cfg["author"] = serde_json::json!(a);
            h["author"] = serde_json::json!(a);
        }
        cfg["config"] = runtime;
        cfg["created"] = serde_json::json!(created);
        if let Some(o) = cfg.as_object_mut() {
            o.remove("comment");
            o.remove("container_config");
            o.remove("container");
        }
        match cfg["history"].as_array_mut() {
            Some(a) => a.push(h),
            None => cfg["history"] = serde_json::json!([h]),
        }
        let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
        let l = archive::store_image(self.root.stores(), &bytes, &blobs, &[])?;
        Ok(l.image.id.to_string())
    }

    fn parent_map(&self) -> BTreeMap<String, String> {
        self.parents.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn save_parents(&self, m: &BTreeMap<String, String>) -> Result<()> {
        if let Some(d) = self.parents_file.parent() {
            std::fs::create_dir_all(d)?;
        }
        let data = serde_json::to_vec(m).map_err(|e| Error::internal(e.to_string()))?;
        crate::fsutil::write_atomic(&self.parents_file, &data, crate::fsutil::Atomic::PLAIN)
    }

    /// Records that the build step image `child` was made on `parent`.
    pub fn set_parent(&self, child: &Digest, parent: &Digest) -> Result<()> {
        let mut m = self
            .parents
            .lock()
            .map_err(|_| Error::internal("parents lock poisoned"))?;
        if m.get(&child.to_string()) == Some(&parent.to_string()) {
            return Ok(());
        }
        m.insert(child.to_string(), parent.to_string());
        self.save_parents(&m)
    }

    fn forget_parent(&self, child: &str) {
        if let Ok(mut m) = self.parents.lock() {
            if m.remove(child).is_some() {
                let _ = self.save_parents(&m);
            }
        }
    }

    /// An image's recorded parent (build steps).
    pub fn parent_of(&self, id: &Digest) -> Option<String> {
        self.parent_map().get(&id.to_string()).cloned()
    }

    /// The image with no layers and an empty config that `FROM scratch` steps start from.
    pub fn empty_image(&self) -> Result<String> {
        let cfg = serde_json::json!({
            "architecture": berth_image::archive::host_arch(),
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
        let id = Digest::of(&bytes);
        if self.root.images.get(&id).is_some() {
            return Ok(id.to_string());
        }
        let l = archive::store_image(self.root.stores(), &bytes, &[], &[])?;
        Ok(l.image.id.to_string())
    }

    /// Tags the image `id` as `r`.
    pub fn tag_ref(&self, id: &str, r: &Reference) -> Result<()> {
        let i = self.resolve(id)?;
        self.root.images.tag(&i.id, r)?;
        self.event("tag", &i.id.to_string(), &r.familiar());
        Ok(())
    }

    /// Removes the build images `ids` that nothing needs: untagged, not used by a container and
    /// not below a kept (tagged or used) image. The IDs removed and the bytes reclaimed.
    pub fn remove_unused(
        &self,
        ids: &[String],
        in_use: &BTreeSet<Digest>,
    ) -> Result<(Vec<String>, i64)> {
        let parents = self.parent_map();
        let mut keep: BTreeSet<String> = BTreeSet::new();
        for i in self.root.images.list() {
            if i.repo_tags.is_empty() && !in_use.contains(&i.id) {
                continue;
            }
            let mut cur = Some(i.id.to_string());
            while let Some(c) = cur {
                if !keep.insert(c.clone()) {
                    break;
                }
                cur = parents.get(&c).cloned();
            }
        }
        let victims: Vec<Digest> = ids
            .iter()
            .filter(|i| !keep.contains(*i))
            .filter_map(|i| i.parse().ok())
            .collect();
        let rep = berth_image::gc::remove_unnamed(&self.root, &victims, in_use).map_err(gc_err)?;
        for d in &rep.deleted {
            self.forget_parent(&d.to_string());
            self.event("delete", &d.to_string(), &d.to_string());
        }
        Ok((
            rep.deleted.iter().map(|d| d.to_string()).collect(),
            rep.reclaimed as i64,
        ))
    }

    /// Calls `f` with the image's filesystem mounted read-only below `dir` (unmounted after).
    pub fn with_image_fs<T>(
        &self,
        id: &Digest,
        dir: &std::path::Path,
        f: impl FnOnce(&std::path::Path) -> Result<T>,
    ) -> Result<T> {
        let img = self
            .root
            .images
            .get(id)
            .ok_or_else(|| Error::not_found(format!("No such image: {id}")))?;
        let target = dir.join(format!("view-{}", crate::containers::random_hex(16)));
        std::fs::create_dir_all(&target)?;
        let Some(top) = img.top_chain_id() else {
            // No layers: an empty directory.
            let r = f(&target);
            let _ = std::fs::remove_dir(&target);
            return r;
        };
        let key = format!("build-view-{}", crate::containers::random_hex(16));
        let mounts = self.root.snapshots.view(&key, top.hex())?;
        let res = (|| {
            let m = mounts
                .first()
                .ok_or_else(|| Error::internal("the image has no filesystem"))?;
            mount_snapshot(m, &target, "the image's layers")?;
            let r = f(&target);
            let _ = std::process::Command::new("umount")
                .arg(&target)
                .stderr(std::process::Stdio::null())
                .status();
            r
        })();
        let _ = std::fs::remove_dir(&target);
        let _ = self.root.snapshots.remove(&key);
        res
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        let i = self.resolve(name)?;
        let full = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        let r = Reference::parse(&full).map_err(|e| Error::invalid(e.to_string()))?;
        self.root.images.tag(&i.id, &r)?;
        self.event("tag", &i.id.to_string(), &r.familiar());
        Ok(())
    }
}

/// Unix seconds of an RFC 3339 time (shared with the logs reader).
pub(crate) fn unix_secs_pub(t: Option<&str>) -> i64 {
    unix_secs(t)
}

/// A registry progress event as Docker's JSON message.
fn to_message(e: berth_image::registry::Event) -> berth_api::image::ProgressMessage {
    let mut m = berth_api::image::ProgressMessage::status(e.status);
    m.id = e.id.unwrap_or_default();
    if let Some((current, total)) = e.progress {
        m.progress_detail = Some(berth_api::image::ProgressDetail {
            current: current as i64,
            total: total as i64,
            ..Default::default()
        });
    } else if !m.id.is_empty() {
        m.progress_detail = Some(Default::default());
    }
    m
}

/// Mounts a snapshot's mount (as the snapshotter returned it) at `target`; `what` names it in
/// the error.
pub(crate) fn mount_snapshot(
    m: &berth_image::Mount,
    target: &std::path::Path,
    what: &str,
) -> Result<()> {
    let mut cmd = std::process::Command::new("mount");
    if m.kind != "bind" {
        cmd.args(["-t", m.kind.as_str()]);
    }
    cmd.arg("-o").arg(m.data()).arg(&m.source).arg(target);
    if let Some(cwd) = &m.cwd {
        cmd.current_dir(cwd);
    }
    let out = cmd.stdin(std::process::Stdio::null()).output()?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "mount {what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_times_become_unix_seconds() {
        assert_eq!(unix_secs(Some("1970-01-01T00:00:00Z")), 0);
        assert_eq!(
            unix_secs(Some("2026-11-18T11:06:40.000000005Z")),
            1_795_000_000
        );
        assert_eq!(unix_secs(Some("2000-03-01T00:00:00Z")), 951_868_800);
        assert_eq!(unix_secs(Some("junk")), 0);
        assert_eq!(unix_secs(None), 0);
    }
}
