//! What the daemon and a shim say to each other, and the files in a shim directory.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The task description, written by the daemon before it runs the shim.
pub const TASK_FILE: &str = "task.json";
/// The control socket.
pub const CTL_SOCK: &str = "ctl.sock";
/// The container's attach socket.
pub const ATTACH_SOCK: &str = "attach.sock";
/// Written once, atomically, when the container's init has exited and its output is drained.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's answer to an attach hello, before any stream byte.
pub const ATTACH_ACK: &[u8] = b"ok\n";
/// The shim's own diagnostics.
pub const SHIM_LOG: &str = "shim.log";

/// The socket of exec `id`.
pub fn exec_sock(id: &str) -> String {
    format!("exec-{id}.sock")
}

/// One mount making up the container's rootfs (the snapshotter's answer, converted by the daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// `overlay` or `bind`.
    pub kind: String,
    pub source: PathBuf,
    pub options: Vec<String>,
    /// Relative paths in `options` are relative to this directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
}

/// Where and how to write the container's output (Docker's json-file format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSpec {
    pub path: PathBuf,
    /// Rotate when the file reaches this many bytes (0: never).
    #[serde(default)]
    pub max_size: u64,
    /// Files kept, counting the current one (at least 1).
    #[serde(default = "one")]
    pub max_file: u32,
}

fn one() -> u32 {
    1
}

/// Another OCI runtime binary (`runc`, `crun`, `berth-runc`) the shim drives through its
/// command line, as containerd's runc shim does, instead of the linked runtime library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalRuntime {
    /// The name the daemon knows it by (`--runtime crun`).
    pub name: String,
    pub path: PathBuf,
    /// Global options put before every command (daemon.json `runtimeArgs`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    /// The OCI bundle (config.json; its root.path is where `rootfs` is mounted).
    pub bundle: PathBuf,
    /// The runtime's state root.
    pub runtime_root: PathBuf,
    /// Mounted, in order, onto the bundle's root path before the container is created.
    #[serde(default)]
    pub rootfs: Vec<MountSpec>,
    #[serde(default)]
    pub tty: bool,
    /// Keep a stdin the attach clients can write to.
    #[serde(default)]
    pub open_stdin: bool,
    /// Close stdin when the first attached client detaches.
    #[serde(default)]
    pub stdin_once: bool,
    /// `None`: the output is not kept (log driver `none`).
    #[serde(default)]
    pub log: Option<LogSpec>,
    /// A `--user` with names (`web`, `1000:staff`), resolved in the container's /etc/passwd and
    /// /etc/group once the rootfs is mounted; numeric users are already in config.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `None`: the runtime library linked into the shim (the runtime named `berth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<ExternalRuntime>,
}

/// An exec'd process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecSpec {
    pub id: String,
    pub process: oci_spec::runtime::Process,
    #[serde(default)]
    pub open_stdin: bool,
    /// A `--user` with names, resolved in the running container's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit status, or 128 + signal.
    pub code: i32,
    /// Unix time in nanoseconds.
    pub finished_at_ns: i64,
    /// The memory cgroup recorded an OOM kill.
    #[serde(default)]
    pub oom_killed: bool,
}

/// A request on `ctl.sock`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The pids and state.
    Status,
    /// Let the container's process run (it waits at its exec FIFO until then).
    Start,
    /// Signal init (or, with `all`, every process of the container).
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Block until init has exited and its output is drained.
    Wait,
    /// Resize the terminal of the container (`exec: None`) or of an exec.
    Resize {
        height: u16,
        width: u16,
        #[serde(default)]
        exec: Option<String>,
    },
    Pause,
    Resume,
    /// The pids of every process in the container.
    Pids,
    /// Cgroup statistics (the runtime's JSON).
    Stats,
    /// Change resources (an OCI `LinuxResources`).
    Update {
        resources: serde_json::Value,
    },
    /// Prepare an exec: its stdio and `exec-<id>.sock`; the process starts on `ExecStart`.
    ExecPrepare {
        exec: Box<ExecSpec>,
    },
    /// Start a prepared exec; answers with its pid.
    ExecStart {
        id: String,
    },
    /// Block until the exec has exited and its output is drained.
    ExecWait {
        id: String,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Response {
    pub fn err(e: impl std::fmt::Display) -> Response {
        Response {
            error: Some(e.to_string()),
            ..Default::default()
        }
    }
}

/// The first line an attach client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AttachHello {
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub stdout: bool,
    #[serde(default)]
    pub stderr: bool,
}

/// The stream bytes of Docker's multiplexed framing.
pub mod stream {
    pub const STDIN: u8 = 0;
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    /// Docker's 8-byte frame header for `len` bytes of `stream`.
    pub fn header(stream: u8, len: usize) -> [u8; 8] {
        let l = (len as u32).to_be_bytes();
        [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_lines() {
        let r = Request::Kill {
            signal: 15,
            all: false,
        };
        let s = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(s, r#"{"op":"kill","signal":15,"all":false}"#);
        let back: Request =
            serde_json::from_str(r#"{"op":"kill","signal":9}"#).unwrap_or(Request::Status);
        assert_eq!(
            back,
            Request::Kill {
                signal: 9,
                all: false
            }
        );
    }

    #[test]
    fn frame_header_is_dockers() {
        assert_eq!(
            stream::header(stream::STDERR, 258),
            [2, 0, 0, 0, 0, 0, 1, 2]
        );
    }
}
