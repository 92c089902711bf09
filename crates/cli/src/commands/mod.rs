//! Commands: one module per verb, each with its clap arguments and a `run` that returns the exit
//! status (Docker's: 0, 1 for daemon errors, 125 for run/create failures, the container's own
//! status for `run` and `exec`).
//!
//! Shared here: [`Ctx`], [`CmdError`], image reference splitting, streaming a container's output,
//! and the signal-forwarding thread of `run`/`exec`.

pub mod attach;
pub mod build;
pub mod check;
pub mod commit;
pub mod completion;
pub mod create;
pub mod detach;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod history;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod lifecycle;
pub mod load;
pub mod logs;
pub mod mount_opt;
pub mod network;
pub mod port;
pub mod prune;
pub mod ps;
pub mod registry;
pub mod rename;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod stats;
pub mod system;
pub mod tag;
pub mod top;
pub mod update;
pub mod version;
pub mod volume;
pub mod wait;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::client::{self, demux, Client, ClientError, Hijacked, Request};
use crate::format::FormatError;
use crate::units::UnitsError;

/// What every command gets.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The API client.
    pub client: Arc<Client>,
}

/// Command errors; `main` prints them (Docker's wording) and exits 1 unless a status is given.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// From the daemon or the connection.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// `--format`.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Flag values.
    #[error(transparent)]
    Units(#[from] UnitsError),
    /// Local I/O.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The stream of a container.
    #[error(transparent)]
    Demux(#[from] demux::DemuxError),
    /// A message and an exit status (`run`: 125/126/127 with the help hint).
    #[error("{message}")]
    Status {
        /// The text printed on stderr (empty: nothing printed).
        message: String,
        /// Exit status.
        code: i32,
    },
    /// A bad flag value (`invalid argument ...`), exit 125 like Docker's flag errors.
    #[error("{0}")]
    Usage(String),
}

impl CmdError {
    /// The exit status for this error.
    pub fn code(&self) -> i32 {
        match self {
            CmdError::Status { code, .. } => *code,
            CmdError::Usage(_) => 125,
            _ => 1,
        }
    }
}

/// Command results: the exit status.
pub type CmdResult = Result<i32, CmdError>;

/// Several errors of a multi-target command, printed together (exit 1), as Docker does.
pub fn collect_errors(errs: Vec<String>) -> CmdResult {
    if errs.is_empty() {
        Ok(0)
    } else {
        Err(CmdError::Status {
            message: errs.join("\n"),
            code: 1,
        })
    }
}

/// `name[:tag]` → `(name, tag)`; digests (`@sha256:…`) keep no tag. Tag defaults to `latest`
/// only when `default_latest`.
pub fn split_ref(r: &str, default_latest: bool) -> (String, Option<String>) {
    if r.contains('@') {
        return (r.to_owned(), None);
    }
    let slash = r.rfind('/').map_or(0, |i| i + 1);
    match r[slash..].rfind(':') {
        Some(i) => (
            r[..slash + i].to_owned(),
            Some(r[slash + i + 1..].to_owned()),
        ),
        None => (r.to_owned(), default_latest.then(|| "latest".to_owned())),
    }
}

/// Docker's familiar form with the tag made explicit: `busybox` → `busybox:latest`.
pub fn tagged(r: &str) -> String {
    match split_ref(r, true) {
        (n, Some(t)) => format!("{n}:{t}"),
        (n, None) => n,
    }
}

/// Short ID: 12 hex digits, without `sha256:`.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// `/containers/{name}` (escaped).
pub fn cpath(name: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", client::path_escape(name))
}

/// Copies a hijacked or logs stream to stdout/stderr: raw with a TTY, demultiplexed without.
pub fn copy_output<R: io::Read>(r: &mut R, tty: bool) -> Result<(), CmdError> {
    let stdout = io::stdout();
    let stderr = io::stderr();
    if tty {
        client::copy_raw(r, &mut stdout.lock())?;
    } else {
        demux::copy(r, &mut stdout.lock(), &mut stderr.lock())?;
    }
    Ok(())
}

/// Feeds stdin into the hijacked connection on a thread, half-closing at EOF; without stdin
/// half-closes at once (as the docker CLI does). With `escape` (a terminal), the detach keys end
/// the forwarding: the connection is shut down both ways (the output copy ends) and the returned
/// flag is set.
pub fn pump_stdin(
    h: &Hijacked,
    with_stdin: bool,
    escape: Option<Vec<u8>>,
) -> io::Result<Arc<AtomicBool>> {
    let detached = Arc::new(AtomicBool::new(false));
    if !with_stdin {
        h.close_write()?;
        return Ok(detached);
    }
    let mut w = h.writer.try_clone()?;
    let flag = detached.clone();
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut proxy = escape.map(detach::EscapeProxy::new);
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = match io::Read::read(&mut stdin, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let step = match proxy.as_mut() {
                Some(p) => p.feed(&buf[..n]),
                None => detach::Step::Forward(buf[..n].to_vec()),
            };
            match step {
                detach::Step::Forward(bytes) => {
                    if w.write_all(&bytes).is_err() {
                        return;
                    }
                }
                detach::Step::Detach(before) => {
                    let _ = w.write_all(&before);
                    flag.store(true, Ordering::SeqCst);
                    let _ = w.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        }
        let _ = w.shutdown(std::net::Shutdown::Write);
    });
    Ok(detached)
}

/// The error `docker attach`/`exec -it`/`start -ai` end with after the detach keys (exit 1).
pub fn escape_error() -> CmdError {
    CmdError::Status {
        message: "read escape sequence".into(),
        code: 1,
    }
}

/// A target of forwarded signals: a container (`kill`, `resize`) or an exec (`resize` only).
#[derive(Debug, Clone)]
pub enum SignalTarget {
    /// `POST /containers/{id}/kill?signal=` and `/resize`.
    Container(String),
    /// `POST /exec/{id}/resize`.
    Exec(String),
}

/// Sends the terminal size to the container or exec; `false` when there is no terminal or the
/// daemon refused.
pub fn resize(c: &Client, t: &SignalTarget) -> bool {
    let Some((h, w)) = crate::term::size() else {
        return false;
    };
    let path = match t {
        SignalTarget::Container(id) => cpath(id, "/resize"),
        SignalTarget::Exec(id) => format!("/exec/{}/resize", client::path_escape(id)),
    };
    c.call(
        Request::new("POST", path)
            .query("h", h.to_string())
            .query("w", w.to_string()),
    )
    .is_ok()
}

/// Starts the thread that proxies SIGINT/TERM/HUP/QUIT/USR1/USR2 to the container (`proxy`)
/// and turns SIGWINCH into resize calls (`winch`), as `docker run` does.
pub fn spawn_signal_thread(client: Arc<Client>, target: SignalTarget, proxy: bool, winch: bool) {
    use tokio::signal::unix::{signal, SignalKind};
    if !proxy && !winch {
        return;
    }
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let mut kinds: Vec<(SignalKind, &'static str)> = Vec::new();
            if proxy {
                kinds.extend([
                    (SignalKind::interrupt(), "INT"),
                    (SignalKind::terminate(), "TERM"),
                    (SignalKind::hangup(), "HUP"),
                    (SignalKind::quit(), "QUIT"),
                    (SignalKind::user_defined1(), "USR1"),
                    (SignalKind::user_defined2(), "USR2"),
                ]);
            }
            if winch {
                kinds.push((SignalKind::window_change(), "WINCH"));
            }
            for (kind, name) in kinds {
                let Ok(mut s) = signal(kind) else { continue };
                let client = client.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if name == "WINCH" {
                            resize(&client, &target);
                        } else if let SignalTarget::Container(id) = &target {
                            let _ = client.call(
                                Request::new("POST", cpath(id, "/kill")).query("signal", name),
                            );
                        }
                    }
                });
            }
            std::future::pending::<()>().await;
        });
    });
}

/// Go's `filepath.Abs` against `cwd`: joined and cleaned lexically (`.` and `..` resolved).
pub fn abs_path(cwd: &std::path::Path, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("{}/{p}", cwd.display())
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Docker's prune prompt: prints `warning` and `Are you sure you want to continue? [y/N] ` on
/// stdout and reads one line from stdin; `y`/`yes` (any case) confirm, anything else (EOF too)
/// declines.
pub fn confirm(warning: &str) -> bool {
    out(&format!(
        "{warning}\nAre you sure you want to continue? [y/N] "
    ));
    let mut line = String::new();
    if io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `sortorder.NaturalLess`: digit runs compare as numbers, everything else byte-wise.
pub fn natural_less(a: &str, b: &str) -> bool {
    natural_cmp(a, b) == std::cmp::Ordering::Less
}

/// The ordering behind [`natural_less`].
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
            continue;
        }
        if a[i] != b[j] {
            return a[i].cmp(&b[j]);
        }
        i += 1;
        j += 1;
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// `{{json .}}` for `--format json`, as the docker CLI expands it.
pub fn expand_format(format: Option<&str>) -> String {
    match format.unwrap_or("") {
        "json" => "{{json .}}".to_owned(),
        f => f.to_owned(),
    }
}

/// Prints a list with Docker's table/template rules (`-q` uses `quiet` as the template).
pub fn print_list(
    format: Option<&str>,
    quiet: Option<&str>,
    default_table: &str,
    header: &serde_json::Value,
    rows: &[serde_json::Value],
) -> Result<(), CmdError> {
    let f = expand_format(format);
    let fmt = match quiet {
        Some(q) if f.is_empty() => crate::format::Format::new(q, default_table)?,
        _ => crate::format::Format::new(&f, default_table)?,
    };
    out(&fmt.render(header, rows, true)?);
    Ok(())
}

/// Writes text to stdout, ignoring a closed pipe.
pub fn out(text: &str) {
    let mut o = io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(
            split_ref("busybox", true),
            ("busybox".into(), Some("latest".into()))
        );
        assert_eq!(split_ref("busybox", false), ("busybox".into(), None));
        assert_eq!(split_ref("a/b:1", false), ("a/b".into(), Some("1".into())));
        assert_eq!(
            split_ref("localhost:5000/a/b", true),
            ("localhost:5000/a/b".into(), Some("latest".into()))
        );
        assert_eq!(split_ref("a@sha256:00", true), ("a@sha256:00".into(), None));
        assert_eq!(tagged("busybox"), "busybox:latest");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn abs_paths() {
        let cwd = std::path::Path::new("/work/a");
        assert_eq!(abs_path(cwd, "./x"), "/work/a/x");
        assert_eq!(abs_path(cwd, "../x/./y/"), "/work/x/y");
        assert_eq!(abs_path(cwd, "."), "/work/a");
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["v10", "v2", "a", "v1", "B", "v02x"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["B", "a", "v1", "v2", "v02x", "v10"]);
        assert!(natural_less("x9", "x10"));
        assert!(!natural_less("x10", "x10"));
    }
}
