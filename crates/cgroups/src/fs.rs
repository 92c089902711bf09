//! Small file helpers for cgroupfs that turn I/O errors into [`CgroupError`]s naming the file.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::CgroupError;

/// Reads a whole cgroup file.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|err| CgroupError::Read {
        file: path.to_path_buf(),
        err,
    })
}

/// Reads a file, `None` if it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(CgroupError::Read {
            file: path.to_path_buf(),
            err,
        }),
    }
}

/// Reads a single number; `max` reads as `None`.
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>, CgroupError> {
    parse_u64(path, &read(path)?)
}

/// Like [`read_u64`], but a missing file is `Ok(None)` too.
pub(crate) fn read_u64_opt(path: &Path) -> Result<Option<u64>, CgroupError> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, &s),
        None => Ok(None),
    }
}

pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<Option<u64>, CgroupError> {
    let t = s.trim();
    if t == "max" {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| CgroupError::Malformed {
        file: path.to_path_buf(),
        reason: format!("{t:?} is not a number"),
    })
}

/// Parses a flat keyed file (`key value` per line) into a map; lines that do not parse are
/// skipped.
pub(crate) fn parse_flat_keyed(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Writes `value` to an existing cgroup file with a single `write(2)`.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let res = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|err| CgroupError::Write {
        file: path.to_path_buf(),
        value: value.to_string(),
        err,
    })
}

/// Creates `dir` and any missing parents, returning the directories that were created (top
/// first). Survives a concurrent creator or a concurrent removal of an empty parent.
pub(crate) fn mkdir_p(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.is_dir() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    missing.reverse();
    let mut created = Vec::new();
    for d in missing {
        let mut tries = 0;
        loop {
            match std::fs::create_dir(&d) {
                Ok(()) => {
                    created.push(d.clone());
                    break;
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => break,
                // A parent vanished under us (another container's destroy removed an empty
                // `berth` parent): create it again.
                Err(e) if e.kind() == ErrorKind::NotFound && tries < 5 => {
                    tries += 1;
                    if let Some(p) = d.parent() {
                        created.extend(mkdir_p(p)?);
                    }
                }
                Err(err) => return Err(CgroupError::Create { path: d, err }),
            }
        }
    }
    Ok(created)
}

/// Removes a cgroup directory and its descendant cgroups (depth first), retrying briefly on
/// `EBUSY` (exiting tasks still charged). A missing directory is fine.
pub(crate) fn remove_cgroup(dir: &Path) -> Result<(), CgroupError> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path())?;
            }
        }
    }
    let mut delay = Duration::from_millis(5);
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 10 => {
                tries += 1;
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(err) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    err,
                })
            }
        }
    }
}

/// Reads a `cgroup.procs` file into pids.
pub(crate) fn read_pids(path: &Path) -> Result<Vec<i32>, CgroupError> {
    let s = match read_opt(path)? {
        Some(s) => s,
        // The cgroup is gone: nobody is in it.
        None => return Ok(Vec::new()),
    };
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::Malformed {
                file: path.to_path_buf(),
                reason: format!("{l:?} is not a pid"),
            })
        })
        .collect()
}

/// The pids of `dir` and every descendant cgroup.
pub(crate) fn read_pids_recursive(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut out = read_pids(&dir.join("cgroup.procs"))?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(read_pids_recursive(&e.path())?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed() {
        let m = parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\nbad\n");
        assert_eq!(m["oom_kill"], 3);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn numbers() {
        let p = Path::new("f");
        assert_eq!(parse_u64(p, "42\n").unwrap(), Some(42));
        assert_eq!(parse_u64(p, "max\n").unwrap(), None);
        assert!(parse_u64(p, "x").is_err());
    }

    #[test]
    fn mkdir_p_and_remove_on_a_plain_fs() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b/c");
        let created = mkdir_p(&d).unwrap();
        assert_eq!(
            created,
            [t.path().join("a"), t.path().join("a/b"), d.clone()]
        );
        assert!(mkdir_p(&d).unwrap().is_empty());
        remove_cgroup(&t.path().join("a")).unwrap();
        assert!(!t.path().join("a").exists());
        remove_cgroup(&t.path().join("a")).unwrap();
    }
}
