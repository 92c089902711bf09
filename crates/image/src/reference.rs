//! Image references (`[registry/]name[:tag][@sha256:…]`), digests and ID-prefix lookup.
//!
//! Parsing and normalisation follow Docker's `distribution/reference` package: names without a
//! registry live on `docker.io`, single-component names on Docker Hub get `library/`, and a name
//! with neither tag nor digest gets the tag `latest`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// The default registry of unqualified names.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace of official images on the default registry.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag of a name given without tag or digest.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Errors of reference, digest and ID parsing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// The text does not match the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The repository part has upper-case letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// The repository name is longer than 255 characters.
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
    /// The repository is a 64-character hex string, which Docker reserves for IDs.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// A digest with an unknown algorithm or bad hex.
    #[error("invalid digest: {0}")]
    InvalidDigest(String),
    /// No ID starts with the prefix.
    #[error("no such image: {0}")]
    NotFound(String),
    /// Several IDs start with the prefix.
    #[error("ambiguous image id prefix: {0} matches several images")]
    Ambiguous(String),
}

/// A sha256 content digest (`sha256:<64 lower-case hex>`). Other algorithms are refused.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(data).into())
    }

    /// A digest from a finished sha256 state.
    pub fn from_sha256(bytes: [u8; 32]) -> Digest {
        Digest {
            hex: hex::encode(bytes),
        }
    }

    /// Parses a bare 64-character hex string (as used in blob paths).
    pub fn from_hex(hex: &str) -> Result<Digest, ReferenceError> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest {
                hex: hex.to_owned(),
            })
        } else {
            Err(ReferenceError::InvalidDigest(hex.to_owned()))
        }
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The algorithm name, always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The first 12 hex characters, as `docker images` shows IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Digest, ReferenceError> {
        match s.split_once(':') {
            Some(("sha256", hex)) => {
                Digest::from_hex(hex).map_err(|_| ReferenceError::InvalidDigest(s.to_owned()))
            }
            _ => Err(ReferenceError::InvalidDigest(s.to_owned())),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A normalised image reference: registry domain, repository path, optional tag and digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference as `docker pull` does (`ParseNormalizedNamed`), then
    /// adds the tag `latest` when neither tag nor digest is given (`TagNameOnly`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// Parses and normalises without adding a default tag (a repository, or a name as given).
    pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::InvalidFormat);
        }
        if Digest::from_hex(s).is_ok() {
            return Err(ReferenceError::HexName(s.to_owned()));
        }
        // digest
        let (rest, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let dg = parse_digest_part(d)?;
                (n, Some(dg))
            }
            None => (s, None),
        };
        // tag: a ':' after the last '/'
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(ReferenceError::InvalidFormat);
            }
        }
        // split domain as splitDockerDomain
        let (mut domain, mut remainder) = match name.find('/') {
            Some(i)
                if name[..i].contains(['.', ':'])
                    || &name[..i] == "localhost"
                    || name[..i].to_lowercase() != name[..i] =>
            {
                (name[..i].to_owned(), name[i + 1..].to_owned())
            }
            _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        };
        if domain == LEGACY_DOMAIN {
            domain = DEFAULT_DOMAIN.to_owned();
        }
        if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
            remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
        }
        if remainder.to_lowercase() != remainder {
            return Err(ReferenceError::Uppercase(remainder));
        }
        if !valid_domain(&domain) || !valid_path(&remainder) {
            return Err(ReferenceError::InvalidFormat);
        }
        if domain.len() + 1 + remainder.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        Ok(Reference {
            domain,
            path: remainder,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry domain (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The repository path on the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
    /// The full repository name (`docker.io/library/busybox`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    /// The repository as Docker shows it (`busybox`, `localhost:5000/x`).
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }
    /// The reference as Docker shows it (`busybox:latest`, `localhost:5000/x:1`).
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }
    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::InvalidFormat);
        }
        Ok(Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }
    /// The same repository with a digest and no tag (a "repo digest").
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }
    /// The repository alone (no tag, no digest).
    pub fn repository(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }
    fn render(&self, name: String) -> String {
        let mut s = name;
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

/// The fully-qualified form (`docker.io/library/busybox:latest`).
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Reference, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse_named(&s).map_err(serde::de::Error::custom)
    }
}

fn parse_digest_part(d: &str) -> Result<Digest, ReferenceError> {
    // The grammar accepts any algorithm; Berth only stores sha256.
    let (alg, hex) = d.split_once(':').ok_or(ReferenceError::InvalidFormat)?;
    let alg_ok = !alg.is_empty()
        && alg
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ReferenceError::InvalidFormat);
    }
    d.parse()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || d.starts_with('[') => {
            if h.contains(':') && !h.starts_with('[') {
                return false;
            }
            (h, Some(p))
        }
        _ => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return false;
        };
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

fn valid_path(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(valid_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Resolves a full ID, `sha256:`-prefixed or bare hex prefix against a set of IDs, as
/// `docker inspect 3f4` does. An ambiguous prefix is an error; an empty prefix matches nothing.
pub fn resolve_id_prefix<'a, I>(prefix: &str, ids: I) -> Result<Digest, ReferenceError>
where
    I: IntoIterator<Item = &'a Digest>,
{
    let hex = prefix.strip_prefix("sha256:").unwrap_or(prefix);
    if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ReferenceError::NotFound(prefix.to_owned()));
    }
    let hex = hex.to_ascii_lowercase();
    let mut found: Option<&Digest> = None;
    for id in ids {
        if id.hex().starts_with(&hex) {
            match found {
                Some(f) if f != id => return Err(ReferenceError::Ambiguous(prefix.to_owned())),
                _ => found = Some(id),
            }
        }
    }
    found
        .cloned()
        .ok_or_else(|| ReferenceError::NotFound(prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(s: &str) -> String {
        Reference::parse(s)
            .map(|r| r.familiar())
            .unwrap_or_else(|e| e.to_string())
    }
    fn full(s: &str) -> String {
        Reference::parse(s)
            .map(|r| r.to_string())
            .unwrap_or_else(|e| e.to_string())
    }
    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(fam("busybox"), "busybox:latest");
        assert_eq!(
            full("library/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(full("index.docker.io/foo/bar"), "docker.io/foo/bar:latest");
        assert_eq!(fam("docker.io/foo/bar:x"), "foo/bar:x");
        assert_eq!(full("localhost:5000/x:1"), "localhost:5000/x:1");
        assert_eq!(fam("localhost:5000/x:1"), "localhost:5000/x:1");
        assert_eq!(fam("localhost/x"), "localhost/x:latest");
        assert_eq!(fam("quay.io/a/b/c"), "quay.io/a/b/c:latest");
        assert_eq!(fam("[::1]:5000/img:v"), "[::1]:5000/img:v");
        assert_eq!(fam(&format!("busybox@{D}")), format!("busybox@{D}"));
        assert_eq!(fam(&format!("busybox:1@{D}")), format!("busybox:1@{D}"));
        assert_eq!(fam("a_b.c__d-e---f"), "a_b.c__d-e---f:latest");
        assert_eq!(fam("Foo.io/bar"), "Foo.io/bar:latest");
        let r = Reference::parse("localhost:5000/x").unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "x");
        assert_eq!(r.tag(), Some("latest"));
    }

    #[test]
    fn refuses_like_docker() {
        assert_eq!(
            full("Foo"),
            "invalid reference format: repository name (library/Foo) must be lowercase"
        );
        for bad in [
            "",
            ":",
            "a:",
            "busybox:",
            "-a",
            "a-",
            "a//b",
            "/a",
            "a/",
            "a:b:c",
            "a@sha256:zz",
            "a@sha256:abc",
            "a:-tag",
            "a__-b",
            "a..b",
            "a$b",
            "localhost:port/x",
            "a@md5",
            &format!("a:{}", "t".repeat(129)),
        ] {
            assert_eq!(full(bad), "invalid reference format", "{bad:?}");
        }
        assert!(full(&"a".repeat(256)).contains("255"));
        assert!(full(&"ab".repeat(32)).contains("64-byte hexadecimal"));
        assert!(full("x@sha512:0123456789abcdef0123456789abcdef").starts_with("invalid digest"));
    }

    #[test]
    fn digests() {
        let d: Digest = D.parse().unwrap();
        assert_eq!(d, Digest::of(b""));
        assert_eq!(d.short(), "e3b0c44298fc");
        assert!("sha256:E3B0".parse::<Digest>().is_err());
        assert!("sha512:00".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "g".repeat(64))
            .parse::<Digest>()
            .is_err());
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{D}\""));
    }

    #[test]
    fn prefixes() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = [a.clone(), b.clone()];
        assert_eq!(resolve_id_prefix(&a.hex()[..5], &ids).unwrap(), a);
        assert_eq!(
            resolve_id_prefix(&format!("sha256:{}", &b.hex()[..3]), &ids).unwrap(),
            b
        );
        assert_eq!(resolve_id_prefix(&a.to_string(), &ids).unwrap(), a);
        assert!(matches!(
            resolve_id_prefix("", &ids),
            Err(ReferenceError::NotFound(_))
        ));
        assert!(matches!(
            resolve_id_prefix("zz", &ids),
            Err(ReferenceError::NotFound(_))
        ));
        let mut many: Vec<Digest> = (0..64u8).map(|i| Digest::of(&[i])).collect();
        let first = many[0].hex()[..1].to_owned();
        assert!(matches!(
            resolve_id_prefix(&first, &many),
            Err(ReferenceError::Ambiguous(_))
        ));
        many.truncate(1);
        assert!(resolve_id_prefix(&first, &many).is_ok());
    }
}
