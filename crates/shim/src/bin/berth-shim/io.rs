//! Output fan-out (attached clients, the json-file log) and input from attached clients.
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use berth_shim::protocol::stream;
use berth_shim::{AttachHello, LogSpec};

/// One attached client.
#[derive(Debug)]
struct Client {
    out: UnixStream,
    hello: AttachHello,
}

/// Where a process's output goes: every attached client and (for the container) the log.
#[derive(Debug)]
pub struct Hub {
    tty: bool,
    clients: Mutex<Vec<Client>>,
    log: Option<Mutex<JsonLog>>,
}

impl Hub {
    pub fn new(tty: bool, log: Option<JsonLog>) -> Hub {
        Hub {
            tty,
            clients: Mutex::new(Vec::new()),
            log: log.map(Mutex::new),
        }
    }

    /// Add an attached client's writing half. A client that cannot keep up for 10 s is dropped
    /// rather than stalling the container.
    pub fn add(&self, out: UnixStream, hello: AttachHello) {
        let _ = out.set_write_timeout(Some(Duration::from_secs(10)));
        if let Ok(mut c) = self.clients.lock() {
            c.push(Client { out, hello });
        }
    }

    /// Output of `which` (stdout or stderr).
    pub fn output(&self, which: u8, data: &[u8]) {
        if let Some(l) = &self.log {
            if let Ok(mut l) = l.lock() {
                l.write(which, data);
            }
        }
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        clients.retain_mut(|c| {
            let wanted = if which == stream::STDERR {
                c.hello.stderr
            } else {
                c.hello.stdout
            };
            if !wanted {
                return true;
            }
            let r = if self.tty {
                c.out.write_all(data)
            } else {
                c.out
                    .write_all(&stream::header(which, data.len()))
                    .and_then(|_| c.out.write_all(data))
            };
            r.is_ok()
        });
    }

    /// The process's output has ended: flush the log, close every client.
    pub fn close(&self) {
        if let Some(l) = &self.log {
            if let Ok(mut l) = l.lock() {
                l.flush_partial();
            }
        }
        if let Ok(mut c) = self.clients.lock() {
            for cl in c.drain(..) {
                let _ = cl.out.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Read `src` until EOF (or EIO from a pty whose other side is gone), feeding the hub.
pub fn pump(src: File, which: u8, hub: Arc<Hub>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut src = src;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hub.output(which, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    })
}

/// Where attached clients' input goes.
#[derive(Debug)]
pub struct Stdin {
    w: Mutex<In>,
    once: bool,
}

#[derive(Debug)]
enum In {
    /// A tty exec's pty is known only once it has started.
    Pending,
    Open(File),
    Closed,
}

impl Stdin {
    pub fn new(w: Option<File>, once: bool) -> Arc<Stdin> {
        Arc::new(Stdin {
            w: Mutex::new(w.map_or(In::Closed, In::Open)),
            once,
        })
    }

    /// Input that will be connected later with [`Stdin::set`].
    pub fn pending(once: bool) -> Arc<Stdin> {
        Arc::new(Stdin {
            w: Mutex::new(In::Pending),
            once,
        })
    }

    pub fn set(&self, f: File) {
        if let Ok(mut g) = self.w.lock() {
            if matches!(*g, In::Pending) {
                *g = In::Open(f);
            }
        }
    }

    pub fn is_open(&self) -> bool {
        self.w
            .lock()
            .map(|w| !matches!(*w, In::Closed))
            .unwrap_or(false)
    }

    /// Copy a client's bytes into stdin until it half-closes; then, with `StdinOnce`, close stdin
    /// so the process sees EOF.
    pub fn feed_from(self: &Arc<Self>, mut client: UnixStream) {
        let me = self.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            'read: loop {
                let n = match client.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let Ok(mut w) = me.w.lock() else { break 'read };
                    match &mut *w {
                        In::Open(f) => {
                            if f.write_all(&buf[..n]).is_err() {
                                *w = In::Closed;
                                break 'read;
                            }
                            break;
                        }
                        In::Closed => break 'read,
                        In::Pending if std::time::Instant::now() > deadline => break 'read,
                        In::Pending => {
                            drop(w);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            }
            if me.once {
                me.close();
            }
        });
    }

    pub fn close(&self) {
        if let Ok(mut w) = self.w.lock() {
            *w = In::Closed;
        }
    }
}

/// Docker's json-file log: one `{"log","stream","time"}` object per line of output.
#[derive(Debug)]
pub struct JsonLog {
    spec: LogSpec,
    file: File,
    size: u64,
    partial: [Vec<u8>; 3],
}

/// Lines longer than this are split, as Docker does (16 KiB).
const MAX_LINE: usize = 16 * 1024;

impl JsonLog {
    pub fn open(spec: &LogSpec) -> std::io::Result<JsonLog> {
        if let Some(d) = spec.path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(JsonLog {
            spec: spec.clone(),
            file,
            size,
            partial: [Vec::new(), Vec::new(), Vec::new()],
        })
    }

    fn write(&mut self, which: u8, data: &[u8]) {
        let i = usize::from(which.min(2));
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            self.entry(which, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            let end = start + MAX_LINE;
            self.entry(which, &buf[start..end]);
            start = end;
        }
        self.partial[i] = buf[start..].to_vec();
    }

    fn flush_partial(&mut self) {
        for i in 1..3u8 {
            let p = std::mem::take(&mut self.partial[usize::from(i)]);
            if !p.is_empty() {
                self.entry(i, &p);
            }
        }
        let _ = self.file.flush();
    }

    fn entry(&mut self, which: u8, line: &[u8]) {
        let rec = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": if which == stream::STDERR { "stderr" } else { "stdout" },
            "time": berth_runtime::state::rfc3339(SystemTime::now()),
        });
        let mut text = rec.to_string();
        text.push('\n');
        if self.spec.max_size > 0 && self.size + text.len() as u64 > self.spec.max_size {
            self.rotate();
        }
        if self.file.write_all(text.as_bytes()).is_ok() {
            self.size += text.len() as u64;
        }
    }

    /// `log` → `log.1` → … → `log.<max_file-1>`; the oldest falls off.
    fn rotate(&mut self) {
        let keep = self.spec.max_file.max(1);
        let name = |n: u32| -> PathBuf {
            let mut p = self.spec.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if keep == 1 {
            let _ = self.file.set_len(0);
            self.size = 0;
            return;
        }
        for n in (1..keep - 1).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        let _ = std::fs::rename(&self.spec.path, name(1));
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.path)
        {
            self.file = f;
            self.size = 0;
        }
    }
}
