//! The content store: immutable blobs named by their sha256 digest.
//!
//! Layout below the store root (`<data-root>/content`):
//! - `blobs/sha256/<hex>`: a blob, verified (size and digest) before it gets its name;
//! - `ingest/<ref>/data`: a partial write, resumable; `ingest/<ref>/lock` is `flock`ed by the
//!   one writer of that ref, so a second writer waits, then finds the blob already committed.
//!
//! A writer killed at any byte leaves at most a partial `ingest/<ref>/data`; a blob never appears
//! under a wrong name, because the name is given by `rename` only after the digest was checked.
//!
//! Inside the crate a fresh ingest can be *followed* ([`Follower`]): a reader of the ingest's
//! data as it is written, so a layer is unpacked while it is stored instead of being read back
//! (and hashed again) afterwards. A follower reaches the end of its data only once the writer
//! has committed, that is once the blob was verified; if the writer fails or is dropped, the
//! follower's next read fails.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use rustix::fs::{flock, FlockOperation};
use sha2::{Digest as _, Sha256};

use crate::fsutil::fsync_dir;
use crate::reference::Digest;

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// No blob with that digest.
    #[error("blob {0} not found")]
    NotFound(Digest),
    /// The written data does not hash to the expected digest.
    #[error("blob {expected}: digest mismatch, got {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of the data written.
        actual: Digest,
    },
    /// The written data does not have the expected size.
    #[error("blob {digest}: size mismatch, expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was being written (the expected digest, or the ingest ref).
        digest: String,
        /// The size the caller expected.
        expected: u64,
        /// The size written.
        actual: u64,
    },
    /// An ingest ref with characters outside `[A-Za-z0-9._-]`.
    #[error("invalid ingest ref: {0:?}")]
    InvalidRef(String),
    /// A blob is larger than a caller's in-memory read limit.
    #[error("blob {0} is too large to read into memory")]
    TooLarge(Digest),
    /// An I/O error on a named object.
    #[error("{what}: {source}")]
    Io {
        /// The object being worked on.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ContentError {
    let what = what.into();
    move |source| ContentError::Io { what, source }
}

/// A blob's digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A content store rooted at a directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) a store at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<ContentStore, ContentError> {
        let root = root.as_ref().to_path_buf();
        for d in ["blobs/sha256", "ingest"] {
            fs::create_dir_all(root.join(d))
                .map_err(io_err(format!("create {}", root.join(d).display())))?;
        }
        Ok(ContentStore { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `d` lives (whether or not it exists).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Whether the blob exists.
    pub fn exists(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// The blob's size.
    pub fn info(&self, d: &Digest) -> Result<BlobInfo, ContentError> {
        match fs::metadata(self.blob_path(d)) {
            Ok(m) => Ok(BlobInfo {
                digest: d.clone(),
                size: m.len(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound(d.clone())),
            Err(e) => Err(io_err(format!("stat blob {d}"))(e)),
        }
    }

    /// Opens the blob for reading.
    pub fn reader(&self, d: &Digest) -> Result<File, ContentError> {
        match File::open(self.blob_path(d)) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound(d.clone())),
            Err(e) => Err(io_err(format!("open blob {d}"))(e)),
        }
    }

    /// Reads a whole blob into memory, refusing blobs larger than `limit` bytes.
    pub fn read_to_vec(&self, d: &Digest, limit: u64) -> Result<Vec<u8>, ContentError> {
        let f = self.reader(d)?;
        let mut v = Vec::new();
        f.take(limit + 1)
            .read_to_end(&mut v)
            .map_err(io_err(format!("read blob {d}")))?;
        if v.len() as u64 > limit {
            return Err(ContentError::TooLarge(d.clone()));
        }
        Ok(v)
    }

    /// Deletes a blob; deleting a missing blob is `NotFound`.
    pub fn delete(&self, d: &Digest) -> Result<(), ContentError> {
        match fs::remove_file(self.blob_path(d)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound(d.clone())),
            Err(e) => Err(io_err(format!("delete blob {d}"))(e)),
        }
    }

    /// Every blob in the store. Files whose names are not sha256 hex are skipped (see `gc::verify`).
    pub fn walk(&self) -> Result<Vec<BlobInfo>, ContentError> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(format!("read {}", dir.display())))? {
            let e = e.map_err(io_err(format!("read {}", dir.display())))?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(digest) = Digest::from_hex(&name) else {
                continue;
            };
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(BlobInfo { digest, size });
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Names of the ingests in progress or abandoned.
    pub fn ingests(&self) -> Result<Vec<String>, ContentError> {
        let dir = self.root.join("ingest");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(format!("read {}", dir.display())))? {
            let e = e.map_err(io_err(format!("read {}", dir.display())))?;
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes an ingest (waiting for its writer, if one is alive).
    pub fn abort(&self, reference: &str) -> Result<(), ContentError> {
        check_ref(reference)?;
        let dir = self.root.join("ingest").join(reference);
        let lock = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(dir.join("lock"))
        {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(format!("open ingest {reference}"))(e)),
        };
        if let Some(l) = &lock {
            flock(l, FlockOperation::LockExclusive)
                .map_err(|e| io_err(format!("lock ingest {reference}"))(e.into()))?;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("remove ingest {reference}"))(e)),
        }
    }

    /// Opens a writer for the ingest `reference`. When `expected` is given and that blob already
    /// exists (now, or after waiting for a concurrent writer of the same ref), returns `None`.
    ///
    /// A partial ingest left by an earlier writer is resumed: [`Writer::offset`] tells where, and
    /// the hash state is recomputed by re-reading the partial data.
    pub fn writer(
        &self,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<Option<Writer>, ContentError> {
        check_ref(reference)?;
        if let Some(d) = expected {
            if self.exists(d) {
                return Ok(None);
            }
        }
        let dir = self.root.join("ingest").join(reference);
        let lock = loop {
            fs::create_dir_all(&dir).map_err(io_err(format!("create ingest {reference}")))?;
            let lock = match OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(dir.join("lock"))
            {
                Ok(l) => l,
                // A writer that just committed removed the ingest directory: start again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(format!("open ingest {reference}"))(e)),
            };
            flock(&lock, FlockOperation::LockExclusive)
                .map_err(|e| io_err(format!("lock ingest {reference}"))(e.into()))?;
            // The holder we waited for may have removed the ingest: then our lock file is
            // unlinked and a newcomer may lock a new one. Retry until we hold the live one.
            let held = lock
                .metadata()
                .map_err(io_err(format!("stat ingest {reference}")))?;
            match fs::metadata(dir.join("lock")) {
                Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => break lock,
                _ => continue,
            }
        };
        if let Some(d) = expected {
            if self.exists(d) {
                // Another writer finished while we waited. Its ingest dir is gone or going.
                let _ = fs::remove_dir_all(&dir);
                return Ok(None);
            }
        }
        let mut data = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(dir.join("data"))
            .map_err(io_err(format!("open ingest {reference}")))?;
        let mut hasher = Sha256::new();
        let mut offset = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = data
                .read(&mut buf)
                .map_err(io_err(format!("read ingest {reference}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        data.seek(SeekFrom::Start(offset))
            .map_err(io_err(format!("seek ingest {reference}")))?;
        Ok(Some(Writer {
            store: self.clone(),
            reference: reference.to_owned(),
            dir,
            data,
            hasher,
            offset,
            expected: expected.cloned(),
            tail: None,
            _lock: lock,
        }))
    }

    /// Streams `r` into the store and returns the blob's info. With `expected`, an existing blob
    /// is not rewritten and the data is verified against it.
    pub fn ingest<R: Read>(
        &self,
        reference: &str,
        r: R,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<BlobInfo, ContentError> {
        self.ingest_following(reference, r, expected, None)
    }

    /// [`ContentStore::ingest`], handing a [`Follower`] of the data to `follow` first when the
    /// blob is not in the store yet and no partial ingest is resumed (a follower reads the data
    /// from its first byte, which a resume would have to skip or might truncate).
    pub(crate) fn ingest_following<R: Read>(
        &self,
        reference: &str,
        mut r: R,
        expected: Option<(&Digest, Option<u64>)>,
        follow: Option<&mut dyn FnMut(Follower)>,
    ) -> Result<BlobInfo, ContentError> {
        let Some(mut w) = self.writer(reference, expected.map(|e| e.0))? else {
            let d = expected
                .map(|e| e.0)
                .ok_or_else(|| ContentError::InvalidRef(reference.into()))?;
            return self.info(d);
        };
        if w.offset() > 0 {
            // Resume: skip what the ingest already has.
            let skipped = io::copy(&mut (&mut r).take(w.offset()), &mut io::sink())
                .map_err(io_err(format!("read source of {reference}")))?;
            if skipped < w.offset() {
                w.truncate()?;
            }
        } else if let Some(follow) = follow {
            if let Ok(f) = w.follow() {
                follow(f);
            }
        }
        // Large writes: std's io::copy moves 8 KiB at a time, one write(2) each.
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(format!("write ingest {reference}"))(e)),
            };
            w.write_all(&buf[..n])
                .map_err(io_err(format!("write ingest {reference}")))?;
        }
        w.commit(expected.and_then(|e| e.1))
    }

    /// Stores a small blob held in memory (configs, manifests).
    pub fn write_blob(&self, data: &[u8]) -> Result<BlobInfo, ContentError> {
        let d = Digest::of(data);
        self.ingest(
            &format!("blob-{}", d.hex()),
            data,
            Some((&d, Some(data.len() as u64))),
        )
    }
}

/// The buffer of [`ContentStore::ingest`]'s copy loop.
const COPY_BUF: usize = 1 << 20;

fn check_ref(r: &str) -> Result<(), ContentError> {
    let ok = !r.is_empty()
        && r.len() <= 200
        && !r.starts_with('.')
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ContentError::InvalidRef(r.to_owned()))
    }
}

/// A writer into one ingest. Holds the ingest's lock until dropped or committed. Dropping
/// without committing keeps the partial data for a later resume.
#[derive(Debug)]
pub struct Writer {
    store: ContentStore,
    reference: String,
    dir: PathBuf,
    data: File,
    hasher: Sha256,
    offset: u64,
    expected: Option<Digest>,
    /// Set once followed: what followers may read.
    tail: Option<Arc<Tail>>,
    _lock: File,
}

/// What a [`Writer`] shares with its followers.
#[derive(Debug, Default)]
struct Tail {
    state: Mutex<TailState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct TailState {
    /// Bytes of the data file written so far (and hashed).
    written: u64,
    /// `Some(Ok)` once committed (verified and named), `Some(Err)` once failed or abandoned.
    end: Option<Result<BlobInfo, ()>>,
}

impl Tail {
    fn lock(&self) -> std::sync::MutexGuard<'_, TailState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn end(&self, r: Result<BlobInfo, ()>) {
        let mut st = self.lock();
        if st.end.is_none() {
            st.end = Some(r);
        }
        drop(st);
        self.cv.notify_all();
    }
}

/// Reads an ingest's data while its [`Writer`] writes it (see the module doc). The bytes read
/// are exactly those the writer hashed; [`Follower::committed`] tells what they turned out to be.
#[derive(Debug)]
pub(crate) struct Follower {
    file: File,
    pos: u64,
    tail: Arc<Tail>,
}

impl Follower {
    /// The blob, once the writer committed it (the follower then reads up to its last byte).
    pub(crate) fn committed(&self) -> Option<BlobInfo> {
        match &self.tail.lock().end {
            Some(Ok(b)) => Some(b.clone()),
            _ => None,
        }
    }

    /// How many bytes were read.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }
}

impl Read for Follower {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let avail = {
            let mut st = self.tail.lock();
            loop {
                if matches!(st.end, Some(Err(()))) {
                    return Err(io::Error::other("the ingest being followed failed"));
                }
                if st.written > self.pos {
                    break st.written - self.pos;
                }
                if st.end.is_some() {
                    return Ok(0);
                }
                st = self.tail.cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        let max = buf.len().min(usize::try_from(avail).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "ingest data shorter than written",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Writer {
    /// How many bytes the ingest holds (non-zero when resuming).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// A reader of the data from its first byte, following this writer (see the module doc).
    pub(crate) fn follow(&mut self) -> Result<Follower, ContentError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(self.dir.join("data"))
            .map_err(io_err(format!("open ingest {}", self.reference)))?;
        let tail = self.tail.get_or_insert_with(Default::default).clone();
        tail.lock().written = self.offset;
        Ok(Follower { file, pos: 0, tail })
    }

    /// Throws away the partial data and starts again at offset 0.
    pub fn truncate(&mut self) -> Result<(), ContentError> {
        if let Some(t) = self.tail.take() {
            // Followers have read data that is going away.
            t.end(Err(()));
        }
        let what = format!("truncate ingest {}", self.reference);
        self.data.set_len(0).map_err(io_err(what.clone()))?;
        self.data.seek(SeekFrom::Start(0)).map_err(io_err(what))?;
        self.hasher = Sha256::new();
        self.offset = 0;
        Ok(())
    }

    /// Verifies size and digest, then gives the blob its name. On a mismatch the ingest is
    /// removed and nothing is named.
    pub fn commit(mut self, expected_size: Option<u64>) -> Result<BlobInfo, ContentError> {
        let r = self.reference.clone();
        self.data
            .flush()
            .map_err(io_err(format!("flush ingest {r}")))?;
        self.data
            .sync_all()
            .map_err(io_err(format!("fsync ingest {r}")))?;
        let actual = Digest::from_sha256(self.hasher.clone().finalize().into());
        let what = self
            .expected
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_else(|| r.clone());
        if let Some(size) = expected_size {
            if size != self.offset {
                let _ = fs::remove_dir_all(&self.dir);
                return Err(ContentError::SizeMismatch {
                    digest: what,
                    expected: size,
                    actual: self.offset,
                });
            }
        }
        if let Some(exp) = &self.expected {
            if *exp != actual {
                let _ = fs::remove_dir_all(&self.dir);
                return Err(ContentError::DigestMismatch {
                    expected: exp.clone(),
                    actual,
                });
            }
        }
        let target = self.store.blob_path(&actual);
        if !target.exists() {
            fs::rename(self.dir.join("data"), &target)
                .map_err(io_err(format!("commit blob {actual}")))?;
            let parent = self.store.root.join("blobs/sha256");
            fsync_dir(&parent).map_err(io_err(format!("fsync {}", parent.display())))?;
        }
        let _ = fs::remove_dir_all(&self.dir);
        let info = BlobInfo {
            digest: actual,
            size: self.offset,
        };
        if let Some(t) = &self.tail {
            t.end(Ok(info.clone()));
        }
        Ok(info)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Not committed (an error, or abandoned for a later resume): followers must not wait.
        if let Some(t) = &self.tail {
            t.end(Err(()));
        }
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.data.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        if let Some(t) = &self.tail {
            t.lock().written = self.offset;
            t.cv.notify_all();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.data.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_delete() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let info = s.write_blob(b"hello").unwrap();
        assert_eq!(info.digest, Digest::of(b"hello"));
        assert!(s.exists(&info.digest));
        assert_eq!(s.info(&info.digest).unwrap().size, 5);
        assert_eq!(s.read_to_vec(&info.digest, 10).unwrap(), b"hello");
        assert!(matches!(
            s.read_to_vec(&info.digest, 4),
            Err(ContentError::TooLarge(_))
        ));
        assert_eq!(s.walk().unwrap(), vec![info.clone()]);
        // writing it again is a no-op
        assert!(s.writer("again", Some(&info.digest)).unwrap().is_none());
        s.delete(&info.digest).unwrap();
        assert!(matches!(
            s.delete(&info.digest),
            Err(ContentError::NotFound(_))
        ));
        assert!(s.ingests().unwrap().is_empty());
    }

    #[test]
    fn mismatches_name_nothing() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let wrong = Digest::of(b"other");
        let e = s
            .ingest("x", &b"data"[..], Some((&wrong, None)))
            .unwrap_err();
        assert!(e.to_string().contains("digest mismatch"), "{e}");
        let e = s
            .ingest("y", &b"data"[..], Some((&Digest::of(b"data"), Some(3))))
            .unwrap_err();
        assert!(e.to_string().contains("size mismatch"), "{e}");
        assert!(s.walk().unwrap().is_empty());
        assert!(s.ingests().unwrap().is_empty());
        assert!(s.writer("../x", None).is_err());
        assert!(s.writer("a/b", None).is_err());
    }

    #[test]
    fn resume_recomputes_hash() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let d = Digest::of(&data);
        {
            let mut w = s.writer("r", Some(&d)).unwrap().unwrap();
            w.write_all(&data[..40_000]).unwrap();
        } // dropped: partial
        let mut w = s.writer("r", Some(&d)).unwrap().unwrap();
        assert_eq!(w.offset(), 40_000);
        w.write_all(&data[40_000..]).unwrap();
        assert_eq!(w.commit(Some(data.len() as u64)).unwrap().digest, d);
        // ingest() resumes by skipping what is there
        let d2 = Digest::of(&data[1..]);
        {
            let mut w = s.writer("r2", Some(&d2)).unwrap().unwrap();
            w.write_all(&data[1..500]).unwrap();
        }
        assert_eq!(
            s.ingest("r2", &data[1..], Some((&d2, None)))
                .unwrap()
                .digest,
            d2
        );
    }

    #[test]
    fn followers_read_what_was_verified() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::of(&data);
        // committed: the follower reads every byte, then learns the verified blob
        let got = std::thread::scope(|sc| {
            let mut h = None;
            let mut follow = |mut f: Follower| {
                h = Some(sc.spawn(move || {
                    let mut v = Vec::new();
                    f.read_to_end(&mut v).map(|_| (v, f.committed()))
                }));
            };
            let info = s
                .ingest_following("f", &data[..], Some((&d, None)), Some(&mut follow))
                .unwrap();
            assert_eq!(info.digest, d);
            h.unwrap().join().unwrap()
        });
        let (v, committed) = got.unwrap();
        assert_eq!(v, data);
        assert_eq!(committed.unwrap().digest, d);
        // a wrong digest: the follower fails, nothing is named or left
        let wrong = Digest::of(b"other");
        let res = std::thread::scope(|sc| {
            let mut h = None;
            let mut follow = |mut f: Follower| {
                h = Some(sc.spawn(move || f.read_to_end(&mut Vec::new())));
            };
            let e = s
                .ingest_following("g", &data[..], Some((&wrong, None)), Some(&mut follow))
                .unwrap_err();
            assert!(matches!(e, ContentError::DigestMismatch { .. }), "{e}");
            h.unwrap().join().unwrap()
        });
        assert!(res.is_err());
        assert_eq!(s.walk().unwrap().len(), 1);
        assert!(s.ingests().unwrap().is_empty());
        // a writer dropped uncommitted: the follower fails instead of waiting forever
        let mut w = s.writer("h", None).unwrap().unwrap();
        let mut f = w.follow().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(f.read(&mut [0u8; 16]).is_err());
        s.abort("h").unwrap();
        // an existing blob or a resumed ingest is not followed
        let mut called = false;
        let mut follow = |_f: Follower| called = true;
        s.ingest_following("i", &data[..], Some((&d, None)), Some(&mut follow))
            .unwrap();
        assert!(!called);
    }

    #[test]
    fn concurrent_writers_of_one_blob() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let d = Digest::of(&data);
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    let info = s
                        .ingest("same", &data[..], Some((&d, Some(data.len() as u64))))
                        .unwrap();
                    assert_eq!(info.digest, d);
                });
            }
        });
        assert_eq!(s.walk().unwrap().len(), 1);
        assert!(s.ingests().unwrap().is_empty());
        assert_eq!(s.read_to_vec(&d, 1 << 21).unwrap(), data);
    }
}
