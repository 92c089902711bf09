//! The host's cgroup layout: which hierarchies are mounted where (from `/proc/self/mountinfo`)
//! and where the calling process sits in each of them (from `/proc/self/cgroup`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CgroupError;
use crate::plan::Version;

/// Names of the v1 controllers this crate knows. Anything else in a `cgroup` mount's super
/// options is a mount option (`rw`, `xattr`, `clone_children`, …), except `name=…`.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayoutKind {
    /// Only v1 hierarchies.
    V1,
    /// v1 hierarchies hold the controllers; a cgroup2 hierarchy (usually
    /// `/sys/fs/cgroup/unified`) is mounted too, used only for process tracking.
    Hybrid,
    /// Only cgroup2 (usually mounted at `/sys/fs/cgroup`).
    V2,
}

/// One mounted hierarchy and the caller's place in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The cgroup that is mounted there (mountinfo's root field), usually `/`.
    pub root: String,
    /// v1: the controllers of this hierarchy (`cpu`, `cpuacct`, `name=systemd`…), in the order the
    /// mount options list them. v2: empty.
    pub controllers: Vec<String>,
    /// The caller's cgroup relative to `mount_point` (empty = the mount point itself), or `None`
    /// when `/proc/self/cgroup` does not place the caller below this mount.
    pub own: Option<PathBuf>,
}

impl Hierarchy {
    /// Whether this (v1) hierarchy carries `controller`.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The caller's own cgroup directory in this hierarchy.
    pub fn own_dir(&self) -> Option<PathBuf> {
        self.own.as_ref().map(|o| self.mount_point.join(o))
    }
}

/// The cgroup layout of the host as seen by the calling process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// v1, hybrid or v2.
    pub kind: LayoutKind,
    /// The v1 hierarchies (empty on pure v2), one entry per hierarchy (co-mounted controllers
    /// share an entry).
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 hierarchy, if mounted.
    pub unified: Option<Hierarchy>,
}

impl Layout {
    /// Reads `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn detect() -> Result<Layout, CgroupError> {
        let read = |p: &str| {
            std::fs::read_to_string(p).map_err(|err| CgroupError::Read {
                file: PathBuf::from(p),
                err,
            })
        };
        Layout::parse(&read("/proc/self/mountinfo")?, &read("/proc/self/cgroup")?)
    }

    /// Builds the layout from the text of a mountinfo file and a `/proc/<pid>/cgroup` file.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Result<Layout, CgroupError> {
        let mounts = parse_mountinfo(mountinfo)?;
        let memberships = parse_proc_cgroup(proc_cgroup)?;
        let mut v1: Vec<Hierarchy> = Vec::new();
        let mut unified: Option<Hierarchy> = None;
        for m in mounts {
            match m.fstype.as_str() {
                "cgroup" => {
                    let controllers: Vec<String> = m
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    let own = memberships
                        .iter()
                        .find(|mb| same_set(&mb.controllers, &controllers))
                        .and_then(|mb| relative_to_root(&mb.path, &m.root));
                    let h = Hierarchy {
                        mount_point: m.mount_point,
                        root: m.root,
                        controllers,
                        own,
                    };
                    // The same hierarchy may be mounted more than once: keep the first mount
                    // that contains the caller's cgroup.
                    if let Some(prev) = v1
                        .iter_mut()
                        .find(|p| same_set(&p.controllers, &h.controllers))
                    {
                        if prev.own.is_none() && h.own.is_some() {
                            *prev = h;
                        }
                    } else {
                        v1.push(h);
                    }
                }
                "cgroup2" => {
                    let own = memberships
                        .iter()
                        .find(|mb| mb.id == 0 && mb.controllers.is_empty())
                        .and_then(|mb| relative_to_root(&mb.path, &m.root));
                    let h = Hierarchy {
                        mount_point: m.mount_point,
                        root: m.root,
                        controllers: Vec::new(),
                        own,
                    };
                    match &unified {
                        Some(prev) if prev.own.is_some() || h.own.is_none() => {}
                        _ => unified = Some(h),
                    }
                }
                _ => {}
            }
        }
        let has_v1_controllers = v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        let kind = match (has_v1_controllers, unified.is_some()) {
            (true, false) => LayoutKind::V1,
            (true, true) => LayoutKind::Hybrid,
            (false, true) => LayoutKind::V2,
            (false, false) => {
                return Err(CgroupError::Layout(
                    "no cgroup or cgroup2 hierarchy is mounted".into(),
                ))
            }
        };
        if kind == LayoutKind::V2 {
            v1.clear();
        }
        Ok(Layout { kind, v1, unified })
    }

    /// The resource model the controllers use: v1 for v1 and hybrid hosts, v2 for pure v2.
    pub fn version(&self) -> Version {
        match self.kind {
            LayoutKind::V1 | LayoutKind::Hybrid => Version::V1,
            LayoutKind::V2 => Version::V2,
        }
    }

    /// The v1 hierarchy that carries `controller` (`memory`, `name=systemd`…).
    pub fn v1_hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// `path` (from /proc/self/cgroup) relative to the mount's root, or `None` if it is not below it.
fn relative_to_root(path: &str, root: &str) -> Option<PathBuf> {
    let rel = Path::new(path).strip_prefix(Path::new(root)).ok()?;
    Some(rel.to_path_buf())
}

/// One line of mountinfo, the fields this crate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Root of the mount within its filesystem.
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Filesystem type (`cgroup`, `cgroup2`, …).
    pub fstype: String,
    /// Super-block options (for v1 cgroups: the controllers).
    pub super_options: String,
}

/// Parses `/proc/<pid>/mountinfo` text.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>, CgroupError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| CgroupError::Malformed {
            file: PathBuf::from("mountinfo"),
            reason: format!("line {}: {reason}", n + 1),
        };
        let (pre, post) = line
            .split_once(" - ")
            .ok_or_else(|| bad("no ' - ' separator"))?;
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 6 || post.len() < 3 {
            return Err(bad("too few fields"));
        }
        out.push(MountInfo {
            root: unescape(pre[3]),
            mount_point: PathBuf::from(unescape(pre[4])),
            fstype: post[0].to_string(),
            super_options: post[2].to_string(),
        });
    }
    Ok(out)
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = u32::from(oct[0] - b'0') * 64
                    + u32::from(oct[1] - b'0') * 8
                    + u32::from(oct[2] - b'0');
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Hierarchy id (0 for cgroup2).
    pub id: u32,
    /// Controllers of the hierarchy (`cpu`, `cpuacct`, `name=systemd`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// The cgroup path, absolute within the hierarchy.
    pub path: String,
}

/// Parses `/proc/<pid>/cgroup` text.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<Membership>, CgroupError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CgroupError::Malformed {
                file: PathBuf::from("/proc/self/cgroup"),
                reason: format!("line {}: expected id:controllers:path", n + 1),
            });
        };
        let id = id.parse().map_err(|_| CgroupError::Malformed {
            file: PathBuf::from("/proc/self/cgroup"),
            reason: format!("line {}: bad hierarchy id {id:?}", n + 1),
        })?;
        out.push(Membership {
            id,
            controllers: ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            path: path.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:9 - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/2d6c
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_layout() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP).unwrap();
        assert_eq!(l.kind, LayoutKind::Hybrid);
        assert_eq!(l.version(), Version::V1);
        assert_eq!(l.v1.len(), 9);
        let mem = l.v1_hierarchy("memory").unwrap();
        assert_eq!(mem.mount_point, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(mem.own, Some(PathBuf::from("process_api/2d6c")));
        assert_eq!(
            mem.own_dir(),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/2d6c"))
        );
        let sd = l.v1_hierarchy("name=systemd").unwrap();
        assert_eq!(sd.controllers, vec!["name=systemd".to_string()]);
        assert_eq!(sd.own, Some(PathBuf::new()));
        let u = l.unified.as_ref().unwrap();
        assert_eq!(u.mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(u.own, Some(PathBuf::new()));
    }

    #[test]
    fn comounted_controllers_share_a_hierarchy() {
        let mi = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let pc = "2:cpuacct,cpu:/a/b\n1:memory:/a\n";
        let l = Layout::parse(mi, pc).unwrap();
        assert_eq!(l.kind, LayoutKind::V1);
        let cpu = l.v1_hierarchy("cpu").unwrap();
        assert!(cpu.has("cpuacct"));
        assert_eq!(cpu.own, Some(PathBuf::from("a/b")));
        assert_eq!(l.v1_hierarchy("cpuacct"), Some(cpu));
    }

    #[test]
    fn pure_v2_and_nonroot_mount() {
        let mi = "\
30 23 0:26 /ns /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
";
        let pc = "0::/ns/user.slice/session-1.scope\n";
        let l = Layout::parse(mi, pc).unwrap();
        assert_eq!(l.kind, LayoutKind::V2);
        assert_eq!(l.version(), Version::V2);
        let u = l.unified.unwrap();
        assert_eq!(u.root, "/ns");
        assert_eq!(u.own, Some(PathBuf::from("user.slice/session-1.scope")));
    }

    #[test]
    fn own_cgroup_outside_mount_root_is_none() {
        let mi = "35 31 0:32 /other /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let l = Layout::parse(mi, "4:memory:/mine\n").unwrap();
        assert_eq!(l.v1[0].own, None);
    }

    #[test]
    fn duplicate_mount_prefers_one_containing_us() {
        let mi = "\
35 31 0:32 /other /mnt/a rw - cgroup cgroup rw,memory
36 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let l = Layout::parse(mi, "4:memory:/mine\n").unwrap();
        assert_eq!(l.v1.len(), 1);
        assert_eq!(l.v1[0].mount_point, PathBuf::from("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn no_cgroups_is_an_error() {
        let mi = "22 1 0:21 / /proc rw - proc proc rw\n";
        assert!(Layout::parse(mi, "").is_err());
    }

    #[test]
    fn mountinfo_escapes_and_errors() {
        let m = parse_mountinfo("1 2 0:3 / /a\\040b rw - cgroup2 none rw\n").unwrap();
        assert_eq!(m[0].mount_point, PathBuf::from("/a b"));
        assert!(parse_mountinfo("1 2 0:3 / /a rw cgroup2 none rw\n").is_err());
        assert!(parse_proc_cgroup("x:memory:/\n").is_err());
        assert!(parse_proc_cgroup("nonsense\n").is_err());
    }
}
