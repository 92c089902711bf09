//! The build context: the tar a client sends, unpacked below a private temp directory with the
//! image crate's hostile-archive-proof extractor, `.dockerignore` applied (the Dockerfile and
//! `.dockerignore` are read first, as Docker does, even when they are ignored).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::ignore::{clean, Ignore};
use crate::BuildError;

/// An unpacked context; removed when dropped.
#[derive(Debug)]
pub struct Context {
    dir: tempfile::TempDir,
    root: std::fs::File,
    ignore: Ignore,
    digests: crate::copy::Known,
}

impl Context {
    /// Unpacks the tar stream `r` (plain, gzip or zstd) into a new directory below `parent`.
    pub fn from_tar<R: std::io::Read>(r: R, parent: &Path) -> Result<Context, BuildError> {
        std::fs::create_dir_all(parent)
            .map_err(|e| BuildError::Backend(format!("{}: {e}", parent.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("berth-build-")
            .tempdir_in(parent)
            .map_err(|e| BuildError::Backend(format!("context directory: {e}")))?;
        let root = std::fs::File::open(dir.path())
            .map_err(|e| BuildError::Backend(format!("context directory: {e}")))?;
        let mut padded = Padded::new(r);
        berth_image::copy::extract(
            root.as_fd(),
            "/",
            &mut padded,
            berth_image::copy::ExtractOptions::default(),
        )
        .map_err(|e| BuildError::Invalid(format!("error reading the build context: {e}")))?;
        let digests = std::mem::take(&mut padded.digests);
        let ignore = match berth_image::copy::read_file(root.as_fd(), "/.dockerignore", 1 << 20) {
            Ok(b) => Ignore::parse(&String::from_utf8_lossy(&b))
                .map_err(|e| BuildError::Invalid(format!(".dockerignore: {e}")))?,
            Err(_) => Ignore::default(),
        };
        Ok(Context {
            dir,
            root,
            ignore,
            digests,
        })
    }

    /// The context's root directory.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Content digests of the context's files, computed as they streamed in (so a cached
    /// build does not read them again).
    pub fn digests(&self) -> &crate::copy::Known {
        &self.digests
    }

    /// Its path on the host.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Reads the Dockerfile at `name` (relative to the context; symlinks resolved inside it).
    pub fn dockerfile(&self, name: &str) -> Result<String, BuildError> {
        let rel = clean(name);
        let b = berth_image::copy::read_file(self.root.as_fd(), &format!("/{rel}"), 16 << 20)
            .map_err(|_| {
                BuildError::NotFound(format!("Cannot locate specified Dockerfile: {name}"))
            })?;
        String::from_utf8(b)
            .map_err(|_| BuildError::Invalid(format!("the Dockerfile {name} is not UTF-8 text")))
    }

    /// Removes what `.dockerignore` excludes (after the Dockerfile was read).
    pub fn apply_ignore(&self) -> Result<(), BuildError> {
        if self.ignore.is_empty() {
            return Ok(());
        }
        prune(self.dir.path(), "", &self.ignore)
            .map_err(|e| BuildError::Backend(format!("applying .dockerignore: {e}")))
    }
}

fn prune(dir: &Path, rel: &str, ig: &Ignore) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let p = e.path();
        // Never follows a symlink: file_type() is the entry's own type.
        let ft = e.file_type()?;
        if ig.excluded(&r) {
            if ft.is_dir() && ig.has_exceptions_below(&r) {
                prune(&p, &r, ig)?;
                if std::fs::read_dir(&p)?.next().is_none() {
                    std::fs::remove_dir(&p)?;
                }
            } else if ft.is_dir() {
                std::fs::remove_dir_all(&p)?;
            } else {
                std::fs::remove_file(&p)?;
            }
        } else if ft.is_dir() {
            prune(&p, &r, ig)?;
        }
    }
    Ok(())
}

/// A tar stream that may end right after its last entry's data, without the padding to 512
/// bytes and the two zero blocks (the docker CLI sends such a context when it adds a Dockerfile
/// from outside the context; Go's tar reader accepts it). Supplies the missing zeros; data that
/// stops short of an entry's size is still an error. Data passes straight through.
pub(crate) struct Padded<R> {
    inner: R,
    /// Bytes to hand out before reading on (a header block, or the zeros that end the stream).
    pending: Vec<u8>,
    pos: usize,
    /// Bytes of data still due for the current entry, then its padding.
    data_left: u64,
    pad_left: u64,
    /// Past the end-of-archive block: pass through.
    trailer: bool,
    done: bool,
    /// The current entry: a regular file being hashed, or a GNU long name / PAX header whose
    /// data names the next entry.
    entry: EntryState,
    next_name: Option<String>,
    /// Content digests of the regular files that went through, by cleaned path.
    pub(crate) digests: crate::copy::Known,
}

enum EntryState {
    None,
    File {
        name: String,
        size: u64,
        hasher: sha2::Sha256,
    },
    Names {
        pax: bool,
        data: Vec<u8>,
    },
}

impl<R: std::io::Read> Padded<R> {
    pub(crate) fn new(inner: R) -> Padded<R> {
        Padded {
            inner,
            pending: Vec::new(),
            pos: 0,
            data_left: 0,
            pad_left: 0,
            trailer: false,
            done: false,
            entry: EntryState::None,
            next_name: None,
            digests: crate::copy::Known::new(),
        }
    }

    fn on_data(&mut self, data: &[u8]) {
        match &mut self.entry {
            EntryState::None => {}
            EntryState::File { hasher, .. } => sha2::Digest::update(hasher, data),
            EntryState::Names { data: d, .. } => {
                if d.len() < 1 << 20 {
                    d.extend_from_slice(data);
                }
            }
        }
        if self.data_left == 0 {
            match std::mem::replace(&mut self.entry, EntryState::None) {
                EntryState::None => {}
                EntryState::File { name, size, hasher } => {
                    let hex = hex::encode(sha2::Digest::finalize(hasher));
                    self.digests.insert(clean(&name), (size, hex));
                }
                EntryState::Names { pax: false, data } => {
                    let n = String::from_utf8_lossy(&data);
                    self.next_name = Some(n.trim_end_matches('\0').to_string());
                }
                EntryState::Names { pax: true, data } => {
                    // Records: "<len> key=value\n".
                    let text = String::from_utf8_lossy(&data);
                    for rec in text.split('\n') {
                        if let Some((_, kv)) = rec.split_once(' ') {
                            if let Some(p) = kv.strip_prefix("path=") {
                                self.next_name = Some(p.to_string());
                            }
                        }
                    }
                }
            }
        }
    }

    fn on_header(&mut self, h: &[u8], size: u64) {
        let field = |b: &[u8]| {
            let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            String::from_utf8_lossy(&b[..n]).into_owned()
        };
        self.entry = match h[156] {
            b'L' => EntryState::Names {
                pax: false,
                data: Vec::new(),
            },
            b'x' => EntryState::Names {
                pax: true,
                data: Vec::new(),
            },
            b'g' => EntryState::None,
            b'0' | 0 | b'7' => {
                let name = self.next_name.take().unwrap_or_else(|| {
                    let (name, prefix) = (field(&h[..100]), field(&h[345..500]));
                    if prefix.is_empty() || &h[257..262] != b"ustar" {
                        name
                    } else {
                        format!("{prefix}/{name}")
                    }
                });
                EntryState::File {
                    name,
                    size,
                    hasher: sha2::Digest::new(),
                }
            }
            _ => {
                self.next_name = None;
                EntryState::None
            }
        };
        if size == 0 {
            self.on_data(&[]);
        }
    }

    fn end(&mut self, zeros: usize) {
        self.pending = vec![0u8; zeros + 1024];
        self.pos = 0;
        self.done = true;
    }
}

impl<R: std::io::Read> std::io::Read for Padded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pos < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.pos);
                buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            if self.trailer {
                return self.inner.read(buf);
            }
            if self.data_left > 0 || self.pad_left > 0 {
                let due = if self.data_left > 0 {
                    self.data_left
                } else {
                    self.pad_left
                };
                let want = buf.len().min(usize::try_from(due).unwrap_or(usize::MAX));
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    if self.data_left > 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the archive ends inside an entry's data",
                        ));
                    }
                    let pad = self.pad_left as usize;
                    self.pad_left = 0;
                    self.end(pad);
                    continue;
                }
                if self.data_left > 0 {
                    self.data_left -= n as u64;
                    self.on_data(&buf[..n]);
                } else {
                    self.pad_left -= n as u64;
                }
                return Ok(n);
            }
            // A header block.
            let mut h = vec![0u8; 512];
            let mut got = 0;
            while got < 512 {
                let n = self.inner.read(&mut h[got..])?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            if got == 0 {
                self.end(0);
                continue;
            }
            if got < 512 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the archive ends inside a header",
                ));
            }
            if h.iter().all(|&b| b == 0) {
                self.trailer = true;
            } else {
                let size = header_size(&h[124..136]);
                self.data_left = size;
                self.pad_left = (512 - size % 512) % 512;
                self.on_header(&h, size);
            }
            self.pending = h;
            self.pos = 0;
        }
    }
}

/// A tar header's size field: octal, or base-256 with the high bit set.
fn header_size(f: &[u8]) -> u64 {
    if f[0] & 0x80 != 0 {
        return f[1..].iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    }
    let t: String = f
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    u64::from_str_radix(t.trim(), 8).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, n, *d).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_stream_cut_after_the_last_data_is_completed() {
        let full = tar_of(&[("a", b"hello"), ("b", &[7u8; 47])]);
        // Cut right after b's 47 bytes: no padding, no trailer.
        let cut = &full[..512 + 512 + 512 + 47];
        let mut out = Vec::new();
        Padded::new(cut).read_to_end(&mut out).unwrap();
        let mut ar = tar::Archive::new(&out[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        // A complete archive passes through unchanged.
        let mut same = Vec::new();
        Padded::new(&full[..]).read_to_end(&mut same).unwrap();
        assert_eq!(same, full);
    }

    #[test]
    fn file_digests_are_taken_on_the_way() {
        let long = format!("{}/file", "d".repeat(120));
        let full = tar_of(&[("a", b"hello"), (long.as_str(), b"x")]);
        let mut p = Padded::new(&full[..]);
        let mut out = Vec::new();
        p.read_to_end(&mut out).unwrap();
        let want = |d: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(d));
        assert_eq!(p.digests.get("a"), Some(&(5, want(b"hello"))));
        assert_eq!(p.digests.get(&long), Some(&(1, want(b"x"))));
    }

    #[test]
    fn a_stream_cut_inside_data_is_an_error() {
        let full = tar_of(&[("a", &[1u8; 600])]);
        let cut = &full[..512 + 300];
        let mut out = Vec::new();
        assert!(Padded::new(cut).read_to_end(&mut out).is_err());
    }
}
