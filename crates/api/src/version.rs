//! API versions: the supported range, the `/v1.NN` path prefix, and moby's version errors.
//!
//! Every route is served both as `/v1.NN/path` and as bare `/path` (bare = [`MAX_API_VERSION`]).
//! A version below [`MIN_API_VERSION`] is refused with moby's exact text (HTTP 400); a version
//! above the maximum is served as the maximum (moby refuses it, but un-negotiated clients such as
//! bollard send `/v1.53` and work this way). Handlers branch on the resolved version.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The oldest API version served (moby's `api.MinSupportedAPIVersion`; docker-py's floor too).
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(1, 24);
/// The version announced in `Api-Version`, `/version` and used for unversioned paths.
pub const MAX_API_VERSION: ApiVersion = ApiVersion::new(1, 41);

/// An Engine API version `MAJOR.MINOR`, ordered numerically (`1.9 < 1.24 < 1.41`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiVersion {
    /// Always 1 in practice.
    pub major: u16,
    /// The number that moves.
    pub minor: u16,
}

impl ApiVersion {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        ApiVersion { major, minor }
    }

    /// Splits a request path into its version prefix and the route path:
    /// `/v1.41/containers/json` → `(Some(1.41), "/containers/json")`,
    /// `/containers/json` → `(None, "/containers/json")`.
    ///
    /// As in moby's router (`/v{version:[0-9.]+}`), only a first segment of `v` followed by digits
    /// and dots is a version; anything else is an unversioned path (that will likely 404). A
    /// digits-and-dots segment that is not `N.N` (`/v1/…`, `/v1.2.3/…`) is an
    /// [`VersionError::Invalid`].
    pub fn split_path(path: &str) -> Result<(Option<ApiVersion>, &str), VersionError> {
        let Some(rest) = path.strip_prefix("/v") else {
            return Ok((None, path));
        };
        let end = rest.find('/').unwrap_or(rest.len());
        let (seg, tail) = rest.split_at(end);
        if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Ok((None, path));
        }
        let v = seg.parse::<ApiVersion>()?;
        Ok((Some(v), if tail.is_empty() { "/" } else { tail }))
    }

    /// The version a request is served at: none given → the maximum; below the minimum → the
    /// "too old" error; above the maximum → the maximum (lenient, unlike moby's "too new").
    pub fn resolve(requested: Option<ApiVersion>) -> Result<ApiVersion, VersionError> {
        match requested {
            None => Ok(MAX_API_VERSION),
            Some(v) if v < MIN_API_VERSION => Err(VersionError::TooOld(v)),
            Some(v) if v > MAX_API_VERSION => Ok(MAX_API_VERSION),
            Some(v) => Ok(v),
        }
    }

    /// Shorthand for `self >= ApiVersion::new(1, minor)` in version-gated handlers.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= ApiVersion::new(major, minor)
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor).cmp(&(other.major, other.minor))
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || VersionError::Invalid(s.to_owned());
        let (major, minor) = s.split_once('.').ok_or_else(invalid)?;
        let num = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            p.parse::<u16>().map_err(|_| invalid())
        };
        Ok(ApiVersion::new(num(major)?, num(minor)?))
    }
}

impl serde::Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ApiVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Version errors; both are HTTP 400 (moby's `InvalidParameter`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Below [`MIN_API_VERSION`]; the text is moby's, word for word.
    #[error("client version {0} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version")]
    TooOld(ApiVersion),
    /// Not `MAJOR.MINOR`.
    #[error("invalid API version: {0:?}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApiVersion {
        s.parse().unwrap()
    }

    #[test]
    fn constants() {
        assert_eq!(MIN_API_VERSION.to_string(), "1.24");
        assert_eq!(MAX_API_VERSION.to_string(), "1.41");
    }

    #[test]
    fn ordering_is_numeric() {
        assert!(v("1.9") < v("1.24"));
        assert!(v("1.24") < v("1.41"));
        assert!(v("1.100") > v("1.41"));
        assert!(v("2.0") > v("1.99"));
        assert_eq!(v("1.041"), v("1.41"));
        assert!(v("1.42").at_least(1, 42) && !v("1.41").at_least(1, 42));
    }

    #[test]
    fn parse_rejects_non_versions() {
        for bad in [
            "", "1", "1.", ".1", "1.2.3", "a.b", "1.-2", "1.+2", "99999.1",
        ] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn split_path_prefix() {
        assert_eq!(
            ApiVersion::split_path("/v1.41/containers/json").unwrap(),
            (Some(v("1.41")), "/containers/json")
        );
        assert_eq!(ApiVersion::split_path("/_ping").unwrap(), (None, "/_ping"));
        assert_eq!(
            ApiVersion::split_path("/v1.41").unwrap(),
            (Some(v("1.41")), "/")
        );
        // Image names are greedy path parameters: only the first segment is looked at.
        assert_eq!(
            ApiVersion::split_path("/v1.41/images/localhost:5055/v1.2/json").unwrap(),
            (Some(v("1.41")), "/images/localhost:5055/v1.2/json")
        );
        // Not a version segment: routed (and 404ed) as an unversioned path, as moby does.
        assert_eq!(
            ApiVersion::split_path("/volumes/x").unwrap(),
            (None, "/volumes/x")
        );
        assert_eq!(
            ApiVersion::split_path("/vx/info").unwrap(),
            (None, "/vx/info")
        );
        assert!(ApiVersion::split_path("/v1.2.3/info").is_err());
    }

    #[test]
    fn resolve_is_lenient_above_and_strict_below() {
        assert_eq!(ApiVersion::resolve(None).unwrap(), MAX_API_VERSION);
        assert_eq!(ApiVersion::resolve(Some(v("1.24"))).unwrap(), v("1.24"));
        assert_eq!(ApiVersion::resolve(Some(v("1.30"))).unwrap(), v("1.30"));
        // bollard without negotiate_version() sends /v1.53.
        assert_eq!(
            ApiVersion::resolve(Some(v("1.53"))).unwrap(),
            MAX_API_VERSION
        );
        let err = ApiVersion::resolve(Some(v("1.23"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client version 1.23 is too old. Minimum supported API version is 1.24, \
             please upgrade your client to a newer version"
        );
    }

    #[test]
    fn serde_as_string() {
        assert_eq!(serde_json::to_string(&v("1.41")).unwrap(), r#""1.41""#);
        assert_eq!(
            serde_json::from_str::<ApiVersion>(r#""1.24""#).unwrap(),
            v("1.24")
        );
    }
}
