//! `--user name[:group]`: resolved in the container's own /etc/passwd and /etc/group, read through
//! the container's root by fd (RESOLVE_IN_ROOT), never by joining host paths.
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// uid, gid and supplementary gids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub additional: Vec<u32>,
}

fn read_in_root(root: &OwnedFd, rel: &str) -> Option<String> {
    let fd = rustix::fs::openat2(
        root.as_fd(),
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let mut s = String::new();
    // A passwd file larger than this is not one.
    std::fs::File::from(fd)
        .take(4 << 20)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// Docker's rules: a name or uid from passwd gives its primary gid and the groups listing it;
/// a numeric uid absent from passwd is used as is with gid 0; `:group` overrides the gid.
pub fn resolve(root: &Path, spec: &str) -> Result<Ids, String> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open {}: {e}", root.display()))?;
    let passwd = read_in_root(&dir, "etc/passwd").unwrap_or_default();
    let group = read_in_root(&dir, "etc/group").unwrap_or_default();
    resolve_in(&passwd, &group, spec)
}

pub fn resolve_in(passwd: &str, group: &str, spec: &str) -> Result<Ids, String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users: Vec<Vec<&str>> = passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let groups: Vec<Vec<&str>> = group
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    let entry = users
        .iter()
        .find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let (uid, mut gid, name) = match (entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| format!("bad uid in passwd for {u}"))?,
            f[3].parse::<u32>().unwrap_or(0),
            Some(f[0]),
        ),
        (None, Ok(n)) => (n, 0, None),
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        }
    };
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse::<u32>().ok())
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    let mut additional: Vec<u32> = match name {
        Some(n) => groups
            .iter()
            .filter(|f| f.get(3).is_some_and(|m| m.split(',').any(|x| x == n)))
            .filter_map(|f| f[2].parse::<u32>().ok())
            .filter(|x| *x != gid)
            .collect(),
        None => Vec::new(),
    };
    additional.sort_unstable();
    additional.dedup();
    Ok(Ids {
        uid,
        gid,
        additional,
    })
}

/// Write `ids` into an OCI process object.
pub fn apply(process: &mut serde_json::Value, ids: &Ids) {
    process["user"] = serde_json::json!({
        "uid": ids.uid,
        "gid": ids.gid,
        "additionalGids": ids.additional,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nweb:x:1000:1000::/srv:/bin/sh\n";
    const G: &str =
        "root:x:0:\nstaff:x:50:web\nnogroup:x:65534:\nweb:x:1000:\naudio:x:29:web,other\n";

    #[test]
    fn names_and_numbers_resolve_like_docker() {
        let w = resolve_in(P, G, "web").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (w.uid, w.gid, w.additional.clone()),
            (1000, 1000, vec![29, 50])
        );
        let n = resolve_in(P, G, "nobody").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n.uid, n.gid), (65534, 65534));
        let x = resolve_in(P, G, "4242").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((x.uid, x.gid), (4242, 0));
        let s = resolve_in(P, G, "web:staff").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.uid, s.gid), (1000, 50));
        let e = resolve_in(P, G, "ghost").err().unwrap_or_default();
        assert!(e.contains("no matching entries in passwd"), "{e}");
        let e = resolve_in(P, G, "web:ghosts").err().unwrap_or_default();
        assert!(e.contains("group file"), "{e}");
    }
}
