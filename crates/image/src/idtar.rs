//! Owners in tar streams through a user namespace's mapping, as the streams pass: `docker cp`
//! into a remapped container gives the archive's ids their host ids ([`Direction::ToHost`]),
//! `docker cp` out of one gives the host ids back as the container's ([`Direction::ToContainer`]).
//!
//! A small state machine over 512-byte blocks: a header block of a file entry gets its uid and
//! gid rewritten (and its checksum), PAX and GNU long-name records and every data block pass
//! untouched. The end-of-archive zero blocks, and whatever follows, pass too.
use std::io::{self, Read, Write};

use crate::snapshot::IdMap;

/// Which way ids go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Container ids in, host ids out; an id outside the mapping is an error.
    ToHost,
    /// Host ids in, container ids out; an id outside the mapping is kept: a stopped container's
    /// layers show the image's own ids (not mapped), and the kernel already shows unmapped ids
    /// of a running one as 65534.
    ToContainer,
}

fn forward(ranges: &[[u32; 3]], id: u64) -> Option<u64> {
    ranges.iter().find_map(|[c, h, n]| {
        id.checked_sub(u64::from(*c))
            .filter(|off| *off < u64::from(*n))
            .map(|off| u64::from(*h) + off)
    })
}

#[derive(Debug)]
struct Shifter {
    map: IdMap,
    dir: Direction,
    /// Data blocks of the current entry still to pass.
    data_blocks: u64,
}

impl Shifter {
    fn id(&self, uid: bool, id: u64, name: &str) -> io::Result<u64> {
        let ranges = if uid { &self.map.uids } else { &self.map.gids };
        match self.dir {
            Direction::ToHost => forward(ranges, id).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} {id} of {name} is outside the container's user namespace mapping",
                        if uid { "uid" } else { "gid" }
                    ),
                )
            }),
            Direction::ToContainer if uid => Ok(self.map.commit_uid(id)),
            Direction::ToContainer => Ok(self.map.commit_gid(id)),
        }
    }

    fn block(&mut self, b: &mut [u8; 512]) -> io::Result<()> {
        if self.data_blocks > 0 {
            self.data_blocks -= 1;
            return Ok(());
        }
        if b.iter().all(|x| *x == 0) {
            return Ok(());
        }
        let h = tar::Header::from_byte_slice(b.as_slice());
        let size = h.entry_size()?;
        let kind = h.entry_type();
        let meta = matches!(
            kind,
            tar::EntryType::XHeader
                | tar::EntryType::XGlobalHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        );
        // Hard links, symlinks, directories and devices carry no data whatever the size says.
        let has_data =
            meta || matches!(
                kind,
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse
            ) || kind.as_byte() == 0;
        self.data_blocks = if has_data { size.div_ceil(512) } else { 0 };
        if !meta {
            let name = String::from_utf8_lossy(&h.path_bytes()).into_owned();
            let (uid, gid) = (h.uid()?, h.gid()?);
            let uid = self.id(true, uid, &name)?;
            let gid = self.id(false, gid, &name)?;
            let mut h = h.clone();
            h.set_uid(uid);
            h.set_gid(gid);
            h.set_cksum();
            b.copy_from_slice(h.as_bytes());
        }
        Ok(())
    }
}

/// A reader of the tar stream `inner` with owners moved through a mapping.
#[derive(Debug)]
pub struct ShiftReader<R> {
    inner: R,
    s: Shifter,
    buf: [u8; 512],
    pos: usize,
    len: usize,
}

impl<R: Read> ShiftReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, map: IdMap, dir: Direction) -> Self {
        ShiftReader {
            inner,
            s: Shifter {
                map,
                dir,
                data_blocks: 0,
            },
            buf: [0; 512],
            pos: 0,
            len: 0,
        }
    }
}

impl<R: Read> Read for ShiftReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            let mut n = 0;
            while n < 512 {
                match self.inner.read(&mut self.buf[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if n == 0 {
                return Ok(0);
            }
            if n == 512 {
                self.s.block(&mut self.buf)?;
            }
            self.pos = 0;
            self.len = n;
        }
        let k = out.len().min(self.len - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// A writer that moves owners of the tar stream written to it through a mapping into `inner`.
/// Call [`ShiftWriter::finish`] (or flush) at the end: a trailing partial block is passed on.
#[derive(Debug)]
pub struct ShiftWriter<W: Write> {
    inner: W,
    s: Shifter,
    buf: [u8; 512],
    len: usize,
}

impl<W: Write> ShiftWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, map: IdMap, dir: Direction) -> Self {
        ShiftWriter {
            inner,
            s: Shifter {
                map,
                dir,
                data_blocks: 0,
            },
            buf: [0; 512],
            len: 0,
        }
    }

    /// Passes on what is buffered and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ShiftWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let k = data.len().min(512 - self.len);
        self.buf[self.len..self.len + k].copy_from_slice(&data[..k]);
        self.len += k;
        if self.len == 512 {
            self.s.block(&mut self.buf)?;
            self.inner.write_all(&self.buf)?;
            self.len = 0;
        }
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.len > 0 {
            self.inner.write_all(&self.buf[..self.len])?;
            self.len = 0;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> IdMap {
        IdMap {
            uids: vec![[0, 100000, 65536]],
            gids: vec![[0, 200000, 65536]],
        }
    }

    fn archive(uid: u64) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(700);
        h.set_entry_type(tar::EntryType::Regular);
        // 700 bytes that look like a header-ish block of zeros and text: data must pass as is.
        let data: Vec<u8> = (0..700u32).map(|i| (i % 7) as u8).collect();
        b.append_data(&mut h, format!("{}/f", "x".repeat(120)), &data[..])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_uid(uid + 1);
        h.set_gid(uid + 1);
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, "d/", &b""[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn owners(t: &[u8]) -> Vec<(u64, u64, usize)> {
        tar::Archive::new(t)
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let (u, g) = (e.header().uid().unwrap(), e.header().gid().unwrap());
                let mut v = Vec::new();
                e.read_to_end(&mut v).unwrap();
                (u, g, v.len())
            })
            .collect()
    }

    #[test]
    fn reader_gives_host_ids_and_keeps_data() {
        let src = archive(5);
        let mut out = Vec::new();
        ShiftReader::new(&src[..], map(), Direction::ToHost)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), src.len());
        assert_eq!(owners(&out), [(100005, 200005, 700), (100006, 200006, 0)]);
    }

    #[test]
    fn ids_outside_the_mapping_are_refused_on_the_way_in() {
        let src = archive(70000);
        let mut out = Vec::new();
        let e = ShiftReader::new(&src[..], map(), Direction::ToHost)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(e.to_string().contains("uid 70000"), "{e}");
    }

    #[test]
    fn writer_gives_container_ids_back() {
        let src = archive(100005);
        let mut w = ShiftWriter::new(Vec::new(), map(), Direction::ToContainer);
        for chunk in src.chunks(333) {
            w.write_all(chunk).unwrap();
        }
        let out = w.finish().unwrap();
        assert_eq!(out.len(), src.len());
        // gid 100005 is outside the gid mapping (200000…): kept.
        assert_eq!(owners(&out), [(5, 100005, 700), (6, 100006, 0)]);
    }
}
