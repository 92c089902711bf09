//! Exec: `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`.

use serde::{Deserialize, Serialize};

use crate::de::{null_default, opt_base64, str_slice};

/// `POST /containers/{id}/exec` body (moby `types.ExecConfig`). The response is
/// [`crate::IdResponse`] (`201 {"Id":"..."}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateRequest {
    /// `user[:group]`.
    #[serde(deserialize_with = "null_default")]
    pub user: String,
    /// Extended privileges.
    #[serde(deserialize_with = "null_default")]
    pub privileged: bool,
    /// Allocate a TTY.
    #[serde(deserialize_with = "null_default")]
    pub tty: bool,
    /// Attach stdin.
    #[serde(deserialize_with = "null_default")]
    pub attach_stdin: bool,
    /// Attach stderr.
    #[serde(deserialize_with = "null_default")]
    pub attach_stderr: bool,
    /// Attach stdout.
    #[serde(deserialize_with = "null_default")]
    pub attach_stdout: bool,
    /// Sent by the CLI (`-d`), ignored by moby at create.
    #[serde(deserialize_with = "null_default")]
    pub detach: bool,
    /// Detach key sequence (`ctrl-p,ctrl-q`).
    #[serde(deserialize_with = "null_default")]
    pub detach_keys: String,
    /// Extra environment.
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(deserialize_with = "null_default")]
    pub working_dir: String,
    /// The command (a string is one word, as `StrSlice`).
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    /// Initial TTY size `[height, width]` (API 1.42).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
}

/// `POST /exec/{id}/start` body: `{"Detach":false,"Tty":false}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartRequest {
    /// Start detached: `200` and no hijack.
    #[serde(deserialize_with = "null_default")]
    pub detach: bool,
    /// TTY framing (raw stream).
    #[serde(deserialize_with = "null_default")]
    pub tty: bool,
    /// Initial TTY size `[height, width]` (API 1.42).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
}

/// `GET /exec/{id}/json` (moby `backend.ExecInspect`). The CLI takes the exit status of
/// `docker exec` from `ExitCode` right after the stream closes, so it must be final by then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecInspect {
    /// Exec ID (spelled `ID` here, unlike `Id` elsewhere).
    #[serde(rename = "ID", deserialize_with = "null_default")]
    pub id: String,
    /// Still running.
    #[serde(deserialize_with = "null_default")]
    pub running: bool,
    /// `null` until the process has exited.
    pub exit_code: Option<i64>,
    /// What runs.
    #[serde(deserialize_with = "null_default")]
    pub process_config: ExecProcessConfig,
    /// Stdin attached.
    #[serde(deserialize_with = "null_default")]
    pub open_stdin: bool,
    /// Stderr attached.
    #[serde(deserialize_with = "null_default")]
    pub open_stderr: bool,
    /// Stdout attached.
    #[serde(deserialize_with = "null_default")]
    pub open_stdout: bool,
    /// Can be removed (exited, not referenced).
    #[serde(deserialize_with = "null_default")]
    pub can_remove: bool,
    /// Container ID.
    #[serde(rename = "ContainerID", deserialize_with = "null_default")]
    pub container_id: String,
    /// Detach key bytes; Go writes `[]byte` as base64 (`"EBE="` for ctrl-p,ctrl-q), nil as `null`.
    #[serde(with = "opt_base64")]
    pub detach_keys: Option<Vec<u8>>,
    /// Host PID; 0 before start.
    #[serde(deserialize_with = "null_default")]
    pub pid: i64,
}

/// `ProcessConfig` of exec inspect; lower-case keys, as in Go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecProcessConfig {
    /// TTY allocated.
    #[serde(deserialize_with = "null_default")]
    pub tty: bool,
    /// Executable.
    #[serde(deserialize_with = "null_default")]
    pub entrypoint: String,
    /// Its arguments.
    #[serde(deserialize_with = "null_default")]
    pub arguments: Vec<String>,
    /// Privileged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// User.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
}
