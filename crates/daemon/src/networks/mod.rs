//! Networks: the default bridge, user-defined bridge and macvlan networks, host and none, and
//! what connects containers to them.
//!
//! - `ports.rs`: published ports (host port choice and reservation, `NetworkSettings.Ports`).
pub mod ports;
