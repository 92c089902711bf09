//! Registry authentication: [`Credentials`] as the daemon decodes them from `X-Registry-Auth`,
//! `WWW-Authenticate` challenges, bearer tokens (cached per realm, service, scopes and user
//! until they expire) and `login`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use super::client::Session;
use super::transport::Endpoint;
use super::{Registry, RegistryError};

/// Credentials for one registry, as `X-Registry-Auth` carries them. All fields may be empty
/// (anonymous).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// An identity token from an earlier login (an OAuth refresh token).
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    /// A bearer token to send as is.
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
}

/// `X-Registry-Auth` as sent: also `auth`, base64 of `username:password`, which some clients
/// send instead of the two.
#[derive(Deserialize)]
struct Wire {
    #[serde(flatten)]
    creds: Credentials,
    #[serde(default)]
    auth: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &(!self.password.is_empty()).then_some("…"))
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
            ..Credentials::default()
        }
    }

    /// Decodes an `X-Registry-Auth` header value (base64url JSON, padded or not; standard
    /// base64 accepted too). An empty header is anonymous.
    pub fn from_header(value: &str) -> Result<Credentials, RegistryError> {
        let v = value.trim();
        if v.is_empty() || v == "{}" {
            return Ok(Credentials::default());
        }
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v))
            .map_err(|e| RegistryError::Invalid(format!("invalid X-Registry-Auth header: {e}")))?;
        let w: Wire = serde_json::from_slice(&b)
            .map_err(|e| RegistryError::Invalid(format!("invalid X-Registry-Auth header: {e}")))?;
        let mut c = w.creds;
        if c.username.is_empty() && !w.auth.is_empty() {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(w.auth.trim())
                .map_err(|e| {
                    RegistryError::Invalid(format!("invalid X-Registry-Auth auth: {e}"))
                })?;
            let raw = String::from_utf8_lossy(&raw).into_owned();
            if let Some((u, p)) = raw.split_once(':') {
                c.username = u.to_owned();
                c.password = p.to_owned();
            }
        }
        Ok(c)
    }

    pub(crate) fn has_basic(&self) -> bool {
        !self.username.is_empty()
    }

    pub(crate) fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service to ask a token for.
        service: Option<String>,
        /// The scope the registry asked for (informational: Berth asks for its own scopes).
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value (one challenge; quoted parameters with escapes).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let h = header.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = s[ks..i].trim().to_owned();
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                // push the whole UTF-8 character starting here
                let ch = s[i..].chars().next().unwrap_or(' ');
                val.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
        } else {
            let vs = i.min(b.len());
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = s[vs..i.min(b.len())].trim().to_owned();
        }
        if !key.is_empty() {
            out.push((key, val));
        }
    }
    out
}

#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    fn get(&self, key: &str) -> Option<String> {
        let t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.get(key)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(tok, _)| tok.clone())
    }

    fn put(&self, key: String, token: String, ttl: Duration) {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() > 1024 {
            let now = Instant::now();
            t.retain(|_, (_, exp)| *exp > now);
        }
        t.insert(key, (token, Instant::now() + ttl));
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A bearer token for `scopes` from the challenge's realm: `GET` with basic credentials (or
/// anonymously), or `POST` with the identity token as OAuth refresh token. Returns the token
/// and, when the server issued one, a refresh token (the identity token `login` returns).
pub(crate) fn fetch_token(
    reg: &Registry,
    ep: &Endpoint,
    challenge: &Challenge,
    scopes: &[String],
    creds: &Credentials,
    offline: bool,
) -> Result<(String, Option<String>), RegistryError> {
    let Challenge::Bearer { realm, service, .. } = challenge else {
        return Err(RegistryError::Invalid("not a bearer challenge".into()));
    };
    if !creds.registry_token.is_empty() {
        return Ok((creds.registry_token.clone(), None));
    }
    let key = format!(
        "{realm}|{}|{}|{}|{}",
        service.as_deref().unwrap_or(""),
        scopes.join(" "),
        creds.username,
        secret_tag(&creds.password, &creds.identity_token)
    );
    if !offline {
        if let Some(t) = reg.inner.tokens.get(&key) {
            return Ok((t, None));
        }
    }
    let mut q: Vec<(String, String)> = Vec::new();
    if let Some(s) = service {
        q.push(("service".into(), s.clone()));
    }
    for s in scopes {
        q.push(("scope".into(), s.clone()));
    }
    let resp = if !creds.identity_token.is_empty() {
        q.push(("grant_type".into(), "refresh_token".into()));
        q.push(("refresh_token".into(), creds.identity_token.clone()));
        q.push(("client_id".into(), "berth".into()));
        let form = q
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        ep.agent
            .post(realm)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form.as_bytes())
    } else {
        if offline && creds.has_basic() {
            q.push(("offline_token".into(), "true".into()));
            q.push(("client_id".into(), "berth".into()));
        }
        let url = if q.is_empty() {
            realm.clone()
        } else {
            let sep = if realm.contains('?') { '&' } else { '?' };
            format!(
                "{realm}{sep}{}",
                q.iter()
                    .map(|(k, v)| format!("{k}={}", enc(v)))
                    .collect::<Vec<_>>()
                    .join("&")
            )
        };
        let mut r = ep.agent.get(&url);
        if creds.has_basic() {
            r = r.header("Authorization", creds.basic_header());
        }
        r.call()
    };
    let mut resp = resp.map_err(|e| RegistryError::Transport {
        method: "Get".into(),
        url: realm.clone(),
        reason: super::transport::describe(&e),
    })?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .unwrap_or_default();
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(RegistryError::Unauthorized(
            super::client::error_message(&body)
                .unwrap_or_else(|| "incorrect username or password".into()),
        ));
    }
    if !status.is_success() {
        return Err(RegistryError::Status {
            method: "GET".into(),
            url: realm.clone(),
            status: status.to_string(),
        });
    }
    let t: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| RegistryError::Invalid(format!("token response from {realm}: {e}")))?;
    let token = if t.token.is_empty() {
        t.access_token
    } else {
        t.token
    };
    if token.is_empty() {
        return Err(RegistryError::Invalid(format!(
            "token response from {realm}: no token"
        )));
    }
    // Docker's minimum is 60 s; keep a margin before the expiry.
    let ttl = Duration::from_secs(t.expires_in.unwrap_or(60).max(60).saturating_sub(10));
    reg.inner.tokens.put(key, token.clone(), ttl);
    Ok((token, t.refresh_token))
}

/// A non-reversible tag of the secrets for the cache key (so two passwords never share a token).
#[allow(non_snake_case)]
fn secret_tag(a: &str, b: &str) -> String {
    crate::reference::Digest::of(format!("{a}\0{b}").as_bytes())
        .short()
        .to_owned()
}

/// The registry host `docker login` means by `server`.
pub fn login_host(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "docker.io" | "index.docker.io" => super::transport::DOCKER_HUB_API.to_owned(),
        h => h.to_owned(),
    }
}

pub(crate) fn login(
    reg: &Registry,
    server: &str,
    creds: &Credentials,
) -> Result<Option<String>, RegistryError> {
    let host = login_host(server);
    let sess = Session::connect(reg, &host, creds, Vec::new())?;
    sess.login()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"bearer realm="http://x/t\"q""#),
            Some(Challenge::Bearer {
                realm: "http://x/t\"q".into(),
                service: None,
                scope: None
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn registry_auth_header() {
        let json = r#"{"username":"u","password":"p:w","serveraddress":"x"}"#;
        let h = base64::engine::general_purpose::URL_SAFE.encode(json);
        let c = Credentials::from_header(&h).unwrap();
        assert_eq!(c, Credentials::basic("u", "p:w"));
        assert_eq!(c.basic_header(), "Basic dTpwOnc=");
        assert!(!format!("{c:?}").contains("p:w"));
        assert_eq!(
            Credentials::from_header("").unwrap(),
            Credentials::default()
        );
        assert!(Credentials::from_header("!!!").is_err());
        let only_auth = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"auth":"dTpwOnc=","serveraddress":"x"}"#);
        assert_eq!(Credentials::from_header(&only_auth).unwrap(), c);
        assert_eq!(
            login_host("https://index.docker.io/v1/"),
            "registry-1.docker.io"
        );
        assert_eq!(login_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(enc("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
