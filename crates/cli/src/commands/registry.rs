//! `berth pull`, `push`, `login`, `logout` and the credentials they use: a
//! `~/.docker/config.json`-compatible file (`$DOCKER_CONFIG/config.json`), with `auths`
//! entries (`auth` = base64 `user:password`) or the credential helpers it names (`credsStore`,
//! `credHelpers`: `docker-credential-<name> get|store|erase`), as the docker CLI keeps them.
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use clap::Args;
use serde_json::{json, Value};

use super::{CmdError, CmdResult, Ctx};
use crate::client::Request;

/// Docker Hub's key in config.json.
const HUB: &str = "https://index.docker.io/v1/";

fn config_path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".docker")
        });
    dir.join("config.json")
}

fn load_config() -> Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}))
}

fn save_config(v: &Value) -> Result<(), CmdError> {
    let p = config_path();
    let fail = |e: std::io::Error| CmdError::Status {
        message: format!("Error saving credentials: {}: {e}", p.display()),
        code: 1,
    };
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(fail)?;
    }
    let tmp = p.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode_600()
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(&serde_json::to_vec_pretty(v).unwrap_or_default())
        .map_err(fail)?;
    std::fs::rename(&tmp, &p).map_err(fail)
}

trait Mode600 {
    fn mode_600(&mut self) -> &mut Self;
}
impl Mode600 for std::fs::OpenOptions {
    fn mode_600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// The registry a reference lives on, as config.json keys it (Docker Hub's URL for docker.io).
pub fn registry_of(image: &str) -> String {
    let first = image.split('/').next().unwrap_or("");
    if image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        if first == "docker.io" || first == "index.docker.io" || first == "registry-1.docker.io" {
            return HUB.to_string();
        }
        first.to_string()
    } else {
        HUB.to_string()
    }
}

/// The server as `docker login` names it (`host[:port]`, Docker Hub's URL otherwise).
fn normalize_server(s: &str) -> String {
    let h = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match h {
        "" | "docker.io" | "index.docker.io" | "index.docker.io/v1" | "registry-1.docker.io" => {
            HUB.to_string()
        }
        h => h.split('/').next().unwrap_or(h).to_string(),
    }
}

/// The credential helper for `server`, if config.json names one.
fn helper_for(cfg: &Value, server: &str) -> Option<String> {
    cfg["credHelpers"][server]
        .as_str()
        .or_else(|| cfg["credsStore"].as_str())
        .filter(|h| !h.is_empty())
        .map(|h| format!("docker-credential-{h}"))
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<String, CmdError> {
    let mut c = Command::new(helper)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CmdError::Status {
            message: format!("error getting credentials - err: exec: \"{helper}\": {e}"),
            code: 1,
        })?;
    if let Some(mut i) = c.stdin.take() {
        let _ = i.write_all(input.as_bytes());
    }
    let out = c.wait_with_output().map_err(|e| CmdError::Status {
        message: format!("{helper} {verb}: {e}"),
        code: 1,
    })?;
    if !out.status.success() {
        return Err(CmdError::Status {
            message: format!(
                "{helper} {verb}: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            ),
            code: 1,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stored credentials for `server`: (user, secret).
pub fn credentials(server: &str) -> Option<(String, String)> {
    let cfg = load_config();
    if let Some(h) = helper_for(&cfg, server) {
        let out = run_helper(&h, "get", server).ok()?;
        let v: Value = serde_json::from_str(&out).ok()?;
        return Some((
            v["Username"].as_str()?.to_string(),
            v["Secret"].as_str()?.to_string(),
        ));
    }
    let auth = cfg["auths"][server]["auth"].as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The `X-Registry-Auth` header for pulling or pushing `image` (`{}` when not logged in).
pub fn auth_header(image: &str) -> String {
    let server = registry_of(image);
    let v = match credentials(&server) {
        Some((u, p)) => json!({"username": u, "password": p, "serveraddress": server}),
        None => json!({}),
    };
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

/// `berth pull`.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// Displays a pull/push progress stream ([`crate::progress`]).
fn progress(resp: impl Read, quiet: bool) -> Result<(), CmdError> {
    super::load::print_progress_quiet(resp, quiet)
}

pub fn pull(ctx: &Ctx, a: PullArgs) -> CmdResult {
    let (name, tag) = if a.all_tags {
        (a.name.clone(), None)
    } else {
        super::split_ref(&a.name, true)
    };
    if a.all_tags && a.name.rsplit('/').next().unwrap_or("").contains(':') {
        return Err(CmdError::Status {
            message: "tag can't be used with --all-tags/-a".into(),
            code: 1,
        });
    }
    let mut req = Request::new("POST", "/images/create").query("fromImage", name.clone());
    if let Some(t) = &tag {
        req = req.query("tag", t.clone());
    }
    if let Some(p) = &a.platform {
        req = req.query("platform", p.clone());
    }
    req.headers
        .push(("X-Registry-Auth".into(), auth_header(&a.name)));
    let resp = ctx.client.send(req)?;
    progress(resp, a.quiet)?;
    if !a.all_tags {
        super::out(&format!("{}\n", full_name(&super::tagged(&a.name))));
    }
    Ok(0)
}

/// `docker.io/library/busybox:latest` for `busybox`, as docker prints after a pull.
fn full_name(r: &str) -> String {
    let first = r.split('/').next().unwrap_or("");
    let has_host =
        r.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_host {
        r.to_string()
    } else if r.contains('/') {
        format!("docker.io/{r}")
    } else {
        format!("docker.io/library/{r}")
    }
}

/// `berth push`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub name: String,
}

pub fn push(ctx: &Ctx, a: PushArgs) -> CmdResult {
    let (name, tag) = if a.all_tags {
        (a.name.clone(), None)
    } else {
        super::split_ref(&a.name, true)
    };
    let mut req = Request::new(
        "POST",
        format!("/images/{}/push", crate::client::path_escape(&name)),
    );
    if let Some(t) = &tag {
        req = req.query("tag", t.clone());
    }
    req.headers
        .push(("X-Registry-Auth".into(), auth_header(&a.name)));
    // "The push refers to repository [...]" is the daemon's first message.
    let resp = ctx.client.send(req)?;
    progress(resp, a.quiet)?;
    if a.quiet {
        super::out(&format!("{}\n", full_name(&super::tagged(&a.name))));
    }
    Ok(0)
}

/// `berth login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// SERVER
    pub server: Option<String>,
}

pub fn login(ctx: &Ctx, a: LoginArgs) -> CmdResult {
    let server = normalize_server(a.server.as_deref().unwrap_or(""));
    let username = a.username.clone().ok_or_else(|| CmdError::Status {
        message: "Username is required (-u): interactive login is not supported by berth".into(),
        code: 1,
    })?;
    let password = if a.password_stdin {
        if a.password.is_some() {
            return Err(CmdError::Status {
                message: "--password and --password-stdin are mutually exclusive".into(),
                code: 1,
            });
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CmdError::Status {
                message: format!("read the password from stdin: {e}"),
                code: 1,
            })?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else {
        a.password.clone().ok_or_else(|| CmdError::Status {
            message: "Password is required (-p or --password-stdin)".into(),
            code: 1,
        })?
    };
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let resp: Value = ctx
        .client
        .json(Request::new("POST", "/auth").body(crate::client::Body::json(&body)?))?;
    let mut cfg = load_config();
    if let Some(h) = helper_for(&cfg, &server) {
        let input = json!({"ServerURL": server, "Username": username, "Secret": password});
        run_helper(&h, "store", &input.to_string())?;
    } else {
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        if !cfg["auths"].is_object() {
            cfg["auths"] = json!({});
        }
        cfg["auths"][&server] = json!({"auth": auth});
        save_config(&cfg)?;
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning.",
            config_path().display()
        );
    }
    super::out(&format!(
        "{}\n",
        resp["Status"].as_str().unwrap_or("Login Succeeded")
    ));
    Ok(0)
}

/// `berth logout`.
#[derive(Debug, Clone, Args)]
pub struct LogoutArgs {
    /// SERVER
    pub server: Option<String>,
}

pub fn logout(_ctx: &Ctx, a: LogoutArgs) -> CmdResult {
    let server = normalize_server(a.server.as_deref().unwrap_or(""));
    let mut cfg = load_config();
    let known = cfg["auths"].get(&server).is_some() || helper_for(&cfg, &server).is_some();
    if !known {
        super::out(&format!("Not logged in to {server}\n"));
        return Ok(0);
    }
    super::out(&format!("Removing login credentials for {server}\n"));
    if let Some(h) = helper_for(&cfg, &server) {
        let _ = run_helper(&h, "erase", &server);
    }
    if let Some(a) = cfg["auths"].as_object_mut() {
        a.remove(&server);
    }
    save_config(&cfg)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_of_references() {
        assert_eq!(registry_of("busybox"), HUB);
        assert_eq!(registry_of("library/busybox:1"), HUB);
        assert_eq!(registry_of("127.0.0.1:5000/x/y:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/x"), "localhost");
        assert_eq!(registry_of("docker.io/library/b"), HUB);
        assert_eq!(
            normalize_server("https://127.0.0.1:5000/"),
            "127.0.0.1:5000"
        );
        assert_eq!(normalize_server(""), HUB);
        assert_eq!(
            full_name("busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full_name("127.0.0.1:5000/x:1"), "127.0.0.1:5000/x:1");
    }
}
