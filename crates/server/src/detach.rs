//! Detach keys: the byte sequence in an attached stdin (ctrl-p ctrl-q by default, or the
//! client's `detachKeys`) that ends the attach and leaves the container running, as dockerd's
//! escape proxy does. Bytes of a partial match are held back and passed on if the sequence
//! breaks.
use berth_daemon::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Docker's default, ctrl-p ctrl-q.
pub const DEFAULT: [u8; 2] = [0x10, 0x11];

/// `ctrl-p,ctrl-q`, `a,b`, `ctrl-@`... → bytes (moby's `term.ToBytes`).
pub fn parse(s: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::invalid(format!("Invalid detach keys ({s}) provided"));
    let mut out = Vec::new();
    for k in s.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The keys of a request: its `detachKeys`, else the default.
pub fn keys(q: Option<&str>) -> Result<Vec<u8>, Error> {
    match q.filter(|s| !s.is_empty()) {
        Some(s) => parse(s),
        None => Ok(DEFAULT.to_vec()),
    }
}

/// The matcher state over a stream.
#[derive(Debug)]
pub struct Detector {
    keys: Vec<u8>,
    matched: usize,
}

impl Detector {
    pub fn new(keys: Vec<u8>) -> Detector {
        Detector { keys, matched: 0 }
    }

    /// Feed bytes; returns what to pass on now and whether the sequence completed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
            } else {
                // The held bytes were not the sequence after all.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        false
    }
}

/// Copy stdin from the client to the container until EOF (then half-close) or the detach
/// sequence; true when detached.
pub async fn copy_input<R, W>(mut r: R, mut w: W, keys: Vec<u8>) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut d = Detector::new(keys);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = w.shutdown().await;
                return false;
            }
            Ok(n) => n,
        };
        out.clear();
        let detached = d.feed(&buf[..n], &mut out);
        if !out.is_empty() && w.write_all(&out).await.is_err() {
            return false;
        }
        if detached {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_like_docker() {
        assert_eq!(parse("ctrl-p,ctrl-q").ok(), Some(vec![16, 17]));
        assert_eq!(parse("ctrl-@,a,ctrl-_").ok(), Some(vec![0, b'a', 31]));
        assert!(parse("ctrl-pp").is_err());
        assert!(parse("").is_err());
        assert_eq!(keys(None).ok(), Some(DEFAULT.to_vec()));
    }

    #[test]
    fn partial_matches_are_passed_on() {
        let mut d = Detector::new(vec![16, 17]);
        let mut out = Vec::new();
        assert!(!d.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        out.clear();
        assert!(!d.feed(b"c\x10", &mut out));
        assert_eq!(out, b"\x10c");
        out.clear();
        assert!(d.feed(b"\x11rest", &mut out));
        assert!(out.is_empty());
        let mut d = Detector::new(vec![16, 17]);
        out.clear();
        assert!(!d.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"\x10");
        assert!(d.feed(b"\x11", &mut out));
    }
}
