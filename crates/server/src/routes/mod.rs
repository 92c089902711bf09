//! Handlers, one module per API area. Each takes the request context and the narrow service it
//! needs from the daemon.
pub mod archive;
pub mod build;
pub mod containers;
pub mod exec;
pub mod images;
pub mod networks;
pub mod system;
pub mod volumes;
