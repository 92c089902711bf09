//! berth-shim: one small monitor process per container, and the protocol the daemon speaks to it.
//!
//! The daemon never forks container processes. To start a container it writes a [`Task`] into a
//! fresh shim directory and runs `berth-shim <dir>`. The shim mounts the rootfs, creates the
//! container with the runtime library (the container's process waits at its exec FIFO), detaches
//! (new session, child subreaper), reports the container's pid on stdout, and serves two sockets
//! in the directory:
//! - `ctl.sock`: one JSON [`Request`] per line, one JSON [`Response`] per line;
//! - `attach.sock` (and `exec-<id>.sock` per exec): an [`AttachHello`] line, answered by
//!   [`ATTACH_ACK`] once attached, then the stream:
//!   Docker's 8-byte multiplexed frames without a TTY, raw bytes with one; bytes sent to the shim
//!   go to the process's stdin.
//!
//! When the container's init exits the shim drains its output, writes [`ExitInfo`] to `exit.json`
//! (atomically), answers `wait`, deletes the runtime container and its rootfs mounts, and exits.
//! A daemon that restarts finds live shims by their `ctl.sock` and dead ones by `exit.json`.
//!
//! Module map: [`protocol`] (wire types, file names), [`client`] (blocking client for the daemon).
//! The shim's own code is in `src/bin/berth-shim/`.
#![forbid(unsafe_code)]

pub mod client;
pub mod protocol;

pub use client::{ShimClient, ShimError};
pub use protocol::{
    AttachHello, ExecSpec, ExitInfo, ExternalRuntime, LogSpec, MountSpec, Request, Response, Task,
    ATTACH_ACK, ATTACH_SOCK, CTL_SOCK, EXIT_FILE, TASK_FILE,
};
