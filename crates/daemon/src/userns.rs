//! `--userns-remap`: containers' root is an unprivileged range of host ids.
//!
//! The setting names a user (`default` is `berth-remap`, created with useradd when missing, as
//! dockerd does with `dockremap`) whose subordinate ranges in `/etc/subuid` and `/etc/subgid`
//! become every container's mapping: container ids 0, 1, … are the ranges' host ids in file
//! order. `--userns=host` opts one container out.
//!
//! What the mapping changes elsewhere: the spec gets a user namespace and the mappings
//! (containers/spec.rs); the rootfs overlay gets id-mapped lower layers through the mount options
//! the shim hands to the runtime ([`Remap::mount_options`]); the container's upper dir and new
//! volumes are owned by the remapped root, and copy-up into volumes shifts owners; `--privileged`
//! and the host's network or pid namespace need `--userns=host` (Docker's rules).
//!
//! On disk, the daemon's trees stay root-owned and unwritable by the remapped ids: the data root
//! is `0710 root:<remapped gid>` (only the remapped group may traverse, to reach volumes and the
//! container's own files), the exec root and the layer store are `0700 root` so a remapped root
//! can reach neither shims' sockets nor other containers' layers.
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use berth_api::container::HostConfig;

use crate::error::{Error, Result};

/// The user `--userns-remap=default` uses.
pub const DEFAULT_USER: &str = "berth-remap";
/// The size of the range given to a user created here.
const RANGE: u32 = 65536;

/// One range: `size` ids from `container` inside are `host` … outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The daemon's remapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    /// The user and group names (`berth-remap:berth-remap`).
    pub user: String,
    pub group: String,
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

fn map(r: &[IdRange], id: u32) -> Option<u32> {
    r.iter().find_map(|r| {
        id.checked_sub(r.container)
            .filter(|o| *o < r.size)
            .map(|o| r.host + o)
    })
}

fn text(r: &[IdRange]) -> String {
    r.iter()
        .map(|r| format!("{}:{}:{}", r.container, r.host, r.size))
        .collect::<Vec<_>>()
        .join("+")
}

impl Remap {
    /// Host uid of the container's root.
    pub fn root_uid(&self) -> u32 {
        self.host_uid(0).unwrap_or(0)
    }
    /// Host gid of the container's root.
    pub fn root_gid(&self) -> u32 {
        self.host_gid(0).unwrap_or(0)
    }
    /// Host uid of container uid `id` (unmapped ids become the overflow id 65534).
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        map(&self.uids, id)
    }
    /// Host gid of container gid `id`.
    pub fn host_gid(&self, id: u32) -> Option<u32> {
        map(&self.gids, id)
    }
    /// `linux.uidMappings` / `linux.gidMappings` of the OCI spec.
    pub fn oci_mappings(&self) -> (serde_json::Value, serde_json::Value) {
        let j = |r: &[IdRange]| {
            serde_json::Value::Array(
                r.iter()
                    .map(|r| {
                        serde_json::json!({"containerID": r.container, "hostID": r.host, "size": r.size})
                    })
                    .collect(),
            )
        };
        (j(&self.uids), j(&self.gids))
    }
    /// The options that make the shim mount a container's overlay with id-mapped layers
    /// (`berth_runtime::idmap::OPTION`, same format), and where chown-copies of the layers go
    /// when the kernel cannot id-map them (`berth_runtime::idmap::CACHE_OPTION`).
    pub fn mount_options(&self, cache: &Path) -> [String; 2] {
        [
            format!("x-berth.idmap={}/{}", text(&self.uids), text(&self.gids)),
            format!("x-berth.idmap-cache={}", cache.display()),
        ]
    }
    /// The mapping as the snapshotter records it for a container's upper dir.
    pub fn snapshot_idmap(&self) -> berth_image::snapshot::IdMap {
        let r = |v: &[IdRange]| v.iter().map(|r| [r.container, r.host, r.size]).collect();
        berth_image::snapshot::IdMap {
            uids: r(&self.uids),
            gids: r(&self.gids),
        }
    }
    /// The daemon's setting as `docker info` shows it in its security options.
    pub fn security_option(&self) -> String {
        "name=userns".into()
    }
}

/// The remapping for a container with host config `h`: none with `--userns=host`.
pub fn for_container<'a>(remap: Option<&'a Remap>, h: &HostConfig) -> Option<&'a Remap> {
    remap.filter(|_| h.userns_mode != "host")
}

/// Docker's refusals under remap: what needs the host's user namespace.
pub fn check_host_config(remap: Option<&Remap>, h: &HostConfig) -> Result<()> {
    if remap.is_none() {
        if !h.userns_mode.is_empty() && h.userns_mode != "host" {
            return Err(Error::invalid(format!(
                "invalid userns mode {:?}: only \"host\" is supported",
                h.userns_mode
            )));
        }
        return Ok(());
    }
    if !h.userns_mode.is_empty() && h.userns_mode != "host" {
        return Err(Error::invalid(format!(
            "invalid userns mode {:?}: only \"host\" is supported",
            h.userns_mode
        )));
    }
    if h.userns_mode == "host" {
        return Ok(());
    }
    if h.privileged {
        return Err(Error::invalid(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        ));
    }
    if h.network_mode == "host" {
        return Err(Error::invalid(
            "cannot share the host's network namespace when user namespaces are enabled",
        ));
    }
    if h.pid_mode == "host" {
        return Err(Error::invalid(
            "cannot share the host PID namespace when user namespaces are enabled",
        ));
    }
    Ok(())
}

/// Parses one subordinate-id file: the ranges of `name` (or of its numeric id `id`), in order.
pub fn parse_subids(text: &str, name: &str, id: u32) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if who != name && who != id.to_string() {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .filter(|(_, c)| *c > 0)
        .collect()
}

/// Container ranges from host ranges in file order: 0…n-1 on the first, then on.
pub fn ranges(host: &[(u32, u32)]) -> Vec<IdRange> {
    let mut next = 0u32;
    host.iter()
        .map(|(h, n)| {
            let r = IdRange {
                container: next,
                host: *h,
                size: *n,
            };
            next = next.saturating_add(*n);
            r
        })
        .collect()
}

/// The first start of a `RANGE`-sized block at or above 100000 that overlaps no range in
/// either file.
pub fn free_range(subuid: &str, subgid: &str) -> u32 {
    let mut start = 100_000u32;
    let all: Vec<(u32, u32)> = subuid
        .lines()
        .chain(subgid.lines())
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            Some((f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
        })
        .collect();
    loop {
        let end = start.saturating_add(RANGE);
        match all
            .iter()
            .find(|(s, n)| *s < end && s.saturating_add(*n) > start)
        {
            Some((s, n)) => start = s.saturating_add(*n),
            None => return start,
        }
    }
}

fn getent(db: &str, key: &str) -> Option<Vec<String>> {
    let out = Command::new("getent").args([db, key]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .to_owned();
    Some(line.split(':').map(str::to_owned).collect())
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .map_err(|e| Error::internal(format!("userns-remap: run {cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "userns-remap: {cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Resolve `--userns-remap` (`default`, `user`, `user:group`, names or numeric ids): the user
/// exists (created for `default`), and has subordinate uid and gid ranges (given one for
/// `default` when it has none). Errors say what to fix.
pub fn resolve(setting: &str) -> Result<Remap> {
    let (user, group) = match setting.split_once(':') {
        Some((u, g)) => (u.to_owned(), Some(g.to_owned())),
        None => (setting.to_owned(), None),
    };
    let default = user == "default";
    let user = if default {
        DEFAULT_USER.to_owned()
    } else {
        user
    };
    if user.is_empty() || group.as_deref() == Some("") {
        return Err(Error::invalid(format!(
            "userns-remap {setting:?}: want default, user or user:group"
        )));
    }
    let pw = match getent("passwd", &user) {
        Some(pw) => pw,
        None if default => {
            run(Command::new("useradd")
                .args(["--system", "--no-create-home", "--shell", "/bin/false"])
                .arg(&user))?;
            getent("passwd", &user).ok_or_else(|| {
                Error::internal(format!("userns-remap: user {user} missing after useradd"))
            })?
        }
        None => {
            return Err(Error::invalid(format!(
                "userns-remap: no such user: {user} (create it, with ranges in /etc/subuid and /etc/subgid, or use --userns-remap=default)"
            )))
        }
    };
    let name = pw[0].clone();
    let uid: u32 = pw.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let group = match group {
        Some(g) => getent("group", &g)
            .map(|gr| gr[0].clone())
            .ok_or_else(|| Error::invalid(format!("userns-remap: no such group: {g}")))?,
        None => pw
            .get(3)
            .and_then(|g| getent("group", g))
            .map(|gr| gr[0].clone())
            .unwrap_or_else(|| name.clone()),
    };
    let gid: u32 = getent("group", &group)
        .and_then(|g| g.get(2).and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let (mut su, mut sg) = (read("/etc/subuid"), read("/etc/subgid"));
    let need =
        parse_subids(&su, &name, uid).is_empty() || parse_subids(&sg, &group, gid).is_empty();
    if need && default {
        let start = free_range(&su, &sg);
        let r = format!("{start}-{}", start + RANGE - 1);
        // usermod takes the files' locks; the group ranges are the user's too (as dockerd's).
        run(Command::new("usermod")
            .args(["--add-subuids", &r, "--add-subgids", &r])
            .arg(&name))?;
        su = read("/etc/subuid");
        sg = read("/etc/subgid");
    }
    // Docker looks the group's ranges up under the user name when the group has none.
    let mut gr = parse_subids(&sg, &group, gid);
    if gr.is_empty() {
        gr = parse_subids(&sg, &name, uid);
    }
    let ur = parse_subids(&su, &name, uid);
    if ur.is_empty() || gr.is_empty() {
        return Err(Error::invalid(format!(
            "userns-remap: no subordinate ranges for {name} in /etc/subuid and /etc/subgid (add them, for example with usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name})"
        )));
    }
    Ok(Remap {
        user: name,
        group,
        uids: ranges(&ur),
        gids: ranges(&gr),
    })
}

/// Set `dir` to `mode` owned by root and the remapped group (traversable by the remapped root
/// only, as Docker does for `<root>/<uid>.<gid>`), or root-only without remap.
pub fn secure_dir(dir: &Path, mode: u32, remap: Option<&Remap>) -> Result<()> {
    fs::create_dir_all(dir)?;
    let gid = remap.map(|r| r.root_gid()).unwrap_or(0);
    std::os::unix::fs::chown(dir, Some(0), Some(gid))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// The roots under remap: the data root `0710 root:<remapped gid>`, `containers/` likewise
/// (each container's bundle and files are reached through it), every other top-level tree of
/// the data root but `volumes/` and `bin/` root-only (`0700`): the layer store, content and
/// image metadata are none of a remapped root's business; the exec root `0700` (nothing in a
/// container opens a path there). Without remap nothing changes.
pub fn secure_roots(cfg: &crate::DaemonConfig) -> Result<()> {
    let Some(r) = cfg.userns_remap.as_ref() else {
        return Ok(());
    };
    secure_dir(&cfg.data_root, 0o710, Some(r))?;
    secure_dir(&cfg.exec_root, 0o700, None)?;
    secure_dir(&cfg.containers_dir(), 0o710, Some(r))?;
    for e in fs::read_dir(&cfg.data_root)? {
        let e = e?;
        let name = e.file_name();
        if matches!(name.to_str(), Some("containers" | "volumes" | "bin"))
            || !e.file_type()?.is_dir()
        {
            continue;
        }
        secure_dir(&e.path(), 0o700, None)?;
    }
    Ok(())
}

/// `mkdir -p dir`, giving each directory made here (not those that existed) to the remapped
/// root.
pub fn mkdir_all_for_root(dir: &Path, remap: &Remap) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        mkdir_all_for_root(parent, remap)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => std::os::unix::fs::chown(dir, Some(remap.root_uid()), Some(remap.root_gid())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Give every entry below `dir` (a remapped container's upper dir) whose owner is outside the
/// mapping's host ids the host ids of that owner as a container id: entries overlay copied up
/// through a view of the layers mounted without the mapping. Symlinks are not followed.
pub fn shift_unmapped(dir: &Path, remap: &Remap) -> std::io::Result<()> {
    let in_range = |r: &[IdRange], id: u32| r.iter().any(|r| id >= r.host && id - r.host < r.size);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let p = e?.path();
            let md = fs::symlink_metadata(&p)?;
            if md.is_dir() {
                stack.push(p.clone());
            }
            let (u, g) = (md.uid(), md.gid());
            let nu = (!in_range(&remap.uids, u)).then(|| remap.host_uid(u).unwrap_or(u));
            let ng = (!in_range(&remap.gids, g)).then(|| remap.host_gid(g).unwrap_or(g));
            if nu.is_some() || ng.is_some() {
                std::os::unix::fs::lchown(&p, nu, ng)?;
                // chown cleared set-id bits of files; put the mode back.
                if md.is_file() && md.mode() & 0o6000 != 0 {
                    fs::set_permissions(&p, fs::Permissions::from_mode(md.mode() & 0o7777))?;
                }
            }
        }
    }
    Ok(())
}

/// Give a container's upper and work dirs (or a new volume) to the remapped root.
pub fn chown_to_root(dir: &Path, remap: &Remap) -> Result<()> {
    let md = fs::symlink_metadata(dir)?;
    if md.uid() != remap.root_uid() || md.gid() != remap.root_gid() {
        std::os::unix::fs::lchown(dir, Some(remap.root_uid()), Some(remap.root_gid()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_id_in_file_order() {
        let f =
            "alice:100000:65536\nberth-remap:200000:1000\n1001:300000:5\nberth-remap:400000:10\n";
        assert_eq!(
            parse_subids(f, "berth-remap", 1001),
            [(200000, 1000), (300000, 5), (400000, 10)]
        );
        let r = ranges(&parse_subids(f, "berth-remap", 1001));
        assert_eq!(r[1].container, 1000);
        assert_eq!(r[2].container, 1005);
        let m = Remap {
            user: "u".into(),
            group: "g".into(),
            uids: r.clone(),
            gids: r,
        };
        assert_eq!(m.root_uid(), 200000);
        assert_eq!(m.host_uid(1003), Some(300003));
        assert_eq!(m.host_uid(1015), None);
        assert_eq!(
            m.mount_options(Path::new("/d/idmap"))[0],
            "x-berth.idmap=0:200000:1000+1000:300000:5+1005:400000:10/0:200000:1000+1000:300000:5+1005:400000:10"
        );
    }

    #[test]
    fn a_new_range_overlaps_none() {
        assert_eq!(free_range("", ""), 100000);
        assert_eq!(free_range("a:100000:65536\n", "b:165536:10\n"), 165546);
        assert_eq!(free_range("a:300000:65536\n", ""), 100000);
        assert_eq!(free_range("a:150000:65536\n", ""), 215536);
    }

    #[test]
    fn docker_refusals_under_remap() {
        let r = Remap {
            user: "u".into(),
            group: "g".into(),
            uids: ranges(&[(100000, 65536)]),
            gids: ranges(&[(100000, 65536)]),
        };
        let mut h = HostConfig {
            privileged: true,
            ..Default::default()
        };
        assert!(check_host_config(Some(&r), &h).is_err());
        assert!(check_host_config(None, &h).is_ok());
        h.userns_mode = "host".into();
        assert!(check_host_config(Some(&r), &h).is_ok());
        assert!(for_container(Some(&r), &h).is_none());
        let h = HostConfig {
            network_mode: "host".into(),
            ..Default::default()
        };
        let e = check_host_config(Some(&r), &h).expect_err("net=host");
        assert!(e.to_string().contains("network namespace"), "{e}");
        assert!(for_container(Some(&r), &h).is_some());
        let h = HostConfig {
            userns_mode: "private".into(),
            ..Default::default()
        };
        assert!(check_host_config(Some(&r), &h).is_err());
    }
}
