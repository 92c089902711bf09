//! berth-cgroups: cgroup v1 and v2 behind one resource model.
//!
//! The runtime hands this crate an OCI `linux.resources` and a `linux.cgroupsPath`; the crate
//! finds the host's hierarchies, creates the container's cgroup in each, writes the limits,
//! moves processes in, freezes, signals, reads statistics and OOM counters, and removes it all.
//!
//! # Module map
//! - [`error`]: [`CgroupError`], the one error type (messages name the field or file).
//! - [`layout`]: the host's layout (v1, hybrid, v2) from `/proc/self/mountinfo`, and the caller's
//!   own cgroups from `/proc/self/cgroup`.
//! - [`path`]: `cgroupsPath` semantics (absolute = from the hierarchy root, relative = below the
//!   caller's own cgroup), normalisation and refusal of escapes.
//! - [`mod@plan`]: the pure `linux.resources` → list of file writes translation for v1 and v2,
//!   warnings for ignored fields, and device rules.
//! - [`stats`]: the serde statistics structs and the parsers of the kernel's stat files.
//! - [`manager`]: [`Manager`], the thin layer that touches the file system: create, apply,
//!   add_pid, pids, freeze/thaw, stats, oom_kill_count, kill_all, destroy.
//! - `v1`, `v2` (private): the version-specific halves of the manager.
//! - `fs` (private): small read/write helpers that turn I/O errors into [`CgroupError`]s.
//!
//! # Use from the runtime
//! ```no_run
//! use berth_cgroups::{CgroupPath, Layout, Manager};
//! # fn f(spec_path: Option<&std::path::Path>, id: &str,
//! #      res: &oci_spec::runtime::LinuxResources, pid: i32) -> Result<(), berth_cgroups::CgroupError> {
//! let layout = Layout::detect()?;
//! let path = CgroupPath::from_spec(spec_path, || CgroupPath::default_for(id).expect("valid id"))?;
//! let cg = Manager::new(&layout, &path)?;
//! cg.create()?;                       // mkdir -p everywhere, v1 cpuset copy, v2 subtree_control
//! for w in cg.apply(res)? { eprintln!("warning: {w}"); }
//! cg.add_pid(pid)?;                   // before the container process execs
//! let saved = serde_json::to_value(&cg).expect("serialisable"); // keep in the state file
//! // … later, in another process:
//! let cg: Manager = serde_json::from_value(saved).expect("state");
//! cg.kill_all(libc::SIGKILL)?;
//! cg.destroy()?;
//! # Ok(()) }
//! ```
//! On cgroup v2 the device rules are not written anywhere: take them from
//! [`plan()`]`(res, Version::V2)?.devices` and load them as an eBPF device program
//! (see [`DeviceRule`] for the matching semantics).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bpf;
pub mod error;
mod fs;
pub mod layout;
pub mod manager;
pub mod path;
pub mod plan;
pub mod stats;
mod v1;
mod v2;

pub use error::CgroupError;
pub use layout::{Hierarchy, Layout, LayoutKind};
pub use manager::{FreezerState, Manager};
pub use path::CgroupPath;
pub use plan::{plan, Controller, DeviceKind, DeviceRule, Plan, Version, Warning, Write};
pub use stats::Stats;
