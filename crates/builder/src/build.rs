//! The evaluator: stages chosen for the target, each instruction applied to the stage's config
//! or turned into a step container, every step an image, reused from the cache when its parent,
//! instruction, config and copied content are the same.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Seek, SeekFrom};
use std::os::fd::BorrowedFd;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::backend::{BuildBackend, Event, History, Out, StepContainer};
use crate::copy::{self, Attrs};
use crate::expand;
use crate::instructions::{check, CommandLine, CopySpec, Instruction, Step};
use crate::parser::{parse, ParseError};
use crate::BuildError;

/// Proxy variables usable without an `ARG` and left out of history and cache keys.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The PATH a stage gets when its base image sets none (Docker's default for Linux).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `docker build` asks for.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// `-t` names.
    pub tags: Vec<String>,
    /// `--build-arg` (a name without a value takes it from the client's environment, which the
    /// client resolves; `None` here means unset).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--label`: added to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: fetch base images even when present.
    pub pull: bool,
    /// `--network` for RUN steps.
    pub network: Option<String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// Set when the client went away: the build stops at the next step (the backend also
    /// kills a running step).
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl BuildOptions {
    /// Whether the client went away.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The final image.
    pub image: String,
    /// The names it was tagged with, as printed.
    pub tagged: Vec<String>,
}

/// The first 12 hex digits of an ID.
pub fn short(id: &str) -> String {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    h.chars().take(12).collect()
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub fn rfc3339(secs: i64) -> String {
    berth_image::archive::rfc3339(secs, None)
}

fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(now)
}

#[derive(Debug, Clone)]
struct StageDef {
    name: Option<String>,
    /// FROM, then its instructions.
    steps: Vec<Step>,
}

#[derive(Debug, Clone)]
struct Built {
    image: Option<String>,
    config: Value,
}

/// One build's state.
struct Builder<'b, B: BuildBackend + ?Sized> {
    be: &'b mut B,
    opts: &'b BuildOptions,
    escape: char,
    context: BorrowedFd<'b>,
    /// File digests of the context computed while it streamed in.
    known: &'b copy::Known,
    meta_args: Vec<(String, String)>,
    used_args: BTreeSet<String>,
    epoch: Option<i64>,
    step_no: usize,
    total: usize,
    built: BTreeMap<usize, Built>,
    stages: Vec<StageDef>,
}

/// The state of the stage being built.
struct State {
    image: Option<String>,
    config: Value,
    /// `ARG`s declared in this stage with their values.
    args: Vec<(String, String)>,
    /// CMD set in this stage (ENTRYPOINT resets an inherited one only).
    cmd_set: bool,
    author: Option<String>,
}

fn err(msg: impl Into<String>) -> BuildError {
    BuildError::Invalid(msg.into())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl State {
    fn env(&self) -> Vec<(String, String)> {
        strings(&self.config["Env"])
            .into_iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e, String::new()),
            })
            .collect()
    }

    /// Variables for expansion: ARGs, then ENV (ENV wins).
    fn vars(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        v.extend(self.env());
        v
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let mut env = strings(&self.config["Env"]);
        env.retain(|e| e.split('=').next() != Some(k));
        env.push(format!("{k}={v}"));
        self.config["Env"] = json!(env);
    }

    fn shell(&self) -> Vec<String> {
        let s = strings(&self.config["Shell"]);
        if s.is_empty() {
            vec!["/bin/sh".into(), "-c".into()]
        } else {
            s
        }
    }

    fn workdir(&self) -> String {
        self.config["WorkingDir"].as_str().unwrap_or("").to_string()
    }

    fn command(&self, c: &CommandLine) -> Vec<String> {
        match c {
            CommandLine::Exec(v) => v.clone(),
            CommandLine::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }
}

/// Normalises an image's runtime config to the keys the builder edits.
fn base_config(c: &Value) -> Value {
    let mut c = if c.is_object() { c.clone() } else { json!({}) };
    if c["Env"].is_null() {
        c["Env"] = json!([]);
    }
    c
}

fn cache_key(parent: Option<&str>, what: &str, config: &Value, extra: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"berth-build-v1\0");
    h.update(parent.unwrap_or("scratch").as_bytes());
    h.update(b"\0");
    h.update(what.as_bytes());
    h.update(b"\0");
    h.update(config.to_string().as_bytes());
    h.update(b"\0");
    h.update(extra.as_bytes());
    hex::encode(h.finalize())
}

/// Splits a `FROM` image reference and the stages of a Dockerfile; meta ARGs (before the first
/// FROM) are returned apart.
fn split_stages(steps: Vec<Step>) -> Result<(Vec<Step>, Vec<StageDef>), BuildError> {
    let mut meta = Vec::new();
    let mut stages: Vec<StageDef> = Vec::new();
    for s in steps {
        match (&s.instruction, stages.last_mut()) {
            (Instruction::From { name, .. }, _) => {
                if let Some(n) = name {
                    if stages.iter().any(|st| st.name.as_deref() == Some(n)) {
                        return Err(BuildError::Parse(ParseError {
                            line: s.node.line,
                            message: format!("duplicate name {n:?}"),
                        }));
                    }
                }
                stages.push(StageDef {
                    name: name.clone(),
                    steps: vec![s],
                });
            }
            (Instruction::Arg(_), None) => meta.push(s),
            (_, None) => return Err(err("no build stage in current context")),
            (_, Some(st)) => st.steps.push(s),
        }
    }
    if stages.is_empty() {
        return Err(err("the Dockerfile has no FROM instruction: a build needs a base image (FROM scratch for none)"));
    }
    Ok((meta, stages))
}

/// Runs a build. Events (Docker's stream) go to `out`.
pub fn build<B: BuildBackend + ?Sized>(
    be: &mut B,
    context: BorrowedFd<'_>,
    opts: &BuildOptions,
    out: Out<'_>,
) -> Result<BuildResult, BuildError> {
    build_with(be, context, &copy::Known::new(), opts, out)
}

/// [`build`] with the context's file digests known (see [`crate::Context::digests`]).
pub fn build_with<B: BuildBackend + ?Sized>(
    be: &mut B,
    context: BorrowedFd<'_>,
    known: &copy::Known,
    opts: &BuildOptions,
    out: Out<'_>,
) -> Result<BuildResult, BuildError> {
    let df = parse(&opts.dockerfile)?;
    let escape = df.directives.escape;
    if df.nodes.is_empty() {
        return Err(err("the Dockerfile cannot be empty"));
    }
    let steps = check(&df.nodes, escape)?;
    if let Some(p) = &opts.platform {
        check_platform(p)?;
    }
    let (meta, mut stages) = split_stages(steps)?;
    // Build-time labels are a last LABEL step of the target, as Docker's classic builder does.
    let target = match &opts.target {
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
            .ok_or_else(|| err(format!("failed to reach build target {t} in Dockerfile")))?,
        None => stages.len() - 1,
    };
    if !opts.labels.is_empty() {
        let text = opts
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let extra = parse(&format!("LABEL {text}"))?;
        let mut s = check(&extra.nodes, '\\')?;
        stages[target].steps.append(&mut s);
    }
    let mut b = Builder {
        be,
        opts,
        escape,
        context,
        known,
        meta_args: Vec::new(),
        used_args: BTreeSet::new(),
        epoch: None,
        step_no: 0,
        total: 0,
        built: BTreeMap::new(),
        stages,
    };
    if let Some(Some(e)) = opts.build_args.get("SOURCE_DATE_EPOCH") {
        b.epoch = Some(e.parse().map_err(|_| {
            err(format!(
                "invalid SOURCE_DATE_EPOCH {e:?}: want Unix seconds"
            ))
        })?);
        b.used_args.insert("SOURCE_DATE_EPOCH".into());
    }
    // Meta ARGs: usable in FROM lines.
    for s in &meta {
        if let Instruction::Arg(list) = &s.instruction {
            for (k, default) in list {
                let v = b.arg_value(k, default.as_deref(), &b.meta_args.clone())?;
                if let Some(v) = v {
                    b.meta_args.push((k.clone(), v));
                }
            }
        }
    }
    let needed = b.needed(target)?;
    b.total = needed.iter().map(|&i| b.stages[i].steps.len()).sum();
    for &i in &needed {
        b.stage(i, out)?;
    }
    let built = b
        .built
        .get(&target)
        .cloned()
        .ok_or_else(|| err("the target stage was not built"))?;
    let image = match built.image {
        Some(i) => i,
        // `FROM scratch` alone: an empty image.
        None => b.be.commit(
            None,
            None,
            &built.config,
            &History {
                created_by: String::new(),
                empty_layer: true,
                created: b.created(),
                author: None,
            },
            b.epoch,
        )?,
    };
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !b.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        out(Event::Stream(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            names.join(" ")
        )));
    }
    out(Event::Built(image.clone()));
    out(Event::Stream(format!(
        "Successfully built {}\n",
        short(&image)
    )));
    let mut tagged = Vec::new();
    for t in &opts.tags {
        let shown = b.be.tag(&image, t)?;
        out(Event::Stream(format!("Successfully tagged {shown}\n")));
        tagged.push(shown);
    }
    Ok(BuildResult { image, tagged })
}

fn check_platform(p: &str) -> Result<(), BuildError> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let p = p.trim_end_matches('/');
    if p == "linux" || p == format!("linux/{arch}") || p.starts_with(&format!("linux/{arch}/")) {
        return Ok(());
    }
    Err(err(format!(
        "platform {p:?} is not supported: Berth builds for linux/{arch} only"
    )))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl<B: BuildBackend + ?Sized> Builder<'_, B> {
    /// A step's cache key; `SOURCE_DATE_EPOCH` is part of it (it changes times in the image).
    fn key(&self, parent: Option<&str>, what: &str, config: &Value, extra: &str) -> String {
        cache_key(
            parent,
            what,
            config,
            &format!("{extra}\0epoch={:?}", self.epoch),
        )
    }

    fn created(&self) -> String {
        match self.epoch {
            Some(e) => rfc3339(e),
            None => now_rfc3339(),
        }
    }

    /// An ARG's value: the build arg, else the default expanded with `vars`.
    fn arg_value(
        &mut self,
        name: &str,
        default: Option<&str>,
        vars: &Vec<(String, String)>,
    ) -> Result<Option<String>, BuildError> {
        if let Some(v) = self.opts.build_args.get(name) {
            self.used_args.insert(name.to_string());
            if let Some(v) = v {
                return Ok(Some(v.clone()));
            }
        }
        match default {
            Some(d) => Ok(Some(
                expand::word(d, self.escape, vars).map_err(|e| err(e.0))?,
            )),
            None => Ok(None),
        }
    }

    /// The stage index `r` names (a name or a number), if it is a stage before `before`.
    fn stage_ref(&self, r: &str, before: usize) -> Option<usize> {
        let lower = r.to_ascii_lowercase();
        if let Some(i) = self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(&lower))
        {
            return Some(i);
        }
        r.parse::<usize>().ok().filter(|&i| i < before)
    }

    fn meta_expand(&self, raw: &str) -> Result<String, BuildError> {
        expand::word(raw, self.escape, &self.meta_args).map_err(|e| err(e.0))
    }

    /// Stages the target depends on (FROM a stage, COPY --from), in order.
    fn needed(&self, target: usize) -> Result<Vec<usize>, BuildError> {
        let mut need = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !need.insert(i) {
                continue;
            }
            for s in &self.stages[i].steps {
                let r = match &s.instruction {
                    Instruction::From { image, .. } => Some(self.meta_expand(image)?),
                    Instruction::Copy(CopySpec { from: Some(f), .. }) => Some(self.meta_expand(f)?),
                    _ => None,
                };
                if let Some(d) = r.and_then(|r| self.stage_ref(&r, i)) {
                    todo.push(d);
                }
            }
        }
        Ok(need.into_iter().collect())
    }

    fn step_line(&mut self, s: &Step, out: Out<'_>) {
        self.step_no += 1;
        out(Event::Stream(format!(
            "Step {}/{} : {}\n",
            self.step_no, self.total, s.node.original
        )));
    }

    fn stage(&mut self, i: usize, out: Out<'_>) -> Result<(), BuildError> {
        let steps = self.stages[i].steps.clone();
        let mut st = State {
            image: None,
            config: json!({"Env": []}),
            args: Vec::new(),
            cmd_set: false,
            author: None,
        };
        for (n, s) in steps.iter().enumerate() {
            if self.opts.cancelled() {
                return Err(BuildError::Cancelled);
            }
            self.step_line(s, out);
            if n == 0 {
                self.from(i, s, &mut st, out)?;
            } else {
                self.step(s, &mut st, out)?;
            }
        }
        self.built.insert(
            i,
            Built {
                image: st.image.clone(),
                config: st.config.clone(),
            },
        );
        Ok(())
    }

    fn from(&mut self, i: usize, s: &Step, st: &mut State, out: Out<'_>) -> Result<(), BuildError> {
        let Instruction::From {
            image, platform, ..
        } = &s.instruction
        else {
            return Err(err("a stage must start with FROM"));
        };
        if let Some(p) = platform {
            let p = self.meta_expand(p)?;
            check_platform(&p)?;
        }
        let name = self.meta_expand(image)?;
        if name.is_empty() {
            return Err(err(format!("base name ({image}) should not be blank")));
        }
        if let Some(d) = self
            .stage_ref(&name, i)
            .filter(|_| !name.chars().all(|c| c.is_ascii_digit()))
        {
            let b = self
                .built
                .get(&d)
                .cloned()
                .ok_or_else(|| err(format!("stage {name} was not built")))?;
            st.image = b.image;
            st.config = base_config(&b.config);
        } else if name.eq_ignore_ascii_case("scratch") {
            st.image = None;
            st.config = json!({"Env": []});
        } else {
            let info = self.be.image(&name, self.opts.pull, out)?;
            st.image = Some(info.id);
            st.config = base_config(&info.config);
        }
        // Docker's classic builder gives every stage a PATH.
        if !st.env().iter().any(|(k, _)| k == "PATH") {
            st.set_env("PATH", DEFAULT_PATH);
        }
        if let Some(id) = &st.image {
            out(Event::Stream(format!(" ---> {}\n", short(id))));
        }
        // ONBUILD triggers of the base run now, and are not inherited.
        let triggers = strings(&st.config["OnBuild"]);
        if !triggers.is_empty() {
            st.config.as_object_mut().map(|o| o.remove("OnBuild"));
            out(Event::Stream(format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            )));
            for t in triggers {
                let d = parse(&t)?;
                for step in check(&d.nodes, self.escape)? {
                    self.step(&step, st, out)?;
                }
            }
        }
        Ok(())
    }

    fn x(&self, st: &State, w: &str) -> Result<String, BuildError> {
        expand::word(w, self.escape, &st.vars()).map_err(|e| err(e.0))
    }

    /// A config-only step: a new image with the same layers.
    fn meta(&mut self, st: &mut State, text: &str, out: Out<'_>) -> Result<(), BuildError> {
        let created_by = format!("/bin/sh -c #(nop)  {text}");
        let key = self.key(st.image.as_deref(), &created_by, &st.config, "");
        if self.try_cache(&key, st, out) {
            return Ok(());
        }
        let id = self.be.commit(
            None,
            st.image.as_deref(),
            &st.config,
            &History {
                created_by,
                empty_layer: true,
                created: self.created(),
                author: st.author.clone(),
            },
            self.epoch,
        )?;
        self.be.cache_put(&key, &id)?;
        out(Event::Stream(format!(" ---> {}\n", short(&id))));
        st.image = Some(id);
        Ok(())
    }

    fn try_cache(&mut self, key: &str, st: &mut State, out: Out<'_>) -> bool {
        if self.opts.no_cache {
            return false;
        }
        match self.be.cache_get(key) {
            Some(id) => {
                out(Event::Stream(format!(
                    " ---> Using cache\n ---> {}\n",
                    short(&id)
                )));
                st.image = Some(id);
                true
            }
            None => false,
        }
    }

    fn step(&mut self, s: &Step, st: &mut State, out: Out<'_>) -> Result<(), BuildError> {
        let orig = s.node.original.clone();
        match &s.instruction {
            Instruction::From { .. } => Err(err("FROM inside a stage")),
            Instruction::Env(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = self.x(st, k)?;
                    let v = self.x(st, v)?;
                    if k.is_empty() {
                        return Err(err("ENV names can not be blank"));
                    }
                    st.set_env(&k, &v);
                    shown.push(format!("{k}={v}"));
                }
                self.meta(st, &format!("ENV {}", shown.join(" ")), out)
            }
            Instruction::Label(pairs) => {
                let mut labels = st.config["Labels"].as_object().cloned().unwrap_or_default();
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = self.x(st, k)?;
                    let v = self.x(st, v)?;
                    if k.is_empty() {
                        return Err(err("LABEL names can not be blank"));
                    }
                    shown.push(format!("{k}={v}"));
                    labels.insert(k, json!(v));
                }
                st.config["Labels"] = Value::Object(labels);
                self.meta(st, &format!("LABEL {}", shown.join(" ")), out)
            }
            Instruction::Arg(list) => {
                let mut shown = Vec::new();
                for (k, default) in list {
                    let vars = st.vars();
                    let mut v = self.arg_value(k, default.as_deref(), &vars)?;
                    if v.is_none() && default.is_none() {
                        // Re-declared meta ARG: its value.
                        v = self
                            .meta_args
                            .iter()
                            .rev()
                            .find(|(m, _)| m == k)
                            .map(|(_, v)| v.clone());
                        if v.is_some() {
                            self.used_args.insert(k.clone());
                        }
                    }
                    st.args.retain(|(a, _)| a != k);
                    if let Some(v) = v {
                        st.args.push((k.clone(), v));
                    }
                    shown.push(match default {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                }
                self.meta(st, &format!("ARG {}", shown.join(" ")), out)
            }
            Instruction::Cmd(c) => {
                st.config["Cmd"] = json!(st.command(c));
                st.cmd_set = true;
                self.meta(st, &format!("CMD {}", json!(st.command(c))), out)
            }
            Instruction::Entrypoint(c) => {
                let v = st.command(c);
                st.config["Entrypoint"] = json!(v);
                if !st.cmd_set {
                    st.config["Cmd"] = Value::Null;
                }
                self.meta(st, &format!("ENTRYPOINT {}", json!(v)), out)
            }
            Instruction::Expose(ports) => {
                let mut map = st.config["ExposedPorts"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let mut shown = Vec::new();
                for p in ports {
                    let p = self.x(st, p)?;
                    for q in expand_ports(&p)? {
                        shown.push(q.clone());
                        map.insert(q, json!({}));
                    }
                }
                st.config["ExposedPorts"] = Value::Object(map);
                self.meta(st, &format!("EXPOSE {}", shown.join(" ")), out)
            }
            Instruction::Volume(vols) => {
                let mut map = st.config["Volumes"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let mut shown = Vec::new();
                for v in vols {
                    let v = self.x(st, v)?;
                    if v.trim().is_empty() {
                        return Err(err("VOLUME specified can not be an empty string"));
                    }
                    shown.push(v.clone());
                    map.insert(v, json!({}));
                }
                st.config["Volumes"] = Value::Object(map);
                self.meta(st, &format!("VOLUME [{}]", shown.join(" ")), out)
            }
            Instruction::User(u) => {
                let u = self.x(st, u)?;
                st.config["User"] = json!(u);
                self.meta(st, &format!("USER {u}"), out)
            }
            Instruction::StopSignal(sig) => {
                let sig = self.x(st, sig)?;
                st.config["StopSignal"] = json!(sig);
                self.meta(st, &format!("STOPSIGNAL {sig}"), out)
            }
            Instruction::Shell(v) => {
                st.config["Shell"] = json!(v);
                self.meta(st, &format!("SHELL {}", json!(v)), out)
            }
            Instruction::Healthcheck(h) => {
                let mut o = serde_json::Map::new();
                o.insert("Test".into(), json!(h.test));
                for (k, v) in [
                    ("Interval", h.interval),
                    ("Timeout", h.timeout),
                    ("StartPeriod", h.start_period),
                    ("StartInterval", h.start_interval),
                    ("Retries", h.retries),
                ] {
                    if v != 0 {
                        o.insert(k.into(), json!(v));
                    }
                }
                st.config["Healthcheck"] = Value::Object(o);
                self.meta(st, &format!("HEALTHCHECK {}", json!(h.test)), out)
            }
            Instruction::Onbuild(t) => {
                let mut v = strings(&st.config["OnBuild"]);
                v.push(t.clone());
                st.config["OnBuild"] = json!(v);
                self.meta(st, &format!("ONBUILD {t}"), out)
            }
            Instruction::Maintainer(m) => {
                st.author = Some(m.clone());
                self.meta(st, &format!("MAINTAINER {m}"), out)
            }
            Instruction::Workdir(w) => self.workdir(st, w, out),
            Instruction::Run {
                cmd,
                network,
                heredocs,
            } => self.run(st, cmd, network.as_deref(), heredocs, out),
            Instruction::Copy(c) => self.copy(st, c, false, &orig, out),
            Instruction::Add(c) => self.copy(st, c, true, &orig, out),
        }
    }

    /// Creates a step container, gives it to `f`, commits it with `history`; removes it.
    fn with_container(
        &mut self,
        st: &mut State,
        cfg: &Value,
        network: Option<&str>,
        history: History,
        f: &mut dyn FnMut(&mut B, &str) -> Result<(), BuildError>,
    ) -> Result<String, BuildError> {
        let id = self.be.create(&StepContainer {
            parent: st.image.as_deref(),
            config: cfg,
            network,
        })?;
        let res = f(self.be, &id).and_then(|()| {
            self.be
                .commit(
                    Some(&id),
                    st.image.as_deref(),
                    &st.config,
                    &history,
                    self.epoch,
                )
                .map_err(BuildError::from)
        });
        let rm = self.be.remove(&id);
        let image = res?;
        rm?;
        Ok(image)
    }

    fn run(
        &mut self,
        st: &mut State,
        cmd: &CommandLine,
        network: Option<&str>,
        heredocs: &[crate::parser::Heredoc],
        out: Out<'_>,
    ) -> Result<(), BuildError> {
        let argv = match (cmd, heredocs.first()) {
            (CommandLine::Shell(s), Some(h)) => {
                let only_marker = crate::parser::heredoc_markers(s).len() == 1
                    && s.trim()
                        .trim_start_matches("<<")
                        .trim_start_matches('-')
                        .trim_matches(['"', '\''])
                        == h.name;
                let script = if only_marker && heredocs.len() == 1 {
                    h.content.clone()
                } else {
                    let mut t = format!("{s}\n");
                    for h in heredocs {
                        t.push_str(&h.content);
                        t.push_str(&h.name);
                        t.push('\n');
                    }
                    t
                };
                let mut v = st.shell();
                v.push(script);
                v
            }
            _ => st.command(cmd),
        };
        // Build args reach the command as environment, ENV winning; proxies too, unrecorded.
        let env_keys: BTreeSet<String> = st.env().into_iter().map(|(k, _)| k).collect();
        let mut recorded: Vec<(String, String)> = st
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect();
        recorded.sort();
        let mut run_cfg = st.config.clone();
        run_cfg["Cmd"] = json!(argv);
        run_cfg["Entrypoint"] = json!([]);
        let mut env = strings(&st.config["Env"]);
        for (k, v) in &st.args {
            if !env_keys.contains(k) {
                env.push(format!("{k}={v}"));
            }
        }
        for p in PROXY_ARGS {
            if let Some(Some(v)) = self.opts.build_args.get(*p) {
                if !st.args.iter().any(|(k, _)| k == p) {
                    env.push(format!("{p}={v}"));
                }
            }
        }
        run_cfg["Env"] = json!(env);
        let shown = argv.join(" ");
        let created_by = if recorded.is_empty() {
            shown.clone()
        } else {
            let a: Vec<String> = recorded.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("|{} {} {shown}", recorded.len(), a.join(" "))
        };
        let net = network
            .map(String::from)
            .or_else(|| self.opts.network.clone());
        let key = self.key(
            st.image.as_deref(),
            &format!("run {}", json!(argv)),
            &st.config,
            &format!("{}\0{}", json!(recorded), net.clone().unwrap_or_default()),
        );
        if self.try_cache(&key, st, out) {
            return Ok(());
        }
        let history = History {
            created_by,
            empty_layer: false,
            created: self.created(),
            author: st.author.clone(),
        };
        let mut step_id = String::new();
        let image = self.with_container(st, &run_cfg, net.as_deref(), history, &mut |be, id| {
            step_id = id.to_string();
            out(Event::Stream(format!(" ---> Running in {}\n", short(id))));
            let code = be.run(id, out)?;
            if code != 0 {
                return Err(BuildError::RunFailed {
                    cmd: shown.clone(),
                    code,
                });
            }
            Ok(())
        })?;
        out(Event::Stream(format!(
            "Removing intermediate container {}\n",
            short(&step_id)
        )));
        self.be.cache_put(&key, &image)?;
        out(Event::Stream(format!(" ---> {}\n", short(&image))));
        st.image = Some(image);
        Ok(())
    }

    fn workdir(&mut self, st: &mut State, w: &str, out: Out<'_>) -> Result<(), BuildError> {
        let w = self.x(st, w)?;
        let path = if w.starts_with('/') {
            w.clone()
        } else {
            let base = st.workdir();
            format!(
                "{}/{w}",
                if base.is_empty() {
                    ""
                } else {
                    base.trim_end_matches('/')
                }
            )
        };
        let path = format!("/{}", crate::ignore::clean(&path)).replace("/.", "/");
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        st.config["WorkingDir"] = json!(path);
        let created_by = format!("/bin/sh -c #(nop) WORKDIR {path}");
        let key = self.key(st.image.as_deref(), &created_by, &st.config, "");
        if self.try_cache(&key, st, out) {
            return Ok(());
        }
        let history = History {
            created_by,
            empty_layer: false,
            created: self.created(),
            author: st.author.clone(),
        };
        let mut cfg = st.config.clone();
        cfg["Cmd"] = json!(["/bin/sh", "-c", format!("#(nop) WORKDIR {path}")]);
        cfg["Entrypoint"] = json!([]);
        let mtime = self.epoch.unwrap_or_else(now_secs).max(0) as u64;
        let rel = crate::ignore::clean(&path);
        let image = self.with_container(st, &cfg, None, history, &mut |be, id| {
            be.with_root(id, &mut |root| {
                if copy::is_dir(root, &rel).is_some() {
                    return Ok(());
                }
                let mut b = tar::Builder::new(Vec::new());
                for p in copy::missing_dirs(root, &rel) {
                    copy::append_dir(&mut b, &p, 0o755, (0, 0), mtime).map_err(io)?;
                }
                let data = b.into_inner().map_err(io)?;
                extract(root, "/", &data[..])
            })
        })?;
        self.be.cache_put(&key, &image)?;
        out(Event::Stream(format!(" ---> {}\n", short(&image))));
        st.image = Some(image);
        Ok(())
    }

    fn copy(
        &mut self,
        st: &mut State,
        c: &CopySpec,
        add: bool,
        orig: &str,
        out: Out<'_>,
    ) -> Result<(), BuildError> {
        let what = if add { "ADD" } else { "COPY" };
        let fail = |e: copy::CopyError| BuildError::Copy(format!("{what} failed: {e}"));
        let mut dest = self.x(st, &c.dest)?;
        let dest_written = dest.clone();
        let trailing = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
        if !dest.starts_with('/') {
            let base = st.workdir();
            dest = format!("{}/{dest}", base.trim_end_matches('/'));
        }
        let dest_rel = crate::ignore::clean(&dest);
        let sources: Vec<String> = c
            .sources
            .iter()
            .map(|s| self.x(st, s))
            .collect::<Result<_, _>>()?;
        let urls: Vec<String> = sources
            .iter()
            .filter(|s| add && (s.starts_with("http://") || s.starts_with("https://")))
            .cloned()
            .collect();
        if !add
            && sources
                .iter()
                .any(|s| s.starts_with("http://") || s.starts_with("https://"))
        {
            return Err(err("COPY failed: source can't be a URL for COPY"));
        }
        let locals: Vec<String> = sources
            .iter()
            .filter(|s| !urls.contains(s))
            .cloned()
            .collect();
        let chown = match &c.chown {
            Some(o) => Some(self.x(st, o)?),
            None => None,
        };
        let chmod = match &c.chmod {
            Some(m) => {
                let m = self.x(st, m)?;
                Some(
                    u32::from_str_radix(&m, 8)
                        .ok()
                        .filter(|v| *v <= 0o7777)
                        .ok_or_else(|| {
                            err(format!(
                                "invalid --chmod={m}: want an octal mode such as 755"
                            ))
                        })?,
                )
            }
            None => None,
        };
        // Downloads happen every time; their content is part of the cache key.
        let mut downloads = Vec::new();
        for u in &urls {
            downloads.push(download(u).map_err(|e| BuildError::Copy(format!("ADD failed: {e}")))?);
        }
        // The source filesystem: the context, a stage, or an image.
        let from = match &c.from {
            Some(f) => {
                let f = self.meta_expand(f)?;
                let cur = self.stages.len();
                match self.stage_ref(&f, cur) {
                    Some(i) => match self.built.get(&i) {
                        Some(b) => Some(b.image.clone().ok_or_else(|| {
                            err(format!("{what} --from={f}: the stage has no filesystem"))
                        })?),
                        None => {
                            return Err(err(format!(
                                "{what} --from={f}: the stage is not built before this one"
                            )))
                        }
                    },
                    None => Some(self.be.image(&f, false, out)?.id),
                }
            }
            None => None,
        };
        let many = locals.len() + urls.len() + c.heredocs.len() > 1;
        let mut matched: Vec<String> = Vec::new();
        let mut dir_srcs: Vec<String> = Vec::new();
        let mut digest = String::new();
        let mut archives: Vec<String> = Vec::new();
        let no_digests = copy::Known::new();
        let known = if from.is_some() {
            &no_digests
        } else {
            self.known
        };
        {
            let mut scan = |root: BorrowedFd<'_>| -> Result<(), BuildError> {
                if !locals.is_empty() {
                    matched = copy::expand_sources(root, &locals).map_err(fail)?;
                    digest = copy::digest(root, &matched, known).map_err(fail)?;
                    dir_srcs = matched
                        .iter()
                        .filter(|m| copy::is_dir(root, m) == Some(true))
                        .cloned()
                        .collect();
                    if add {
                        archives = matched
                            .iter()
                            .filter(|m| copy::archive_kind(root, m).is_some())
                            .cloned()
                            .collect();
                    }
                }
                Ok(())
            };
            match &from {
                Some(img) => self.be.with_image_root(img, &mut scan)?,
                None => scan(self.context)?,
            }
        }
        if (many || matched.len() > 1)
            && !trailing
            && matched.len() + urls.len() + c.heredocs.len() > 1
        {
            return Err(BuildError::Copy(copy::CopyError::DestNotDir.to_string()));
        }
        let mut extra = String::new();
        for h in &c.heredocs {
            extra.push_str(&format!(
                "heredoc {} {}\n",
                h.name,
                hex::encode(Sha256::digest(h.content.as_bytes()))
            ));
        }
        for (u, d) in urls.iter().zip(&downloads) {
            extra.push_str(&format!(
                "url {u} {}\n",
                hex::encode(Sha256::digest(&d.data))
            ));
        }
        // Docker's history text: the source kind, `--chown=` glued to it, the destination as
        // written.
        let kind = match (
            matched.len() + urls.len() + c.heredocs.len(),
            dir_srcs.len(),
        ) {
            (1, 1) => "dir",
            (1, _) => "file",
            _ => "multi",
        };
        let chown_shown = chown
            .as_ref()
            .map(|o| format!("--chown={o}"))
            .unwrap_or_default();
        let created_by = format!(
            "/bin/sh -c #(nop) {what} {chown_shown}{kind}:{} in {dest_written} ",
            &hex::encode(Sha256::digest(format!("{digest}{extra}").as_bytes()))
        );
        let key = self.key(
            st.image.as_deref(),
            &format!("{orig}\0{}", from.clone().unwrap_or_default()),
            &st.config,
            &format!(
                "{dest}\0{:?}\0{chown:?}\0{chmod:?}\0{matched:?}\0{digest}\0{extra}",
                c.link
            ),
        );
        if self.try_cache(&key, st, out) {
            return Ok(());
        }
        let history = History {
            created_by,
            empty_layer: false,
            created: self.created(),
            author: st.author.clone(),
        };
        let cfg = {
            let mut v = st.config.clone();
            v["Cmd"] = json!(["/bin/sh", "-c", format!("#(nop) {orig}")]);
            v["Entrypoint"] = json!([]);
            v
        };
        let now = self.epoch.unwrap_or_else(now_secs).max(0) as u64;
        let escape = self.escape;
        let vars = st.vars();
        let heredocs = c.heredocs.clone();
        let context = self.context;
        let tmp_dir = std::env::temp_dir();
        let image = self.with_container(st, &cfg, None, history, &mut |be, id| {
            // Owners resolve in the destination's /etc/passwd and /etc/group.
            let mut owner = (0, 0);
            let mut tar_file = tempfile::tempfile_in(&tmp_dir).map_err(io)?;
            let mut dest_is_dir = trailing;
            let mut missing_parents = Vec::new();
            be.with_root(id, &mut |root| {
                if let Some(o) = &chown {
                    owner = resolve_owner(root, o)?;
                }
                let existing = copy::is_dir(root, &dest_rel) == Some(true);
                let single_dir = matched.len() == 1 && dir_srcs.len() == 1;
                let all_archives =
                    !archives.is_empty() && matched.len() == archives.len() && urls.is_empty();
                dest_is_dir = trailing || existing || single_dir || all_archives;
                // Directories that do not exist yet are created (0755, with the owner).
                let upto = if dest_is_dir {
                    dest_rel.clone()
                } else {
                    dest_rel
                        .rsplit_once('/')
                        .map(|(p, _)| p.to_string())
                        .unwrap_or_default()
                };
                missing_parents = copy::missing_dirs(root, &upto);
                Ok(())
            })?;
            {
                let mut b = tar::Builder::new(&mut tar_file);
                for p in &missing_parents {
                    copy::append_dir(&mut b, p, 0o755, owner, now).map_err(io)?;
                }
                let attrs = Attrs { owner, mode: chmod };
                let mut add_sources = |root: BorrowedFd<'_>| -> Result<(), BuildError> {
                    for m in &matched {
                        if archives.contains(m) {
                            continue;
                        }
                        if dir_srcs.contains(m) {
                            // A directory's contents go into the destination directory.
                            append_contents(&mut b, root, m, &dest_rel, attrs)?;
                            continue;
                        }
                        let t = if dest_is_dir {
                            let base = m.rsplit('/').next().unwrap_or(m);
                            if dest_rel == "." {
                                base.to_string()
                            } else {
                                format!("{dest_rel}/{base}")
                            }
                        } else {
                            dest_rel.clone()
                        };
                        copy::append(&mut b, root, m, &t, attrs).map_err(fail)?;
                    }
                    Ok(())
                };
                match &from {
                    Some(img) => be.with_image_root(img, &mut add_sources)?,
                    None => add_sources(context)?,
                }
                for h in &heredocs {
                    let data = if h.expand {
                        expand::heredoc(&h.content, escape, &vars).map_err(|e| err(e.0))?
                    } else {
                        h.content.clone()
                    };
                    let t = if dest_is_dir {
                        format!(
                            "{}/{}",
                            dest_rel.trim_end_matches('.').trim_end_matches('/'),
                            h.name
                        )
                        .trim_start_matches('/')
                        .to_string()
                    } else {
                        dest_rel.clone()
                    };
                    copy::append_bytes(
                        &mut b,
                        &t,
                        data.as_bytes(),
                        chmod.unwrap_or(0o644),
                        owner,
                        now,
                    )
                    .map_err(io)?;
                }
                for (u, d) in urls.iter().zip(&downloads) {
                    let t = if dest_is_dir {
                        let base = u
                            .trim_end_matches('/')
                            .rsplit('/')
                            .next()
                            .unwrap_or("index.html");
                        let base = base.split(['?', '#']).next().unwrap_or(base);
                        if dest_rel == "." {
                            base.to_string()
                        } else {
                            format!("{dest_rel}/{base}")
                        }
                    } else {
                        dest_rel.clone()
                    };
                    copy::append_bytes(
                        &mut b,
                        &t,
                        &d.data,
                        chmod.unwrap_or(0o600),
                        owner,
                        d.mtime.unwrap_or(now),
                    )
                    .map_err(io)?;
                }
                b.finish().map_err(io)?;
            }
            tar_file.seek(SeekFrom::Start(0)).map_err(io)?;
            let dest_abs = format!("/{}", if dest_rel == "." { "" } else { &dest_rel });
            be.with_root(id, &mut |root| {
                let f = tar_file.try_clone().map_err(io)?;
                extract(root, "/", f)?;
                Ok(())
            })?;
            // Local archives unpack into the destination directory.
            for a in &archives {
                let f = match &from {
                    Some(_) => {
                        return Err(err("ADD of an archive from another stage is not supported"))
                    }
                    None => copy::open_source(context, a).map_err(fail)?,
                };
                let mut f = Some(f);
                be.with_root(id, &mut |root| {
                    let Some(f) = f.take() else { return Ok(()) };
                    berth_image::copy::extract(
                        root,
                        &dest_abs,
                        f,
                        berth_image::copy::ExtractOptions {
                            no_overwrite_dir_non_dir: false,
                            owner: chown.as_ref().map(|_| owner),
                        },
                    )
                    .map_err(|e| BuildError::Copy(format!("ADD failed: {e}")))
                })?;
            }
            Ok(())
        })?;
        self.be.cache_put(&key, &image)?;
        out(Event::Stream(format!(" ---> {}\n", short(&image))));
        st.image = Some(image);
        Ok(())
    }
}

/// A directory source's contents (not the directory's own entry) below `dest`.
fn append_contents<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    root: BorrowedFd<'_>,
    src: &str,
    dest: &str,
    attrs: Attrs,
) -> Result<(), BuildError> {
    let mut tmp = tar::Builder::new(Vec::new());
    copy::append(&mut tmp, root, src, "x", attrs)
        .map_err(|e| BuildError::Copy(format!("COPY failed: {e}")))?;
    let data = tmp.into_inner().map_err(io)?;
    let mut ar = tar::Archive::new(&data[..]);
    for e in ar.entries().map_err(io)? {
        let mut e = e.map_err(io)?;
        let p = e.path().map_err(io)?.to_string_lossy().into_owned();
        let Some(rest) = p.strip_prefix("x/").map(|r| r.trim_end_matches('/')) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let name = if dest == "." {
            rest.to_string()
        } else {
            format!("{dest}/{rest}")
        };
        let mut h = e.header().clone();
        if h.entry_type() == tar::EntryType::Symlink {
            let target = e
                .link_name()
                .map_err(io)?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            b.append_link(&mut h, &name, target).map_err(io)?;
        } else {
            b.append_data(&mut h, &name, &mut e).map_err(io)?;
        }
    }
    Ok(())
}

fn io(e: std::io::Error) -> BuildError {
    BuildError::Backend(e.to_string())
}

fn extract<R: std::io::Read>(root: BorrowedFd<'_>, dir: &str, r: R) -> Result<(), BuildError> {
    berth_image::copy::extract(root, dir, r, berth_image::copy::ExtractOptions::default())
        .map_err(|e| BuildError::Copy(format!("COPY failed: {e}")))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`…
fn expand_ports(p: &str) -> Result<Vec<String>, BuildError> {
    let (range, proto) = match p.split_once('/') {
        Some((r, pr)) => (r, pr.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(err(format!("invalid proto: {proto}")));
    }
    let bad = || err(format!("Invalid containerPort: {range}"));
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let v = range.parse::<u16>().map_err(|_| bad())?;
            (v, v)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

/// `user[:group]` (names or numbers) in the destination's passwd and group files.
fn resolve_owner(root: BorrowedFd<'_>, spec: &str) -> Result<(u32, u32), BuildError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let read = |p: &str| -> String {
        berth_image::copy::read_file(root, p, 1 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let lookup = |file: &str, name: &str| -> Option<u32> {
        read(file).lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[0] == name)
                .then(|| f[2].parse().ok())
                .flatten()
        })
    };
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup("/etc/passwd", u)
            .ok_or_else(|| err(format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {u}: no such user: {u}")))?,
    };
    let gid = match g {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("/etc/group", g).ok_or_else(|| {
                err(format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}"))
            })?,
        },
    };
    Ok((uid, gid))
}

/// A downloaded ADD source.
struct Download {
    data: Vec<u8>,
    mtime: Option<u64>,
}

fn download(url: &str) -> Result<Download, String> {
    let resp = ureq::get(url)
        .call()
        .map_err(|e| format!("failed to GET {url}: {e}"))?;
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(http_date);
    let data = resp
        .into_body()
        .with_config()
        .limit(8 << 30)
        .read_to_vec()
        .map_err(|e| format!("failed to read {url}: {e}"))?;
    Ok(Download { data, mtime })
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → Unix seconds.
fn http_date(s: &str) -> Option<u64> {
    let p: Vec<&str> = s.split_whitespace().collect();
    if p.len() != 6 {
        return None;
    }
    let day: i64 = p[1].parse().ok()?;
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == p[2])? as i64
        + 1;
    let year: i64 = p[3].parse().ok()?;
    let t: Vec<i64> = p[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if t.len() != 3 {
        return None;
    }
    let (y, m) = if mon <= 2 {
        (year - 1, mon + 9)
    } else {
        (year, mon - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
    }

    #[test]
    fn ports() {
        assert_eq!(expand_ports("80").expect("ok"), vec!["80/tcp"]);
        assert_eq!(expand_ports("53/UDP").expect("ok"), vec!["53/udp"]);
        assert_eq!(expand_ports("8000-8002").expect("ok").len(), 3);
        assert!(expand_ports("x").is_err());
        assert!(expand_ports("80/foo").is_err());
    }

    #[test]
    fn stages_split_with_meta_args() {
        let d = parse("ARG V=1\nFROM a:$V AS one\nRUN x\nFROM one\nCOPY --from=one /a /b\n")
            .expect("parse");
        let steps = check(&d.nodes, '\\').expect("check");
        let (meta, stages) = split_stages(steps).expect("split");
        assert_eq!(meta.len(), 1);
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].steps.len(), 2);
        let e = split_stages(check(&parse("RUN x\n").expect("p").nodes, '\\').expect("c"))
            .expect_err("no from");
        assert!(
            e.to_string().contains("no build stage in current context"),
            "{e}"
        );
    }
}
