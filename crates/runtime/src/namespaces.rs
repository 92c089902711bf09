//! Namespaces: which to create with clone(2), which to join by path, and id mappings.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::error::{IoContext, Result, RuntimeError};

pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The file name below /proc/<pid>/ns/ for a namespace type.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The order in which namespaces are joined: user first (it grants the rights for the others),
/// mount last (paths must still resolve on the host until then).
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// What to do with namespaces at create time.
#[derive(Debug, Clone, Default)]
pub struct NsPlan {
    /// Flags for clone(2) (CLONE_NEWTIME excluded: it needs unshare in the parent).
    pub clone_flags: libc::c_int,
    pub new_time: bool,
    pub new_user: bool,
    /// Namespaces to join, in [`JOIN_ORDER`].
    pub joins: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl NsPlan {
    pub fn from_spec(spec: &Spec) -> Result<Self> {
        let mut p = NsPlan::default();
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for t in JOIN_ORDER {
            let Some(ns) = list.iter().find(|n| n.typ() == t) else {
                continue;
            };
            match ns.path() {
                Some(path) => p.joins.push((t, path.clone())),
                None if t == LinuxNamespaceType::Time => p.new_time = true,
                None => {
                    p.clone_flags |= flag(t);
                    if t == LinuxNamespaceType::User {
                        p.new_user = true;
                    }
                }
            }
        }
        let joins_user = p.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::User);
        // With a new user namespace, the network, IPC, UTS and PID namespaces to join are
        // joined by the caller before the clone (it has the capabilities over them that the
        // container's root lacks); the others cannot be joined from inside.
        if p.new_user
            && p.joins.iter().any(|(t, _)| {
                !matches!(
                    t,
                    LinuxNamespaceType::Network
                        | LinuxNamespaceType::Ipc
                        | LinuxNamespaceType::Uts
                        | LinuxNamespaceType::Pid
                )
            })
        {
            return Err(RuntimeError::spec(
                "linux.namespaces",
                "with a new user namespace only network, ipc, uts and pid namespaces can be joined",
            ));
        }
        if joins_user && p.clone_flags != 0 {
            return Err(RuntimeError::spec(
                "linux.namespaces",
                "creating namespaces inside a joined user namespace is not supported yet",
            ));
        }
        Ok(p)
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.clone_flags & flag(t) != 0 || self.joins.iter().any(|(j, _)| *j == t)
    }
}

/// Open every namespace to join (in the caller, before cloning).
pub fn open_joins(joins: &[(LinuxNamespaceType, PathBuf)]) -> Result<Vec<(libc::c_int, OwnedFd)>> {
    joins
        .iter()
        .map(|(t, path)| {
            let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))
                .ctx(|| format!("open namespace {}", path.display()))?;
            Ok((flag(*t), fd))
        })
        .collect()
}

/// The text written to /proc/<pid>/{uid,gid}_map.
pub fn id_map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Is `id` mapped inside the namespace described by `maps`?
pub fn is_mapped(maps: &[LinuxIdMapping], id: u32) -> bool {
    maps.iter()
        .any(|m| id >= m.container_id() && id - m.container_id() < m.size())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: serde_json::Value) -> Spec {
        crate::spec::parse(
            serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": ns}})
                .to_string()
                .as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn new_namespaces_become_clone_flags() {
        let p = NsPlan::from_spec(&spec(serde_json::json!([
            {"type": "pid"}, {"type": "network"}, {"type": "mount"}, {"type": "time"}
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.clone_flags,
            libc::CLONE_NEWPID | libc::CLONE_NEWNET | libc::CLONE_NEWNS
        );
        assert!(p.new_time && !p.new_user && p.joins.is_empty());
    }

    #[test]
    fn joins_are_ordered_user_first_mount_last() {
        let p = NsPlan::from_spec(&spec(serde_json::json!([
            {"type": "mount", "path": "/proc/1/ns/mnt"},
            {"type": "network", "path": "/proc/1/ns/net"},
            {"type": "user", "path": "/proc/1/ns/user"}
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        let order: Vec<_> = p.joins.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            order,
            vec![
                LinuxNamespaceType::User,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Mount
            ]
        );
    }

    #[test]
    fn id_maps_render_and_match() {
        let m: Vec<LinuxIdMapping> = serde_json::from_value(serde_json::json!([
            {"containerID": 0, "hostID": 100000, "size": 65536}
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id_map_text(&m), "0 100000 65536\n");
        assert!(is_mapped(&m, 0) && is_mapped(&m, 65535) && !is_mapped(&m, 65536));
    }
}
