//! Docker's JSON-message progress display (`pkg/jsonmessage`): what `pull`, `push`, `load` (and
//! `build`) print from the daemon's stream of JSON messages.
//!
//! On a terminal every message with an `id` and a `progressDetail` (or pre-rendered `progress`)
//! owns one line, rewritten in place: a new id adds a line, an update moves the cursor up to its
//! line (`ESC[nA`), erases it (`ESC[2K`), writes `id: status [==>   ]  1.2MB/3.4MB 5s` and moves
//! back down (`ESC[nB`). A message without an id ends the block (a later id starts new lines).
//! The bar needs a terminal wider than 110 columns, the time left one wider than 50.
//!
//! Off a terminal (a pipe, a file, CI logs) the bars are left out: only messages whose
//! `progressDetail` has no counts are printed, one line each (`id: Pull complete`), exactly as
//! the docker CLI does then.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use berth_api::image::ProgressMessage;

use crate::client::{read_progress, ClientError};
use crate::units;

/// Display failures.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// Reading the stream, or the error message that ended it.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Writing the output.
    #[error("write progress: {0}")]
    Io(#[from] io::Error),
}

impl From<ProgressError> for crate::commands::CmdError {
    fn from(e: ProgressError) -> Self {
        match e {
            ProgressError::Client(c) => crate::commands::CmdError::Client(c),
            ProgressError::Io(e) => crate::commands::CmdError::Io(e),
        }
    }
}

/// Where the output goes and how it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A terminal of this many columns: bars, lines updated in place.
    Terminal {
        /// Columns (docker's `width()`; 200 when the size is unknown).
        width: usize,
    },
    /// Plain lines, no escape sequences.
    Plain,
}

/// Renders a message stream, keeping which line each id owns.
#[derive(Debug)]
pub struct Renderer<W: Write> {
    out: W,
    mode: Mode,
    ids: HashMap<String, usize>,
    /// Unix seconds for the time-left estimate.
    now: fn() -> i64,
}

impl<W: Write> Renderer<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W, mode: Mode) -> Self {
        Renderer {
            out,
            mode,
            ids: HashMap::new(),
            now: units::now_unix,
        }
    }

    /// Uses another clock for the time left (tests).
    pub fn with_clock(mut self, now: fn() -> i64) -> Self {
        self.now = now;
        self
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Displays one message (`aux` messages are the caller's and print nothing).
    pub fn message(&mut self, m: &ProgressMessage) -> Result<(), ProgressError> {
        if m.aux.is_some() {
            return Ok(());
        }
        let tty = matches!(self.mode, Mode::Terminal { .. });
        let mut diff = 0;
        if !m.id.is_empty() && (m.progress_detail.is_some() || !m.progress.is_empty()) {
            let n = self.ids.len();
            let line = *self.ids.entry(m.id.clone()).or_insert(n);
            if line == n && tty {
                self.out.write_all(b"\n")?;
            }
            diff = self.ids.len() - line;
            if tty && diff > 0 {
                write!(self.out, "\x1b[{diff}A")?;
            }
        } else {
            // Output that is not a progress line ends the block of lines being updated.
            self.ids.clear();
        }
        self.display(m)?;
        if !m.id.is_empty() && tty && diff > 0 {
            write!(self.out, "\x1b[{diff}B")?;
        }
        self.out.flush()?;
        Ok(())
    }

    fn display(&mut self, m: &ProgressMessage) -> io::Result<()> {
        let tty = matches!(self.mode, Mode::Terminal { .. });
        let bar = m
            .progress_detail
            .as_ref()
            .map(|d| bar(d, self.width(), (self.now)()));
        let mut endl = "";
        if tty && m.stream.is_empty() && m.progress_detail.is_some() {
            self.out.write_all(b"\x1b[2K\r")?;
            endl = "\r";
        } else if bar.as_deref().is_some_and(|b| !b.is_empty()) {
            // No bars off a terminal.
            return Ok(());
        }
        if m.time_nano != 0 {
            write!(self.out, "{} ", units::rfc3339_nanos(m.time_nano, Some(9)))?;
        } else if m.time != 0 {
            write!(
                self.out,
                "{} ",
                units::rfc3339_nanos(m.time.saturating_mul(1_000_000_000), Some(9))
            )?;
        }
        if !m.id.is_empty() {
            write!(self.out, "{}: ", m.id)?;
        }
        if !m.from.is_empty() {
            write!(self.out, "(from {}) ", m.from)?;
        }
        match bar {
            Some(b) if tty => write!(self.out, "{} {b}{endl}", m.status),
            _ if !m.progress.is_empty() => write!(self.out, "{} {}{endl}", m.status, m.progress),
            _ if !m.stream.is_empty() => write!(self.out, "{}{endl}", m.stream),
            _ => writeln!(self.out, "{}{endl}", m.status),
        }
    }

    fn width(&self) -> usize {
        match self.mode {
            Mode::Terminal { width } => width,
            Mode::Plain => 200,
        }
    }
}

/// Docker's `JSONProgress.String()`: `[=====>     ]  12.3MB/45.6MB 5s`.
pub fn bar(d: &berth_api::image::ProgressDetail, width: usize, now: i64) -> String {
    let units_name = d.units.as_str();
    if d.current <= 0 && d.total <= 0 {
        return String::new();
    }
    if d.total <= 0 {
        return if units_name.is_empty() {
            format!("{:>8}", units::human_size_prec(d.current as f64, 4))
        } else {
            format!("{} {units_name}", d.current)
        };
    }
    let pct = (((d.current as f64 / d.total as f64) * 100.0) as i64 / 2).clamp(i64::MIN, 50);
    let mut s = String::new();
    if width > 110 {
        let eq = usize::try_from(pct).unwrap_or(0);
        s.push('[');
        s.push_str(&"=".repeat(eq));
        s.push('>');
        s.push_str(&" ".repeat(50usize.saturating_sub(eq)));
        s.push_str("] ");
    }
    if !d.hide_counts {
        if units_name.is_empty() {
            let cur = units::human_size_prec(d.current as f64, 4);
            if d.current > d.total {
                s.push_str(&format!("{cur:>8}"));
            } else {
                let total = units::human_size_prec(d.total as f64, 4);
                s.push_str(&format!("{cur:>8}/{total}"));
            }
        } else if d.current > d.total {
            s.push_str(&format!("{} {units_name}", d.current));
        } else {
            s.push_str(&format!("{}/{} {units_name}", d.current, d.total));
        }
    }
    if d.current > 0 && d.start > 0 && pct < 50 && width > 50 {
        // Whole seconds, as docker truncates the estimate.
        let elapsed = (now - d.start).max(0) as f64;
        let per = elapsed / d.current as f64;
        let left = ((d.total - d.current) as f64 * per) as i64;
        s.push(' ');
        s.push_str(&go_duration(left));
    }
    s
}

/// Go's `time.Duration.String()` for whole seconds: `0s`, `45s`, `2m5s`, `1h0m3s`.
fn go_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Displays a whole stream on stdout: bars when stdout is a terminal, plain lines otherwise;
/// `quiet` prints nothing (an error in the stream still ends it).
pub fn display_stdout(r: impl Read, quiet: bool) -> Result<(), ProgressError> {
    if quiet {
        read_progress(r, |_| {})?;
        return Ok(());
    }
    let mode = if crate::term::stdout_is_tty() {
        Mode::Terminal {
            width: crate::term::size().map_or(200, |(_, c)| usize::from(c)),
        }
    } else {
        Mode::Plain
    };
    let stdout = io::stdout();
    let mut r2 = Renderer::new(stdout.lock(), mode);
    display(r, &mut r2)
}

/// Feeds every message of a stream to a renderer; the first write error or the stream's
/// error message ends it.
pub fn display<W: Write>(r: impl Read, out: &mut Renderer<W>) -> Result<(), ProgressError> {
    let mut failed = None;
    read_progress(r, |m| {
        if failed.is_none() {
            if let Err(e) = out.message(m) {
                failed = Some(e);
            }
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::image::ProgressDetail;

    fn detail(current: i64, total: i64) -> Option<ProgressDetail> {
        Some(ProgressDetail {
            current,
            total,
            ..ProgressDetail::default()
        })
    }

    fn pull_stream() -> Vec<ProgressMessage> {
        let mut v = vec![
            ProgressMessage::status("Pulling from p/bb"),
            ProgressMessage::layer("aaaa", "Pulling fs layer"),
            ProgressMessage::layer("bbbb", "Pulling fs layer"),
        ];
        let mut dl = ProgressMessage::layer("aaaa", "Downloading");
        dl.progress_detail = detail(12_300_000, 45_600_000);
        v.push(dl);
        v.push(ProgressMessage::layer("aaaa", "Download complete"));
        let mut ex = ProgressMessage::layer("bbbb", "Extracting");
        ex.progress_detail = detail(1_000, 1_000);
        v.push(ex);
        v.push(ProgressMessage::layer("bbbb", "Pull complete"));
        v.push(ProgressMessage::status("Digest: sha256:00"));
        v
    }

    fn render(mode: Mode, msgs: &[ProgressMessage]) -> String {
        let mut r = Renderer::new(Vec::new(), mode).with_clock(|| 1000);
        for m in msgs {
            r.message(m).unwrap();
        }
        String::from_utf8(r.into_inner()).unwrap()
    }

    #[test]
    fn plain_lines_leave_out_the_bars() {
        assert_eq!(
            render(Mode::Plain, &pull_stream()),
            "Pulling from p/bb\naaaa: Pulling fs layer\nbbbb: Pulling fs layer\n\
             aaaa: Download complete\nbbbb: Pull complete\nDigest: sha256:00\n"
        );
    }

    #[test]
    fn terminal_lines_are_rewritten_in_place() {
        let out = render(Mode::Terminal { width: 120 }, &pull_stream());
        let bar = format!("[{}>{}] ", "=".repeat(13), " ".repeat(37));
        let want = [
            "Pulling from p/bb\n",
            // New line for aaaa, up one, erase, write, down one.
            "\n\x1b[1A\x1b[2K\raaaa: Pulling fs layer \r\x1b[1B",
            "\n\x1b[1A\x1b[2K\rbbbb: Pulling fs layer \r\x1b[1B",
            // aaaa is two lines up now.
            &format!("\x1b[2A\x1b[2K\raaaa: Downloading {bar}  12.3MB/45.6MB\r\x1b[2B"),
            "\x1b[2A\x1b[2K\raaaa: Download complete \r\x1b[2B",
            &format!(
                "\x1b[1A\x1b[2K\rbbbb: Extracting [{}>]      1kB/1kB\r\x1b[1B",
                "=".repeat(50)
            ),
            "\x1b[1A\x1b[2K\rbbbb: Pull complete \r\x1b[1B",
            "Digest: sha256:00\n",
        ]
        .concat();
        assert_eq!(out, want);
    }

    #[test]
    fn bar_widths_and_time_left() {
        let mut d = ProgressDetail {
            current: 500,
            total: 1000,
            start: 990,
            ..ProgressDetail::default()
        };
        // Narrow terminals: no bar; narrower than 51 columns: no time left either.
        assert_eq!(bar(&d, 80, 1000), "    500B/1kB 10s");
        assert_eq!(bar(&d, 50, 1000), "    500B/1kB");
        assert_eq!(
            bar(&d, 111, 1000),
            format!("[{}>{}]     500B/1kB 10s", "=".repeat(25), " ".repeat(25))
        );
        d.start = 0;
        d.total = 0;
        assert_eq!(bar(&d, 200, 0), "    500B");
        d.units = "layers".into();
        assert_eq!(bar(&d, 80, 0), "500 layers");
        d.total = 3;
        assert_eq!(bar(&d, 80, 0), "500 layers");
        d.current = 2;
        assert_eq!(bar(&d, 80, 0), "2/3 layers");
        d.hide_counts = true;
        assert_eq!(bar(&d, 80, 0), "");
        assert_eq!(go_duration(3723), "1h2m3s");
        assert_eq!(go_duration(120), "2m0s");
    }

    #[test]
    fn stream_errors_end_the_display() {
        let body = b"{\"status\":\"Pulling from x\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\n{\"status\":\"never\"}\n";
        let mut r = Renderer::new(Vec::new(), Mode::Plain);
        let e = display(&body[..], &mut r).unwrap_err();
        assert!(e.to_string().contains("manifest unknown"), "{e}");
        assert_eq!(r.into_inner(), b"Pulling from x\n");
    }
}
