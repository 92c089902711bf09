//! berth-cli: the `berth` command line client and the Engine API client library behind it.
//!
//! `berth` speaks the Docker Engine API to `berthd` (or any Docker-compatible daemon) over a Unix
//! socket, with Docker's commands, flags, output formats and exit codes.
//!
//! Module map:
//! - [`client`]: HTTP/1.1 over a Unix socket, version negotiation, errors, streaming bodies,
//!   hijacked attach/exec connections, the 8-byte frame demultiplexer ([`client::demux`]).
//! - [`format`]: `--format` (Go-template subset, `table`, tabwriter alignment).
//! - [`units`]: human durations and sizes, byte amounts, timestamps.
//! - [`progress`]: Docker's JSON-message progress display (bars on a terminal, plain lines
//!   otherwise) for pull, push, load and build.
//! - [`term`]: raw mode and window size of the local terminal (rustix termios).
//! - [`commands`]: one module per command (`run`, `ps`, `images`, ...), each with its clap
//!   arguments and a `run` function returning the exit status.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod commands;
pub mod format;
pub mod progress;
pub mod term;
pub mod units;
