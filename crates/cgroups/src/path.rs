//! `linux.cgroupsPath` semantics, as runc's cgroupfs driver:
//!
//! - absolute (`/a/b`): relative to each hierarchy's root (its mount point);
//! - relative (`a/b`): relative to the **caller's own cgroup** in that hierarchy (from
//!   `/proc/self/cgroup`);
//! - absent: the caller picks a default, e.g. [`CgroupPath::default_for`] (`berth/<id>`).
//!
//! `.` and empty components are dropped; `..` is allowed only while it stays inside the path
//! (`a/../b` is `b`), a `..` that would climb above the start is refused, as are paths that name
//! the start itself (`/`, `.`), NUL bytes, and the systemd driver's `slice:prefix:name` form.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CgroupError;
use crate::layout::Hierarchy;

/// The name of the parent cgroup Berth uses for containers by default.
pub const DEFAULT_PARENT: &str = "berth";

/// A validated, normalised `cgroupsPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupPath {
    /// Relative to each hierarchy's root. The stored path has no leading `/`.
    Absolute(PathBuf),
    /// Relative to the caller's own cgroup in each hierarchy.
    Relative(PathBuf),
}

impl CgroupPath {
    /// Parses and normalises a `cgroupsPath` string.
    pub fn parse(s: &str) -> Result<CgroupPath, CgroupError> {
        let refuse = |reason: &str| CgroupError::Path {
            path: s.to_string(),
            reason: reason.to_string(),
        };
        if s.contains('\0') {
            return Err(refuse("contains a NUL byte"));
        }
        if !s.contains('/') && s.matches(':').count() == 2 {
            return Err(refuse(
                "looks like the systemd driver's slice:prefix:name form, which is not supported; \
                 use a cgroupfs path",
            ));
        }
        let absolute = s.starts_with('/');
        let mut parts: Vec<&str> = Vec::new();
        for c in s.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(refuse(if absolute {
                            "'..' climbs above the hierarchy root"
                        } else {
                            "'..' climbs above the caller's cgroup"
                        }));
                    }
                }
                c => parts.push(c),
            }
        }
        if parts.is_empty() {
            return Err(refuse(if absolute {
                "names the root cgroup"
            } else {
                "names the caller's own cgroup"
            }));
        }
        let p: PathBuf = parts.iter().collect();
        Ok(if absolute {
            CgroupPath::Absolute(p)
        } else {
            CgroupPath::Relative(p)
        })
    }

    /// From the spec's `linux.cgroupsPath`, or `default` when it is absent or empty.
    pub fn from_spec(
        cgroups_path: Option<&Path>,
        default: impl FnOnce() -> CgroupPath,
    ) -> Result<CgroupPath, CgroupError> {
        match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => {
                let s = p.to_str().ok_or_else(|| CgroupError::Path {
                    path: p.to_string_lossy().into_owned(),
                    reason: "is not valid UTF-8".into(),
                })?;
                CgroupPath::parse(s)
            }
            _ => Ok(default()),
        }
    }

    /// Berth's default for a container without `cgroupsPath`: relative `berth/<id>`.
    pub fn default_for(id: &str) -> Result<CgroupPath, CgroupError> {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." || id.contains('\0') {
            return Err(CgroupError::Path {
                path: id.to_string(),
                reason: "a container id must be a single path component".into(),
            });
        }
        Ok(CgroupPath::Relative(Path::new(DEFAULT_PARENT).join(id)))
    }

    /// The normalised path without its anchor.
    pub fn inner(&self) -> &Path {
        match self {
            CgroupPath::Absolute(p) | CgroupPath::Relative(p) => p,
        }
    }

    /// The directory of this cgroup in one hierarchy.
    pub fn resolve(&self, h: &Hierarchy) -> Result<PathBuf, CgroupError> {
        Ok(self.anchor(h)?.join(self.inner()))
    }

    /// The directory `inner()` is relative to in hierarchy `h`: the mount point for absolute
    /// paths, the caller's own cgroup for relative ones.
    pub fn anchor(&self, h: &Hierarchy) -> Result<PathBuf, CgroupError> {
        match self {
            CgroupPath::Absolute(_) => Ok(h.mount_point.clone()),
            CgroupPath::Relative(_) => h.own_dir().ok_or_else(|| CgroupError::Path {
                path: self.to_string(),
                reason: format!(
                    "is relative, but /proc/self/cgroup does not place the caller below {}",
                    h.mount_point.display()
                ),
            }),
        }
    }
}

impl fmt::Display for CgroupPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupPath::Absolute(p) => write!(f, "/{}", p.display()),
            CgroupPath::Relative(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(own: Option<&str>) -> Hierarchy {
        Hierarchy {
            mount_point: PathBuf::from("/sys/fs/cgroup/memory"),
            root: "/".into(),
            controllers: vec!["memory".into()],
            own: own.map(PathBuf::from),
        }
    }

    #[test]
    fn absolute_is_relative_to_the_mount_point() {
        let p = CgroupPath::parse("/berth/abc").unwrap();
        assert_eq!(p, CgroupPath::Absolute(PathBuf::from("berth/abc")));
        assert_eq!(
            p.resolve(&h(Some("process_api/x"))).unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/berth/abc")
        );
        // Absolute paths do not need our own membership.
        assert!(p.resolve(&h(None)).is_ok());
        assert_eq!(p.to_string(), "/berth/abc");
    }

    #[test]
    fn relative_is_relative_to_our_own_cgroup() {
        let p = CgroupPath::parse("berth/abc").unwrap();
        assert_eq!(
            p.resolve(&h(Some("process_api/x"))).unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/x/berth/abc")
        );
        assert_eq!(
            p.resolve(&h(Some(""))).unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/berth/abc")
        );
        assert!(p.resolve(&h(None)).is_err());
    }

    #[test]
    fn normalises_dots_and_slashes() {
        assert_eq!(
            CgroupPath::parse("//a/./b//../c/").unwrap(),
            CgroupPath::Absolute(PathBuf::from("a/c"))
        );
        assert_eq!(
            CgroupPath::parse("a/b/..").unwrap(),
            CgroupPath::Relative(PathBuf::from("a"))
        );
    }

    #[test]
    fn escapes_are_refused() {
        for s in ["..", "../x", "a/../../x", "/../x", "/a/../..", "a/./../.."] {
            let e = CgroupPath::parse(s).unwrap_err().to_string();
            assert!(e.contains("climbs above"), "{s}: {e}");
        }
        for s in ["/", "", ".", "a/..", "/a/.."] {
            assert!(CgroupPath::parse(s).is_err(), "{s}");
        }
        assert!(CgroupPath::parse("a\0b").is_err());
        assert!(CgroupPath::parse("system.slice:berth:abc").is_err());
    }

    #[test]
    fn defaults() {
        let p = CgroupPath::from_spec(None, || CgroupPath::default_for("abc").unwrap()).unwrap();
        assert_eq!(p, CgroupPath::Relative(PathBuf::from("berth/abc")));
        let p = CgroupPath::from_spec(Some(Path::new("")), || {
            CgroupPath::default_for("x").unwrap()
        })
        .unwrap();
        assert_eq!(p.to_string(), "berth/x");
        let p = CgroupPath::from_spec(Some(Path::new("/y")), || unreachable!()).unwrap();
        assert_eq!(p.to_string(), "/y");
        assert!(CgroupPath::default_for("a/b").is_err());
        assert!(CgroupPath::default_for("..").is_err());
    }
}
