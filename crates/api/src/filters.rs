//! The `filters` query parameter of list, prune and events endpoints.
//!
//! Its value is URL-decoded JSON in one of two shapes (moby `api/types/filters.FromJSON`):
//! - current, sent by the Go CLI: `{"label":{"a=b":true},"status":{"exited":true}}`
//!   (key → set of values; the booleans carry no meaning, `{"x":false}` still selects `x`);
//! - legacy, sent by docker-py and compose: `{"label":["com.docker.compose.project=p"]}`.
//!
//! Berth accepts either shape per key. [`Filters::to_query`] writes the current shape.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// `docker ps` / `GET /containers/json` keys (moby `daemon/list.go`).
pub const CONTAINER_LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "is-task",
    "isolation",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];
/// `docker images` / `GET /images/json` keys.
pub const IMAGE_LIST_FILTERS: &[&str] = &["before", "dangling", "label", "reference", "since"];
/// `GET /networks` keys.
pub const NETWORK_LIST_FILTERS: &[&str] =
    &["dangling", "driver", "id", "label", "name", "scope", "type"];
/// `GET /volumes` keys.
pub const VOLUME_LIST_FILTERS: &[&str] = &["dangling", "driver", "label", "name"];
/// `GET /events` keys.
pub const EVENT_FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];
/// `POST /containers/prune` keys.
pub const CONTAINER_PRUNE_FILTERS: &[&str] = &["label", "label!", "until"];
/// `POST /images/prune` keys.
pub const IMAGE_PRUNE_FILTERS: &[&str] = &["dangling", "label", "label!", "until"];
/// `POST /networks/prune` keys.
pub const NETWORK_PRUNE_FILTERS: &[&str] = &["label", "label!", "until"];
/// `POST /volumes/prune` keys (`all` from API 1.42).
pub const VOLUME_PRUNE_FILTERS: &[&str] = &["all", "label", "label!"];

/// Filter errors; all are HTTP 400 (moby's `InvalidParameter`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The parameter is not JSON of either accepted shape.
    #[error("invalid filter: {0}")]
    Syntax(String),
    /// A key outside the endpoint's accepted set (moby: `invalid filter 'x'`).
    #[error("invalid filter '{0}'")]
    InvalidKey(String),
    /// A value the endpoint does not understand (`invalid filter 'status=foo'`).
    #[error("invalid filter '{0}={1}'")]
    InvalidValue(String, String),
}

/// Parsed filters: key → set of values (moby's `filters.Args`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    Set(BTreeMap<String, serde_json::Value>),
    List(Vec<String>),
    Null(()),
}

impl Filters {
    /// No filters.
    pub fn new() -> Self {
        Filters::default()
    }

    /// Parses the (already URL-decoded) `filters` query value; empty text means no filters.
    pub fn from_query(text: &str) -> Result<Filters, FilterError> {
        if text.trim().is_empty() {
            return Ok(Filters::new());
        }
        let raw: Option<BTreeMap<String, Values>> =
            serde_json::from_str(text).map_err(|e| FilterError::Syntax(e.to_string()))?;
        let mut f = Filters::new();
        for (k, v) in raw.unwrap_or_default() {
            let set = f.fields.entry(k).or_default();
            match v {
                Values::Set(m) => set.extend(m.into_keys()),
                Values::List(l) => set.extend(l),
                Values::Null(()) => {}
            }
        }
        Ok(f)
    }

    /// The current-shape JSON (`{"key":{"value":true}}`), as the Go CLI sends it.
    pub fn to_query(&self) -> String {
        let m: BTreeMap<&str, BTreeMap<&str, bool>> = self
            .fields
            .iter()
            .map(|(k, vs)| (k.as_str(), vs.iter().map(|v| (v.as_str(), true)).collect()))
            .collect();
        serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
    }

    /// Adds one value to a key.
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.fields
            .entry(key.into())
            .or_default()
            .insert(value.into());
        self
    }

    /// The values of a key, sorted; empty when the key is absent.
    pub fn get(&self, key: &str) -> Vec<&str> {
        self.fields
            .get(key)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the key was given (possibly with no values).
    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// Whether there are no filters at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// All keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// Fails with moby's `invalid filter 'x'` on the first key (in sorted order) not in `allowed`.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FilterError::InvalidKey(k.clone())),
            None => Ok(()),
        }
    }

    /// moby's `ExactMatch`: true when the key is absent or `value` is one of its values.
    pub fn exact_match(&self, key: &str, value: &str) -> bool {
        self.fields
            .get(key)
            .is_none_or(|s| s.is_empty() || s.contains(value))
    }

    /// moby's `MatchKVList` for `label` filters: every value (`k` or `k=v`) must hold on
    /// `labels`; true when the key is absent.
    pub fn match_labels(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        let Some(wanted) = self.fields.get(key) else {
            return true;
        };
        wanted.iter().all(|w| match w.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(w.as_str()),
        })
    }

    /// A boolean filter (`dangling`, `all`): `Some(true)` for `true`/`1`, `Some(false)` for
    /// `false`/`0`, `None` when absent; any other value is [`FilterError::InvalidValue`].
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, FilterError> {
        let Some(vals) = self.fields.get(key) else {
            return Ok(None);
        };
        let mut out = None;
        for v in vals {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(FilterError::InvalidValue(key.to_owned(), v.clone())),
            };
            out = Some(out.unwrap_or(false) || b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_shape_from_go_cli() {
        let f = Filters::from_query(
            r#"{"label":{"a=b":true},"status":{"exited":true,"created":true}}"#,
        )
        .unwrap();
        assert_eq!(f.get("status"), ["created", "exited"]);
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(f.get("name").is_empty());
        // `docker images` sends the wanted boolean as a *key*.
        let f = Filters::from_query(r#"{"dangling":{"false":true}}"#).unwrap();
        assert_eq!(f.get_bool("dangling").unwrap(), Some(false));
    }

    #[test]
    fn legacy_shape_from_compose() {
        let f = Filters::from_query(
            r#"{"label": ["com.docker.compose.project=p", "com.docker.compose.oneoff=False"], "status": ["created", "exited"]}"#,
        )
        .unwrap();
        assert_eq!(
            f.get("label"),
            [
                "com.docker.compose.oneoff=False",
                "com.docker.compose.project=p"
            ]
        );
        assert_eq!(f.get("status").len(), 2);
    }

    #[test]
    fn false_flags_still_select() {
        let f = Filters::from_query(r#"{"status":{"exited":false}}"#).unwrap();
        assert_eq!(f.get("status"), ["exited"]);
    }

    #[test]
    fn empty_and_null() {
        assert!(Filters::from_query("").unwrap().is_empty());
        assert!(Filters::from_query("null").unwrap().is_empty());
        assert!(Filters::from_query("{}").unwrap().is_empty());
        let f = Filters::from_query(r#"{"label":null}"#).unwrap();
        assert!(f.contains("label") && f.get("label").is_empty());
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(
            Filters::from_query("{"),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            Filters::from_query(r#"{"a":1}"#),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            Filters::from_query(r#"["a"]"#),
            Err(FilterError::Syntax(_))
        ));
    }

    #[test]
    fn validate_uses_moby_text() {
        let f =
            Filters::from_query(r#"{"status":{"running":true},"colour":{"red":true}}"#).unwrap();
        let err = f.validate(CONTAINER_LIST_FILTERS).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'colour'");
        Filters::from_query(r#"{"reference":{"busybox":true},"dangling":{"true":true}}"#)
            .unwrap()
            .validate(IMAGE_LIST_FILTERS)
            .unwrap();
        assert_eq!(
            FilterError::InvalidValue("status".into(), "foo".into()).to_string(),
            "invalid filter 'status=foo'"
        );
    }

    #[test]
    fn round_trip_current_shape() {
        let mut f = Filters::new();
        f.add("type", "container").add("label", "a=b");
        assert_eq!(
            f.to_query(),
            r#"{"label":{"a=b":true},"type":{"container":true}}"#
        );
        assert_eq!(Filters::from_query(&f.to_query()).unwrap(), f);
    }

    #[test]
    fn matching() {
        let f = Filters::from_query(r#"{"label":["a","b=2"],"name":["web"]}"#).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "x".to_string());
        labels.insert("b".to_string(), "2".to_string());
        assert!(f.match_labels("label", &labels));
        labels.insert("b".to_string(), "3".to_string());
        assert!(!f.match_labels("label", &labels));
        assert!(f.match_labels("absent", &labels));
        assert!(f.exact_match("name", "web") && !f.exact_match("name", "db"));
        assert!(f.exact_match("id", "anything"));
        let bad = Filters::from_query(r#"{"dangling":["maybe"]}"#).unwrap();
        assert_eq!(
            bad.get_bool("dangling").unwrap_err().to_string(),
            "invalid filter 'dangling=maybe'"
        );
    }
}
