//! berth-runtime: an OCI runtime library, and `berth-runc`, its runc-compatible command line.
//!
//! A container is made in stages, each a process named for `ps`:
//! the caller (`berth-runc create`, or the shim) validates the spec, prepares the cgroup and the
//! state directory, then clones `berth:[2:INIT]` into new namespaces (through `berth:[1:INTER]`
//! when namespaces must be joined first). INIT builds the root filesystem, confines itself and
//! waits on the exec FIFO until `start`, then executes the user's process.
//!
//! Module map:
//! - [`spec`]: load and validate `config.json`, with errors naming the field
//! - [`state`]: the per-container state directory and the OCI state document
//! - [`container`]: the verbs (create, start, kill, delete, exec, pause, resume, ps)
//! - [`process`]: the process stages and the sync channel between them
//! - [`rootfs`]: the mount plan (pure) and its application by fd inside the root
//! - [`idmap`]: id-mapped overlay rootfs for user-namespaced containers (and its chown-copy
//!   fallback)
//! - [`namespaces`]: clone flags, joining by path, id mappings
//! - [`caps`]: capability names and the five sets
//! - [`seccomp`]: compiling a spec's seccomp section to BPF and loading it
//! - [`hooks`]: running OCI hooks with the state on stdin and their timeouts
//! - [`console`]: pty creation and passing the master over the console socket
//! - [`sys`]: the only module with `unsafe`: thin syscall wrappers

pub mod caps;
pub mod cgroup;
pub mod container;
pub mod defaults;
pub mod error;
pub mod hooks;
pub mod idmap;
pub mod lsm;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sys;

pub use error::{Result, RuntimeError};

/// A receiver of the runtime's warnings (see [`set_warning_sink`]).
pub type WarningSink = Box<dyn FnMut(&str) + Send>;

static WARNING_SINK: std::sync::Mutex<Option<WarningSink>> = std::sync::Mutex::new(None);

/// Send the runtime's warnings somewhere else than stderr. `berth-runc` points them at its
/// `--log` file, as runc does: during `create` the runtime's stdio are the container's own (the
/// shim hands the container's pipes to the runtime), so a warning on stderr ends up in the
/// container's output (`docker logs`, the user's terminal).
pub fn set_warning_sink(sink: WarningSink) {
    if let Ok(mut g) = WARNING_SINK.lock() {
        *g = Some(sink);
    }
}

/// Report a warning: to the sink if one is set, else on stderr.
pub fn warn(msg: &str) {
    if let Ok(mut g) = WARNING_SINK.lock() {
        if let Some(sink) = g.as_mut() {
            sink(msg);
            return;
        }
    }
    eprintln!("warning: {msg}");
}
