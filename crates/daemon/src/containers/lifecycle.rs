//! create, start, attach, wait, stop, kill, remove, and re-adoption after a daemon restart.
use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use berth_api::container::ContainerCreateRequest;
use berth_shim::protocol::Task;
use berth_shim::{AttachHello, LogSpec, MountSpec, Request, ShimClient};
use tokio::sync::{oneshot, watch};

use super::record::{now_ns, Record, State, Status, SCHEMA};
use super::{poisoned, ContainerService, Ctr, Gen, Pending};
use crate::error::{Error, ErrorKind, Result};

/// `POST /containers/{id}/wait?condition=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// What an attach asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachRequest {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nifty", "proud", "quirky", "sharp", "tender", "vivid", "witty", "zen",
];
const NOUNS: &[&str] = &[
    "anchor",
    "beacon",
    "cove",
    "dock",
    "ferry",
    "harbor",
    "jetty",
    "keel",
    "lighthouse",
    "mooring",
    "pier",
    "quay",
    "rudder",
    "schooner",
    "tide",
    "wharf",
];

fn valid_name(n: &str) -> bool {
    let mut ch = n.chars();
    matches!(ch.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && ch.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `n` random hex digits.
pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n / 2];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

/// Docker's merge of the image's defaults and the request.
fn merge(
    req: &mut berth_api::container::ContainerConfig,
    img: &berth_api::container::ContainerConfig,
) {
    if req.entrypoint.is_none() {
        req.entrypoint = img.entrypoint.clone();
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            req.cmd = img.cmd.clone();
        }
    }
    let mut env: Vec<String> = img.env.clone().unwrap_or_default();
    for kv in req.env.iter().flatten() {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    req.env = Some(env);
    if req.working_dir.is_empty() {
        req.working_dir = img.working_dir.clone();
    }
    if req.user.is_empty() {
        req.user = img.user.clone();
    }
    for p in &img.exposed_ports {
        req.exposed_ports.insert(p.clone());
    }
    let mut labels = img.labels.clone().unwrap_or_default();
    labels.extend(req.labels.clone().unwrap_or_default());
    req.labels = Some(labels);
    if req.stop_signal.is_empty() {
        req.stop_signal = img.stop_signal.clone();
    }
    super::health::merge(&mut req.healthcheck, img.healthcheck.as_ref());
    if let Some(iv) = &img.volumes {
        req.volumes
            .get_or_insert_with(Default::default)
            .extend(iv.iter().cloned());
    }
}

impl ContainerService {
    /// `POST /containers/create`.
    pub fn create(
        &self,
        name: Option<&str>,
        req: ContainerCreateRequest,
    ) -> Result<(String, Vec<String>)> {
        let image = self
            .images
            .resolve(&req.config.image)
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => {
                    Error::not_found(format!("No such image: {}", req.config.image))
                }
                _ => e,
            })?;
        let defaults = self.images.defaults(&image.id)?;
        if let Some(h) = &req.config.healthcheck {
            super::health::validate(h)?;
        }
        let mut config = req.config.clone();
        merge(&mut config, &defaults);
        let mut host_config = req.host_config.clone().unwrap_or_default();
        // Docker records the daemon's default log driver when none is asked for (docker-py
        // reads it to decide whether `run` can return the output).
        if host_config.log_config.r#type.is_empty() {
            host_config.log_config.r#type = "json-file".into();
        }
        // Docker records the runtime a container runs with: the default when none is named.
        self.cfg.runtime(&host_config.runtime)?;
        if host_config.runtime.is_empty() {
            host_config.runtime = self.cfg.default_runtime.clone();
        }
        let rp = &host_config.restart_policy;
        match rp.name.as_str() {
            "" | "no" | "always" | "unless-stopped" if rp.maximum_retry_count != 0 => {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ))
            }
            "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
            other => {
                return Err(Error::invalid(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure' or 'unless-stopped'"
                )))
            }
        }
        crate::userns::check_host_config(self.cfg.userns_remap.as_ref(), &host_config)?;
        let remap =
            crate::userns::for_container(self.cfg.userns_remap.as_ref(), &host_config).cloned();
        if host_config.auto_remove && !matches!(rp.name.as_str(), "" | "no") {
            return Err(Error::invalid(
                "conflicting options: cannot specify both --restart and --rm",
            ));
        }
        let mut cmd: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        cmd.extend(config.cmd.clone().unwrap_or_default());
        if cmd.is_empty() {
            return Err(Error::invalid("No command specified"));
        }
        let id = random_hex(64);
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.trim_start_matches('/');
                if !valid_name(n) {
                    return Err(Error::invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.to_string()
            }
            None => loop {
                let a = ADJECTIVES[rand::random_range(0..ADJECTIVES.len())];
                let b = NOUNS[rand::random_range(0..NOUNS.len())];
                let n = format!("{a}_{b}_{}", &random_hex(4));
                if self.get(&n).is_err() {
                    break n;
                }
            },
        };
        let mut warnings = Vec::new();
        let endpoints = req
            .networking_config
            .as_ref()
            .map(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        let (mode, networks) = self.networks.plan(&host_config.network_mode, &endpoints)?;
        match &mode {
            crate::networks::sandbox::Mode::Container(other) => {
                self.get(other)
                    .map_err(|_| Error::not_found(format!("No such container: {other}")))?;
            }
            crate::networks::sandbox::Mode::Host | crate::networks::sandbox::Mode::None => {
                if host_config
                    .port_bindings
                    .iter()
                    .flatten()
                    .any(|(_, v)| v.as_ref().is_some_and(|v| !v.is_empty()))
                {
                    warnings.push(
                        "Published ports are discarded when using host network mode".to_string(),
                    );
                }
            }
            crate::networks::sandbox::Mode::Networks => {}
        }
        let image_volumes = config.volumes.clone().unwrap_or_default();
        let (mounts, made_volumes) =
            super::mounts::resolve(&host_config, &image_volumes, self, &self.volumes)?;
        let drop_made = |svc: &Self| {
            for v in &made_volumes {
                let _ = svc.volumes.remove(v, true);
            }
        };
        let r = Record {
            schema: SCHEMA,
            id: id.clone(),
            name: name.clone(),
            created_ns: now_ns(),
            image_name: req.config.image.clone(),
            image_id: image.id.to_string(),
            path: cmd[0].clone(),
            args: cmd[1..].to_vec(),
            config,
            host_config,
            state: State::default(),
            restart_count: 0,
            warnings: warnings.clone(),
            manually_stopped: false,
            mounts,
            networks,
            net: None,
        };
        // The spec must build now: a field Berth cannot honour fails create, not start.
        if let Err(e) = spec_for(self, &r) {
            drop_made(self);
            return Err(e);
        }
        let volume_names: Vec<String> = r
            .mounts
            .iter()
            .filter(|m| m.kind == "volume")
            .map(|m| m.name.clone())
            .collect();
        let copy_up: Vec<(String, String)> = r
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && m.copy_data)
            .map(|m| (m.destination.clone(), m.source.clone()))
            .collect();
        let ctr = Arc::new(Ctr {
            rec: std::sync::Mutex::new(r),
            gen: watch::channel(Gen::default()).0,
            pending: std::sync::Mutex::new(Vec::new()),
            op: tokio::sync::Mutex::new(()),
            backoff_ms: std::sync::atomic::AtomicU64::new(100),
        });
        {
            // Name check and insert under one lock: two creates cannot take one name.
            let mut all = self.all.lock().map_err(poisoned)?;
            if let Some((other, _)) = all
                .iter()
                .find(|(_, c)| c.rec.lock().map(|r| r.name == name).unwrap_or(false))
            {
                drop_made(self);
                return Err(Error::conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            all.insert(id.clone(), ctr.clone());
            for v in &volume_names {
                self.volumes.acquire(v, &id)?;
            }
        }
        let made = (|| -> Result<()> {
            std::fs::create_dir_all(self.dir(&id).join("bundle/rootfs"))?;
            let parent = image.top_chain_id().map(|d| d.hex().to_string());
            self.images
                .root()
                .snapshots
                .prepare(&snapshot_key(&id), parent.as_deref())?;
            let remap = remap.as_ref();
            if let Some(remap) = remap {
                // The upper dir is the rootfs' own root directory: the remapped root's.
                let snaps = &self.images.root().snapshots;
                let upper = snaps.fs_path(&snapshot_key(&id));
                crate::userns::chown_to_root(&upper, remap)?;
                // Commit gives the image the container's ids, not the host's.
                snaps.set_idmap(&snapshot_key(&id), remap.snapshot_idmap())?;
                if let Some(work) = upper.parent().map(|p| p.join("work")) {
                    if work.exists() {
                        crate::userns::chown_to_root(&work, remap)?;
                    }
                }
            }
            // Copy-up: an empty volume gets the image's content at its destination.
            if !copy_up.is_empty() {
                self.with_layers_ro(&id, |view| {
                    for (dst, data) in &copy_up {
                        crate::volumes::copy_up_mapped(
                            view,
                            dst,
                            std::path::Path::new(data),
                            remap,
                        )?;
                    }
                    Ok(())
                })?;
            }
            self.save(&ctr)
        })();
        if let Err(e) = made {
            let _ = self.images.root().snapshots.remove(&snapshot_key(&id));
            let _ = std::fs::remove_dir_all(self.dir(&id));
            if let Ok(mut all) = self.all.lock() {
                all.remove(&id);
            }
            for v in &volume_names {
                self.volumes.release(v, &id);
            }
            drop_made(self);
            return Err(e);
        }
        self.event(&ctr, "create", BTreeMap::new());
        Ok((id, warnings))
    }

    pub(crate) fn event(&self, c: &Ctr, action: &str, extra: BTreeMap<String, String>) {
        let (id, mut attrs) = match c.rec.lock() {
            Ok(r) => {
                let mut a = r.config.labels.clone().unwrap_or_default();
                a.insert("image".into(), r.image_name.clone());
                a.insert("name".into(), r.name.clone());
                (r.id.clone(), a)
            }
            Err(_) => return,
        };
        attrs.extend(extra);
        self.events.publish("container", action, &id, attrs);
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, name: &str) -> Result<()> {
        self.start_with(name, false).await
    }

    /// A start by the user clears a manual stop; one by a restart policy gives way to it.
    async fn start_with(self: &Arc<Self>, name: &str, by_policy: bool) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        let r = c.rec.lock().map_err(poisoned)?.clone();
        if by_policy && (r.manually_stopped || r.state.status != Status::Restarting) {
            return Ok(());
        }
        match r.state.status {
            Status::Running | Status::Paused => return Err(Error::not_modified()),
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    r.id
                )))
            }
            _ => {}
        }
        let svc = self.clone();
        let c2 = c.clone();
        let res = tokio::task::spawn_blocking(move || svc.start_blocking(&c2, &r))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        match res {
            Ok(pid) => {
                {
                    let mut rec = c.rec.lock().map_err(poisoned)?;
                    if !by_policy {
                        rec.manually_stopped = false;
                    }
                    rec.net = self.networks.sandbox_state(&rec.id);
                    rec.state = State {
                        status: Status::Running,
                        pid: pid as i64,
                        exit_code: 0,
                        oom_killed: false,
                        error: String::new(),
                        started_at_ns: now_ns(),
                        finished_at_ns: rec.state.finished_at_ns,
                        // A new run starts its health over (the log stays, as Docker).
                        health: rec
                            .config
                            .healthcheck
                            .as_ref()
                            .and_then(super::health::probe_command)
                            .map(|_| berth_api::container::Health {
                                status: "starting".into(),
                                failing_streak: 0,
                                log: rec.state.health.take().map(|h| h.log).unwrap_or_default(),
                            }),
                    };
                }
                self.save(&c)?;
                self.event(&c, "start", BTreeMap::new());
                self.monitor(c.clone());
                Ok(())
            }
            Err(e) => {
                // Pending attaches learn that nothing will come.
                if let Ok(mut p) = c.pending.lock() {
                    for x in p.drain(..) {
                        let _ = x.tx.send(Err(e.clone()));
                    }
                }
                {
                    let mut rec = c.rec.lock().map_err(poisoned)?;
                    rec.state.error = e.message.clone();
                    rec.state.exit_code = exit_code_for(&e.message);
                }
                self.save(&c)?;
                let auto_remove = c
                    .rec
                    .lock()
                    .map(|r| r.host_config.auto_remove)
                    .unwrap_or(false);
                if auto_remove {
                    drop(_op);
                    let _ = self.remove(name, true, true).await;
                }
                Err(e)
            }
        }
    }

    /// Write the bundle, run the shim, connect pending attaches, start the process.
    fn start_blocking(self: &Arc<Self>, c: &Ctr, r: &Record) -> Result<i32> {
        let id = &r.id;
        let mut spec = spec_for(self, r)?;
        let patch = self.network_setup(r)?;
        super::network::patch_spec(&mut spec, &patch);
        match self.start_process(c, r, &spec) {
            Ok(pid) => Ok(pid),
            Err(e) => {
                self.networks.teardown(id, None);
                Err(e)
            }
        }
    }

    /// The rest of a start once the network exists.
    fn start_process(&self, c: &Ctr, r: &Record, spec: &serde_json::Value) -> Result<i32> {
        let id = &r.id;
        for m in r.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.activate(&m.name)?;
            self.volumes
                .mount_event(&m.name, &r.id, &m.destination, m.rw);
        }
        if let Some(remap) =
            crate::userns::for_container(self.cfg.userns_remap.as_ref(), &r.host_config)
        {
            // The container's root edits its /etc/hosts, hostname and resolv.conf (dockerd gives
            // them to the remapped root too).
            for f in ["hosts", "hostname", "resolv.conf"] {
                let p = self.dir(id).join(f);
                if p.exists() {
                    crate::userns::chown_to_root(&p, remap)?;
                }
            }
        }
        let bundle = self.dir(id).join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs"))?;
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(spec).map_err(|e| Error::internal(e.to_string()))?,
        )?;
        let snaps = &self.images.root().snapshots;
        // The upper dir's owners follow the mapping the container was made with.
        let want = crate::userns::for_container(self.cfg.userns_remap.as_ref(), &r.host_config)
            .map(|m| m.snapshot_idmap());
        if snaps.info(&snapshot_key(id))?.idmap != want {
            return Err(Error::invalid(format!(
                "container {} was created with another user namespace mapping than this daemon's --userns-remap: start berthd with the setting it was created under, or remove the container and create it again",
                r.name
            )));
        }
        let mut mounts = snaps.mounts(&snapshot_key(id))?;
        if let Some(remap) =
            crate::userns::for_container(self.cfg.userns_remap.as_ref(), &r.host_config)
        {
            // Id-mapped lower layers (the shim mounts them through berth_runtime::idmap).
            berth_image::snapshot::add_idmap_options(
                &mut mounts,
                &remap.mount_options(&snaps.idmap_cache_dir()),
            );
        }
        let rootfs = mounts
            .into_iter()
            .map(|m| MountSpec {
                kind: m.kind,
                source: m.source,
                options: m.options,
                cwd: m.cwd,
            })
            .collect();
        let shim_dir = self.shim_dir(id);
        let _ = std::fs::remove_dir_all(&shim_dir);
        std::fs::create_dir_all(&shim_dir)?;
        let log = match r.host_config.log_config.r#type.as_str() {
            "none" => None,
            _ => {
                let opt = r.host_config.log_config.config.clone().unwrap_or_default();
                Some(LogSpec {
                    path: self.dir(id).join(format!("{id}-json.log")),
                    max_size: opt
                        .get("max-size")
                        .map(|s| parse_size(s))
                        .transpose()?
                        .unwrap_or(0),
                    max_file: opt
                        .get("max-file")
                        .map(|s| {
                            s.parse::<u32>()
                                .map_err(|_| Error::invalid(format!("invalid max-file: {s}")))
                        })
                        .transpose()?
                        .unwrap_or(1),
                })
            }
        };
        let task = Task {
            id: id.clone(),
            bundle,
            runtime_root: self.cfg.runtime_root_for(&r.host_config.runtime),
            rootfs,
            tty: r.config.tty,
            open_stdin: r.config.open_stdin,
            stdin_once: r.config.stdin_once,
            log,
            user: Some(r.config.user.clone()).filter(|u| !numeric_user(u)),
            runtime: self.cfg.runtime(&r.host_config.runtime)?.cloned(),
        };
        std::fs::write(
            shim_dir.join(berth_shim::TASK_FILE),
            serde_json::to_vec(&task).map_err(|e| Error::internal(e.to_string()))?,
        )?;
        let out = std::process::Command::new(&self.cfg.shim)
            .arg(&shim_dir)
            // One malloc arena: the shim's threads mostly sleep; per-thread arenas cost memory
            // in every one of them.
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| Error::internal(format!("run {}: {e}", self.cfg.shim.display())))?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let pid = match v["pid"].as_i64() {
            Some(p) if out.status.success() => p as i32,
            _ => {
                let msg = v["error"]
                    .as_str()
                    .unwrap_or("the shim failed to start the container")
                    .to_string();
                return Err(Error::invalid(format!(
                    "failed to create task for container: {msg}"
                )));
            }
        };
        let client = ShimClient::new(&shim_dir);
        let pending: Vec<Pending> = c
            .pending
            .lock()
            .map(|mut p| p.drain(..).collect())
            .unwrap_or_default();
        for p in pending {
            let _ = p.tx.send(client.attach(None, p.hello).map_err(Error::from));
        }
        if let Err(e) = client.call(&Request::Start) {
            let _ = client.call(&Request::Kill {
                signal: 9,
                all: true,
            });
            return Err(e.into());
        }
        Ok(pid)
    }

    /// Watch the shim until the container exits; record it; `--rm` removes.
    pub(crate) fn monitor(self: &Arc<Self>, c: Arc<Ctr>) {
        self.health_monitor(c.clone());
        let svc = self.clone();
        tokio::spawn(async move {
            let id = match c.rec.lock() {
                Ok(r) => r.id.clone(),
                Err(_) => return,
            };
            let client = ShimClient::new(svc.shim_dir(&id));
            let cl = client.clone();
            let res = tokio::task::spawn_blocking(move || cl.call(&Request::Wait)).await;
            let exit = match res {
                Ok(Ok(r)) => r.exit,
                _ => None,
            }
            .or_else(|| client.exit_info());
            svc.exited(&c, exit).await;
        });
    }

    async fn exited(self: &Arc<Self>, c: &Arc<Ctr>, exit: Option<berth_shim::ExitInfo>) {
        let (code, oom, auto_remove, name, restart, net) = {
            let Ok(mut r) = c.rec.lock() else { return };
            let net = r.net.take();
            let code = exit.map(|e| e.code as i64).unwrap_or(255);
            let restart = !r.manually_stopped
                && r.state.status != Status::Removing
                && should_restart(&r.host_config.restart_policy, code, r.restart_count);
            r.state.status = if restart {
                Status::Restarting
            } else {
                Status::Exited
            };
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = exit.map(|e| e.oom_killed).unwrap_or(false);
            r.state.finished_at_ns = exit.map(|e| e.finished_at_ns).unwrap_or_else(now_ns);
            if exit.is_none() {
                r.state.error = "the container's shim disappeared".into();
            }
            // Up long enough: the back-off starts over.
            if r.state.finished_at_ns - r.state.started_at_ns > 10_000_000_000 {
                c.backoff_ms
                    .store(100, std::sync::atomic::Ordering::Relaxed);
            }
            (
                code,
                r.state.oom_killed,
                r.host_config.auto_remove,
                r.id.clone(),
                restart,
                net,
            )
        };
        let _ = self.save(c);
        if let Ok(r) = c.rec.lock() {
            for m in r.mounts.iter().filter(|m| m.kind == "volume") {
                self.volumes.unmount_event(&m.name, &r.id);
            }
        }
        // Its network goes with it: addresses, ports, namespace, DNS.
        let nets = self.networks.clone();
        let id = name.clone();
        let _ = tokio::task::spawn_blocking(move || nets.teardown(&id, net.as_ref())).await;
        if oom {
            self.event(c, "oom", BTreeMap::new());
        }
        self.event(
            c,
            "die",
            BTreeMap::from([("exitCode".to_string(), code.to_string())]),
        );
        c.gen.send_modify(|g| {
            g.exits += 1;
            g.exit_code = code;
        });
        if restart {
            let delay = c.backoff_ms.load(std::sync::atomic::Ordering::Relaxed);
            c.backoff_ms.store(
                (delay * 2).min(60_000),
                std::sync::atomic::Ordering::Relaxed,
            );
            let svc = self.clone();
            let c2 = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let still = c2
                    .rec
                    .lock()
                    .map(|r| r.state.status == Status::Restarting && !r.manually_stopped)
                    .unwrap_or(false);
                if !still {
                    return;
                }
                if let Ok(mut r) = c2.rec.lock() {
                    r.restart_count += 1;
                }
                svc.event(&c2, "restart", BTreeMap::new());
                if let Err(e) = svc.start_with(&name, true).await {
                    tracing::warn!(container = %name, error = %e.message, "restart failed");
                    if let Ok(mut r) = c2.rec.lock() {
                        r.state.status = Status::Exited;
                    }
                    let _ = svc.save(&c2);
                }
            });
            return;
        }
        if auto_remove {
            let _ = self.remove(&name, true, true).await;
        }
    }

    /// Attach to a container's streams: now if it runs, else when it starts.
    pub async fn attach(&self, name: &str, a: AttachRequest) -> Result<UnixStream> {
        let c = self.get(name)?;
        let hello = AttachHello {
            stdin: a.stdin,
            stdout: a.stdout,
            stderr: a.stderr,
        };
        let (status, id) = {
            let r = c.rec.lock().map_err(poisoned)?;
            (r.state.status, r.id.clone())
        };
        if status.is_live() {
            let client = ShimClient::new(self.shim_dir(&id));
            return tokio::task::spawn_blocking(move || client.attach(None, hello))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
                .map_err(Error::from);
        }
        let (tx, rx) = oneshot::channel();
        c.pending
            .lock()
            .map_err(poisoned)?
            .push(Pending { hello, tx });
        rx.await
            .map_err(|_| Error::internal("container went away"))?
    }

    /// Wait for `cond`; the exit code.
    pub async fn wait(&self, name: &str, cond: WaitCondition) -> Result<i64> {
        let c = self.get(name)?;
        let mut rx = c.gen.subscribe();
        let start = *rx.borrow();
        let status = c.rec.lock().map_err(poisoned)?.state.clone();
        if cond == WaitCondition::NotRunning && !status.status.is_live() {
            return Ok(status.exit_code);
        }
        loop {
            let g = *rx.borrow_and_update();
            match cond {
                WaitCondition::Removed if g.removed => return Ok(g.exit_code),
                WaitCondition::NotRunning | WaitCondition::NextExit if g.exits > start.exits => {
                    return Ok(g.exit_code)
                }
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Ok(c.gen.borrow().exit_code);
            }
        }
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name: &str, signal: &str) -> Result<()> {
        let (id, client, _) = self.live(name)?;
        let sig = if signal.is_empty() {
            libc::SIGKILL
        } else {
            parse_signal(signal)?
        };
        if let Ok(mut r) = self.get(&id)?.rec.lock() {
            r.manually_stopped = true;
        }
        Self::call(
            client,
            Request::Kill {
                signal: sig,
                all: false,
            },
        )
        .await?;
        Ok(())
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.
    pub async fn stop(&self, name: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        let c = self.get(name)?;
        // Serialised with start: a restart in flight cannot undo this stop.
        let _op = c.op.lock().await;
        let (status, id, stop_signal, stop_timeout) = {
            let r = c.rec.lock().map_err(poisoned)?;
            (
                r.state.status,
                r.id.clone(),
                r.config.stop_signal.clone(),
                r.config.stop_timeout,
            )
        };
        if status == Status::Restarting {
            // Waiting for a restart: stopping cancels it.
            if let Ok(mut r) = c.rec.lock() {
                r.manually_stopped = true;
                r.state.status = Status::Exited;
            }
            self.save(&c)?;
            return Ok(());
        }
        if !status.is_live() {
            return Err(Error::not_modified());
        }
        let stop_signal = Some(stop_signal.as_str()).filter(|s| !s.is_empty());
        let sig = parse_signal(signal.or(stop_signal).unwrap_or("SIGTERM"))?;
        let t = timeout.or(stop_timeout).unwrap_or(10);
        if let Ok(mut r) = c.rec.lock() {
            r.manually_stopped = true;
        }
        let _ = self.save(&c);
        let mut rx = c.gen.subscribe();
        let before = rx.borrow().exits;
        let client = ShimClient::new(self.shim_dir(&id));
        let cl = client.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if status == Status::Paused {
                let _ = cl.call(&Request::Resume);
            }
            cl.call(&Request::Kill {
                signal: sig,
                all: false,
            })
        })
        .await;
        let exited = async {
            while rx.borrow_and_update().exits == before {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        if t < 0 {
            exited.await;
            return Ok(());
        }
        if tokio::time::timeout(Duration::from_secs(t as u64), exited)
            .await
            .is_err()
        {
            let cl = client.clone();
            let _ = tokio::task::spawn_blocking(move || {
                cl.call(&Request::Kill {
                    signal: libc::SIGKILL,
                    all: true,
                })
            })
            .await;
            let mut rx = c.gen.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while rx.borrow_and_update().exits == before {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        Ok(())
    }

    /// `POST /containers/{id}/resize`: the terminal of a running TTY container.
    pub async fn resize(&self, name: &str, height: u16, width: u16) -> Result<()> {
        let (_, client, _) = self.live(name)?;
        Self::call(
            client,
            Request::Resize {
                height,
                width,
                exec: None,
            },
        )
        .await?;
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(name)?;
        let (status, id) = {
            let r = c.rec.lock().map_err(poisoned)?;
            (r.state.status, r.id.clone())
        };
        if status.is_live() {
            if !force {
                return Err(Error::conflict(format!(
                    "You cannot remove a {} container {id}. Stop the container before attempting removal or force remove",
                    status.as_str()
                )));
            }
            self.stop(&id, Some(0), Some("SIGKILL")).await?;
        }
        // A shim that outlived its container's record (a start that failed half-way, a
        // daemon crash): stop it before its files go.
        let client = ShimClient::new(self.shim_dir(&id));
        tokio::task::spawn_blocking(move || {
            if client
                .call(&Request::Kill {
                    signal: 9,
                    all: true,
                })
                .is_ok()
            {
                let _ = client.call(&Request::Wait);
            }
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        {
            let mut r = c.rec.lock().map_err(poisoned)?;
            if r.state.status == Status::Removing {
                return Err(Error::conflict(format!(
                    "removal of container {id} is already in progress"
                )));
            }
            r.state.status = Status::Removing;
        }
        let snapshots_root = self.dir(&id);
        let shim_dir = self.shim_dir(&id);
        let images = self.images.clone();
        let id2 = id.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            // Anything a crashed shim left: the rootfs mount, then the snapshot and files.
            let rootfs = snapshots_root.join("bundle/rootfs");
            super::unmount_detached(&rootfs);
            // Already gone when a previous rm was interrupted.
            match images.root().snapshots.remove(&snapshot_key(&id2)) {
                Ok(()) | Err(berth_image::SnapshotError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            match std::fs::remove_dir_all(&snapshots_root) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            let _ = std::fs::remove_dir_all(&shim_dir);
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        if let Ok(mut all) = self.all.lock() {
            all.remove(&id);
        }
        let net = c.rec.lock().ok().and_then(|mut r| r.net.take());
        let nets = self.networks.clone();
        let id3 = id.clone();
        let _ = tokio::task::spawn_blocking(move || nets.teardown(&id3, net.as_ref())).await;
        // The container no longer uses its volumes; with `-v` its anonymous ones go too (a
        // volume another container also uses stays: removal refuses it).
        let mounts = c.rec.lock().map(|r| r.mounts.clone()).unwrap_or_default();
        for m in mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.release(&m.name, &id);
            if volumes && self.volumes.get(&m.name).is_ok_and(|v| v.anonymous) {
                if let Err(e) = self.volumes.remove(&m.name, true) {
                    tracing::warn!(volume = %m.name, "rm -v: volume kept: {e}");
                }
            }
        }
        self.event(&c, "destroy", BTreeMap::new());
        c.gen.send_modify(|g| g.removed = true);
        Ok(())
    }

    /// After a daemon restart: a live shim is watched again; a dead one's exit is recorded.
    pub(crate) fn restore(self: &Arc<Self>, id: &str) {
        let Ok(c) = self.get(id) else { return };
        // An export or copy-up interrupted by a crash left its read-only mount.
        let export = self.dir(id).join("view");
        if export.exists() {
            super::unmount_detached(&export);
            let _ = std::fs::remove_dir(&export);
        }
        let status = match c.rec.lock() {
            Ok(r) => r.state.status,
            Err(_) => return,
        };
        if let Ok(mut r) = c.rec.lock() {
            if r.state.status == Status::Removing {
                r.state.status = Status::Dead;
            }
        }
        // Its network: taken back if it still runs, undone otherwise.
        let (net, live_net) = match c.rec.lock() {
            Ok(r) => (
                r.net.clone(),
                (r.name.clone(), super::network::hostname(&r)),
            ),
            Err(_) => return,
        };
        let shim_alive = status.is_live()
            && ShimClient::new(self.shim_dir(id))
                .call(&Request::Status)
                .is_ok();
        if shim_alive {
            if let Some(n) = &net {
                self.networks.readopt(
                    id,
                    &live_net.0,
                    &live_net.1,
                    n,
                    &self.dir(id).join("resolv.conf"),
                );
            }
        } else {
            self.networks.teardown(id, net.as_ref());
            if let Ok(mut r) = c.rec.lock() {
                r.net = None;
            }
        }
        if !status.is_live() {
            // A shim alive for a container recorded as not running: berthd died between
            // spawning it and recording the start. Its container never ran: stop it (the shim
            // then removes the container, its cgroup and its mount).
            let client = ShimClient::new(self.shim_dir(id));
            if client.call(&Request::Status).is_ok() {
                tracing::warn!(container = %id, "stopping a shim left by an interrupted start");
                if client
                    .call(&Request::Kill {
                        signal: 9,
                        all: true,
                    })
                    .is_ok()
                {
                    let _ = client.call(&Request::Wait);
                }
            }
            let comes_back = c
                .rec
                .lock()
                .map(|r| {
                    !r.manually_stopped
                        && r.state.finished_at_ns > 0
                        && matches!(
                            r.host_config.restart_policy.name.as_str(),
                            "always" | "unless-stopped"
                        )
                })
                .unwrap_or(false);
            if comes_back {
                let svc = self.clone();
                let id = id.to_string();
                tokio::spawn(async move {
                    let _ = svc.start(&id).await;
                });
            }
            return;
        }
        let client = ShimClient::new(self.shim_dir(id));
        match client.call(&Request::Status) {
            Ok(_) => self.monitor(c),
            Err(_) => {
                let exit = client.exit_info();
                if let Ok(mut r) = c.rec.lock() {
                    r.state.status = Status::Exited;
                    r.state.pid = 0;
                    r.state.exit_code = exit.map(|e| e.code as i64).unwrap_or(255);
                    r.state.oom_killed = exit.map(|e| e.oom_killed).unwrap_or(false);
                    r.state.finished_at_ns = exit.map(|e| e.finished_at_ns).unwrap_or_else(now_ns);
                }
                let _ = self.save(&c);
                // Exited while berthd was down: the restart policy still applies.
                let again = c
                    .rec
                    .lock()
                    .map(|r| {
                        !r.manually_stopped
                            && should_restart(
                                &r.host_config.restart_policy,
                                r.state.exit_code,
                                r.restart_count,
                            )
                    })
                    .unwrap_or(false);
                if again {
                    let svc = self.clone();
                    let id = id.to_string();
                    tokio::spawn(async move {
                        let _ = svc.start(&id).await;
                    });
                }
            }
        }
    }
}

/// The container's writable snapshot (a bare 64-hex key would look like a layer's chain ID).
pub(crate) fn snapshot_key(id: &str) -> String {
    format!("ctr-{id}")
}

/// `""`, `1000`, `1000:1000`: usable without the image's passwd file.
pub(crate) fn numeric_user(u: &str) -> bool {
    u.is_empty()
        || u.split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn spec_for(svc: &ContainerService, r: &Record) -> Result<serde_json::Value> {
    // A user with names is resolved by the shim in the mounted rootfs (the spec gets 0:0 until
    // then).
    if !numeric_user(&r.config.user) {
        let mut r = r.clone();
        r.config.user.clear();
        return spec_build(svc, &r);
    }
    spec_build(svc, r)
}

fn spec_build(svc: &ContainerService, r: &Record) -> Result<serde_json::Value> {
    let parent = if r.host_config.resources.cgroup_parent.is_empty() {
        svc.cfg.cgroup_parent.clone()
    } else {
        r.host_config.resources.cgroup_parent.clone()
    };
    let cg = format!("{}/{}", parent.trim_end_matches('/'), r.id);
    super::spec::build(r, &cg, &svc.cfg)
}

/// Docker's restart decision after an exit with `code`.
fn should_restart(p: &berth_api::container::RestartPolicy, code: i64, count: i64) -> bool {
    match p.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => code != 0 && (p.maximum_retry_count <= 0 || count < p.maximum_retry_count),
        _ => false,
    }
}

/// The exit code `docker run` uses for a start error (moby's rules on the error text).
fn exit_code_for(msg: &str) -> i64 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        128
    }
}

fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t.as_str(), 1),
    };
    num.parse::<u64>()
        .map(|n| n * mul)
        .map_err(|_| Error::invalid(format!("invalid size: '{s}'")))
}

/// A signal by name (`KILL`, `SIGKILL`) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if n > 0 && n < 65 {
            return Ok(n);
        }
        return Err(Error::invalid(format!("Invalid signal: {s}")));
    }
    let u = s.to_ascii_uppercase();
    let u = u.strip_prefix("SIG").unwrap_or(&u);
    let n = match u {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::invalid(format!("Invalid signal: {s}"))),
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_signals() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("a"));
        assert_eq!(parse_signal("SIGTERM").ok(), Some(libc::SIGTERM));
        assert_eq!(parse_signal("int").ok(), Some(libc::SIGINT));
        assert_eq!(parse_signal("9").ok(), Some(9));
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_size("10m").ok(), Some(10 << 20));
    }

    #[test]
    fn run_exit_codes_follow_docker() {
        assert_eq!(
            exit_code_for("exec: \"x\": executable file not found in $PATH"),
            127
        );
        assert_eq!(exit_code_for("open /x: permission denied"), 126);
        assert_eq!(exit_code_for("something else"), 128);
    }
}
