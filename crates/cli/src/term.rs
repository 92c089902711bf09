//! The local terminal: is-a-tty checks, raw mode with restore on drop, window size.

use std::io;
use std::os::fd::AsFd;

use rustix::termios::{self, OptionalActions, Termios};

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    termios::isatty(io::stdin().as_fd())
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    termios::isatty(io::stdout().as_fd())
}

/// `(rows, cols)` of stdout's terminal, if it is one.
pub fn size() -> Option<(u16, u16)> {
    let ws = termios::tcgetwinsize(io::stdout().as_fd()).ok()?;
    if ws.ws_row == 0 || ws.ws_col == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// Puts stdin's terminal in raw mode until dropped.
#[derive(Debug)]
pub struct RawGuard {
    saved: Termios,
}

impl RawGuard {
    /// Enters raw mode (input and output processing off, as `term.SetRawTerminal`).
    pub fn enter() -> io::Result<RawGuard> {
        let fd = io::stdin();
        let saved = termios::tcgetattr(fd.as_fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd.as_fd(), OptionalActions::Now, &raw)?;
        Ok(RawGuard { saved })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}
