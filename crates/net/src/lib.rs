//! berth-net: container networking below the daemon, with no Docker wire types.
//!
//! The daemon decides *what* a container's network looks like (which networks, addresses,
//! published ports, names); this crate computes the kernel state for it as plain data (plans that
//! unit tests check) and applies it in thin layers: netlink for links and addresses, `nft` for
//! Berth's own nftables table, a UDP/TCP DNS server bound inside each container's netns.
//!
//! # Module map
//! - `sys` (private): every `unsafe` call (setns, unshare, bind-mounting netns handles).
//! - [`netns`]: named network-namespace handles (create, open, remove, run a closure inside).
//! - [`link`]: bridges, veth pairs, macvlan, addresses, routes, MTU, MAC over netlink.
//! - [`nft`]: the ruleset of one Berth instance's own table (masquerade, isolation between
//!   bridges, icc, DNAT for published ports), as a pure plan and its application.
//! - [`ipam`]: subnets and address allocation per network, persisted as JSON.
//! - [`dns`]: the embedded DNS server (names, aliases, short ids per network; forwards the rest).
//! - [`files`]: `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname` contents for a container.
//! - [`error`] holds [`NetError`].
#![deny(unsafe_code)]

pub mod dns;
pub mod error;
pub mod files;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod nft;
#[allow(unsafe_code)]
mod sys;

pub use error::NetError;
