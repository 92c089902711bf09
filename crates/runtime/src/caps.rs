//! Capabilities: names, the five sets from the spec, and applying them to the current process.
//!
//! Interface used by the process stages (filled in by the seccomp/caps work):
//! - `parse(name) -> Result<u32, CapsError>`: "CAP_SYS_ADMIN" (also "SYS_ADMIN") to its number
//! - `CapSets::from_spec(&LinuxCapabilities) -> Result<CapSets, CapsError>`
//! - `drop_bounding(&CapSets)`: PR_CAPBSET_DROP everything not in bounding
//! - `apply(&CapSets)`: capset(effective, permitted, inheritable), then the ambient set
