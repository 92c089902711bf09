//! Detach keys (`--detach-keys`, default ctrl-p ctrl-q), detected client-side as the docker CLI
//! does (moby/term's escape proxy), only on a terminal; a partial match is held back and
//! forwarded when the next key does not match. Unlike moby/term, which matches only single-byte
//! reads, the keys are found inside longer reads too: terminals multiplexers (tmux send-keys) and
//! ssh deliver ctrl-p ctrl-q in one read, which docker then forwards instead of detaching.

/// Docker's default: ctrl-p, ctrl-q.
pub const DEFAULT_KEYS: &[u8] = &[0x10, 0x11];

/// `term.ToBytes`: comma-separated keys, each one character or `ctrl-<x>` with `x` in `@`, `a`–`z`,
/// `[`, `\`, `]`, `^`, `_`.
pub fn parse_keys(keys: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in keys.split(',') {
        let b = key.as_bytes();
        if b.len() == 1 {
            out.push(b[0]);
            continue;
        }
        let code = key.strip_prefix("ctrl-").and_then(|c| match c.as_bytes() {
            [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
            [b'@'] => Some(0),
            [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Some(c - b'@'),
            _ => None,
        });
        match code {
            Some(c) => out.push(c),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(out)
}

/// The keys to watch for: `--detach-keys` if valid (a warning and the default otherwise, as the
/// CLI does).
pub fn keys_or_default(flag: Option<&str>) -> Vec<u8> {
    match flag.filter(|k| !k.is_empty()).map(parse_keys) {
        Some(Ok(k)) if !k.is_empty() => k,
        Some(Err(e)) => {
            eprintln!("invalid detach escape keys, using default: {e}");
            DEFAULT_KEYS.to_vec()
        }
        _ => DEFAULT_KEYS.to_vec(),
    }
}

/// What a read turned into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Bytes to forward (may be empty while a sequence is half-typed).
    Forward(Vec<u8>),
    /// The whole sequence was typed: forward these bytes (typed before it), then stop.
    Detach(Vec<u8>),
}

/// The escape-sequence matcher over successive reads.
#[derive(Debug, Clone)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    pos: usize,
}

impl EscapeProxy {
    /// A matcher for `keys` (non-empty).
    pub fn new(keys: Vec<u8>) -> EscapeProxy {
        EscapeProxy { keys, pos: 0 }
    }

    /// Feeds one read's bytes.
    pub fn feed(&mut self, read: &[u8]) -> Step {
        let mut out = Vec::with_capacity(read.len());
        for &b in read {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.pos] {
                self.pos += 1;
                if self.pos == self.keys.len() {
                    self.pos = 0;
                    return Step::Detach(out);
                }
                continue;
            }
            // Not the next key: release what was held, then look at this byte afresh.
            out.extend_from_slice(&self.keys[..self.pos]);
            self.pos = 0;
            if b == self.keys[0] {
                self.pos = 1;
                if self.keys.len() == 1 {
                    self.pos = 0;
                    return Step::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Step::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_like_docker() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), DEFAULT_KEYS);
        assert_eq!(parse_keys("ctrl-x,x").unwrap(), [0x18, b'x']);
        assert_eq!(parse_keys("ctrl-@,ctrl-[,ctrl-_").unwrap(), [0, 0x1b, 0x1f]);
        assert_eq!(parse_keys("a,b").unwrap(), b"ab");
        assert_eq!(
            parse_keys("ctrl-1").unwrap_err(),
            "Unknown character: 'ctrl-1'"
        );
        assert_eq!(
            parse_keys("alt-x").unwrap_err(),
            "Unknown character: 'alt-x'"
        );
        assert_eq!(keys_or_default(Some("bogus-key")), DEFAULT_KEYS);
        assert_eq!(keys_or_default(None), DEFAULT_KEYS);
    }

    #[test]
    fn holds_partial_sequences_and_detaches_on_the_whole() {
        let mut p = EscapeProxy::new(DEFAULT_KEYS.to_vec());
        assert_eq!(p.feed(b"ls\r"), Step::Forward(b"ls\r".to_vec()));
        assert_eq!(p.feed(&[0x10]), Step::Forward(vec![]));
        // Not ctrl-q: the held ctrl-p goes out with it.
        assert_eq!(p.feed(b"a"), Step::Forward(vec![0x10, b'a']));
        assert_eq!(p.feed(&[0x10]), Step::Forward(vec![]));
        assert_eq!(p.feed(&[0x11]), Step::Detach(vec![]));
        // Both keys in one read (tmux), after some text.
        assert_eq!(p.feed(&[b'x', 0x10, 0x11, b'y']), Step::Detach(vec![b'x']));
        // ctrl-p twice: the first is released, the second may start the sequence.
        assert_eq!(p.feed(&[0x10, 0x10]), Step::Forward(vec![0x10]));
        assert_eq!(p.feed(&[0x11]), Step::Detach(vec![]));
        let mut one = EscapeProxy::new(vec![b'q']);
        assert_eq!(one.feed(b"abq"), Step::Detach(b"ab".to_vec()));
    }
}
