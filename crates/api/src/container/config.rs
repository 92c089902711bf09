//! `Config`: the portable part of a container's configuration (moby `container.Config`), also
//! used for an image's `Config` and `ContainerConfig`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::de::{is_false, is_zero, null_default, opt_set_as_map, set_as_map, str_slice};

/// moby's `container.Config`. Field order and `omitempty` follow the Go struct, so output matches
/// `docker inspect` byte for byte. `None` lists and maps are written as `null`, as Go writes nil.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// Hostname (`--hostname`).
    #[serde(deserialize_with = "null_default")]
    pub hostname: String,
    /// Domain name (`--domainname`).
    #[serde(deserialize_with = "null_default")]
    pub domainname: String,
    /// `user[:group]`.
    #[serde(deserialize_with = "null_default")]
    pub user: String,
    /// Attach stdin (`-i` in the foreground).
    #[serde(deserialize_with = "null_default")]
    pub attach_stdin: bool,
    /// Attach stdout.
    #[serde(deserialize_with = "null_default")]
    pub attach_stdout: bool,
    /// Attach stderr.
    #[serde(deserialize_with = "null_default")]
    pub attach_stderr: bool,
    /// Exposed ports, `"80/tcp"`; on the wire a map of empty objects, omitted when empty.
    #[serde(with = "set_as_map", skip_serializing_if = "BTreeSet::is_empty")]
    pub exposed_ports: BTreeSet<String>,
    /// Allocate a TTY.
    #[serde(deserialize_with = "null_default")]
    pub tty: bool,
    /// Keep stdin open.
    #[serde(deserialize_with = "null_default")]
    pub open_stdin: bool,
    /// Close stdin after the first attached client disconnects.
    #[serde(deserialize_with = "null_default")]
    pub stdin_once: bool,
    /// `KEY=value` (or bare `KEY`) entries.
    pub env: Option<Vec<String>>,
    /// The command; a JSON string is read as a one-element list (moby's `StrSlice`).
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    /// Health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Windows-only: the command line is already escaped.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub args_escaped: bool,
    /// Image name as given by the user.
    #[serde(deserialize_with = "null_default")]
    pub image: String,
    /// Anonymous volume targets; a map of empty objects, `null` when unset.
    #[serde(with = "opt_set_as_map")]
    pub volumes: Option<BTreeSet<String>>,
    /// Working directory.
    #[serde(deserialize_with = "null_default")]
    pub working_dir: String,
    /// Entrypoint; `None` (`null`) means "the image's", `Some([""])` (`--entrypoint ""`) resets it.
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    /// No networking at all.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_false")]
    pub network_disabled: bool,
    /// Container MAC address (moved per endpoint at API 1.44).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub mac_address: String,
    /// ONBUILD triggers of an image.
    pub on_build: Option<Vec<String>>,
    /// Labels; compose reads `Config.Labels` to find its containers.
    pub labels: Option<BTreeMap<String, String>>,
    /// Stop signal (`SIGTERM` when empty).
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// Seconds to wait before killing on stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for the shell form of RUN/CMD/ENTRYPOINT.
    #[serde(
        deserialize_with = "str_slice",
        skip_serializing_if = "Option::is_none"
    )]
    pub shell: Option<Vec<String>>,
}

/// moby's `container.HealthConfig`; durations are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", args...]`, `["CMD-SHELL", command]`.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    /// Time between checks (ns); 0 inherits.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time before a check is considered hung (ns); 0 inherits.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Start period during which failures do not count (ns); 0 inherits.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Interval during the start period (ns, API 1.44); 0 inherits.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures before unhealthy; 0 inherits.
    #[serde(deserialize_with = "null_default", skip_serializing_if = "is_zero")]
    pub retries: i64,
}
