//! A container's mount points: `-v` binds, `--mount`, `--tmpfs`, `--volumes-from` and the
//! image's `VOLUME`s resolved at create into the list kept in the record (Docker's
//! `MountPoints`), and turned into OCI mounts at start.
//!
//! Precedence follows Docker: `--volumes-from` first, then `-v` (a destination twice is an
//! error), then `--mount` (a destination also given by `-v` is an error), then image volumes for
//! destinations nothing else covers.
use std::collections::{BTreeMap, BTreeSet};

use berth_api::container::{HostConfig, Mount};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::volumes::{CreateOptions, VolumeService};

/// One mount point as the record keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Volume name (volumes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path: the bind source, or the volume's `_data`.
    #[serde(default)]
    pub source: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// The mode text as inspect shows it (`ro`, `z`, `ro,Z`, ...).
    #[serde(default)]
    pub mode: String,
    pub rw: bool,
    /// `rprivate` etc. for binds, empty for volumes.
    #[serde(default)]
    pub propagation: String,
    /// Copy the image's content at the destination into the volume when it is empty.
    #[serde(default)]
    pub copy_data: bool,
    /// Bind without `rbind` (`bind-nonrecursive`).
    #[serde(default)]
    pub non_recursive: bool,
    /// tmpfs mount options (`size=…`, `mode=…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
}

impl MountPoint {
    /// As `inspect` and `ps` show it.
    pub fn to_api(&self) -> berth_api::container::MountPoint {
        berth_api::container::MountPoint {
            r#type: self.kind.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            driver: self.driver.clone(),
            mode: self.mode.clone(),
            rw: self.rw,
            propagation: self.propagation.clone(),
        }
    }
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

/// Docker's `linuxValidMountMode`: each kind of option at most once.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let i = match o {
            "ro" | "rw" => 0,
            "z" | "Z" => 1,
            o if PROPAGATIONS.contains(&o) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[i] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

/// `path.Clean` for absolute container paths.
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// Destination checks shared by every kind (`field Target must not be empty`, not `/`, absolute).
fn check_target(kind: &str, target: &str) -> std::result::Result<String, String> {
    let wrap = |m: String| format!("invalid mount config for type \"{kind}\": {m}");
    if target.is_empty() {
        return Err(wrap("field Target must not be empty".into()));
    }
    if !target.starts_with('/') {
        return Err(wrap(format!(
            "invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    let t = clean(target);
    if t == "/" {
        return Err(wrap(
            "invalid specification: destination can't be '/'".into(),
        ));
    }
    Ok(t)
}

/// Files below /proc that may be covered (lxcfs does), as runc allows; anything else inside
/// /proc, or /proc itself, cannot take a user mount (it would hide or replace the kernel's view
/// the masked paths protect).
const PROC_ALLOWED: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

fn check_proc(dst: &str) -> Result<()> {
    if dst == "/proc" {
        return Err(Error::invalid(
            "invalid mount config: \"/proc\" cannot be mounted because it is not of type proc",
        ));
    }
    if dst.starts_with("/proc/") && !PROC_ALLOWED.contains(&dst) {
        return Err(Error::invalid(format!(
            "invalid mount config: \"{dst}\" cannot be mounted because it is inside /proc"
        )));
    }
    Ok(())
}

/// A parsed request before volumes exist: what `-v` and `--mount` ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    mp: MountPoint,
    /// Labels / driver options for a volume made for this mount.
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
}

/// One `-v` / `Binds` entry (Docker's `ParseMountRaw`).
fn parse_bind(raw: &str) -> std::result::Result<Wanted, String> {
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(invalid_spec(raw));
    }
    let (source, target, mode) = match arr.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => {
            if valid_mode(t) {
                return Err(invalid_spec(raw));
            }
            (*s, *t, "")
        }
        [s, t, m] => (*s, *t, *m),
        _ => return Err(invalid_spec(raw)),
    };
    if !valid_mode(mode) {
        return Err(format!("invalid mode: {mode}"));
    }
    let kind = if source.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    let dst = check_target(kind, target).map_err(|e| format!("{}: {e}", invalid_spec(raw)))?;
    let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
    let rw = !opts.contains(&"ro");
    let propagation = opts
        .iter()
        .find(|o| PROPAGATIONS.contains(o))
        .copied()
        .unwrap_or("");
    let mut mp = MountPoint {
        kind: kind.into(),
        destination: dst,
        mode: mode.into(),
        rw,
        ..MountPoint::default()
    };
    if kind == "bind" {
        mp.source = clean(source);
        mp.propagation = if propagation.is_empty() {
            "rprivate".into()
        } else {
            propagation.into()
        };
    } else {
        if !propagation.is_empty() {
            return Err(format!("{}: invalid mount config for type \"volume\": field BindOptions must not be specified", invalid_spec(raw)));
        }
        mp.name = source.into();
        mp.copy_data = !opts.contains(&"nocopy");
        if source.is_empty() && !rw {
            return Err(format!("{}: invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes", invalid_spec(raw)));
        }
    }
    Ok(Wanted {
        mp,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
    })
}

/// One `--mount` / `Mounts` entry (Docker's `ParseMountSpec`).
fn parse_mount(m: &Mount) -> std::result::Result<Wanted, String> {
    let kind = m.r#type.as_str();
    let wrap = |e: &str| format!("invalid mount config for type \"{kind}\": {e}");
    if !matches!(kind, "bind" | "volume" | "tmpfs") {
        return Err(wrap("mount type unknown"));
    }
    let dst = check_target(kind, &m.target)?;
    let mut mp = MountPoint {
        kind: kind.into(),
        destination: dst,
        rw: !m.read_only,
        ..MountPoint::default()
    };
    let mut w = Wanted {
        mp: MountPoint::default(),
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
    };
    match kind {
        "bind" => {
            if m.source.is_empty() {
                return Err(wrap("field Source must not be empty"));
            }
            if m.volume_options.is_some() {
                return Err(wrap("field VolumeOptions must not be specified"));
            }
            if m.tmpfs_options.is_some() {
                return Err(wrap("field TmpfsOptions must not be specified"));
            }
            if !m.source.starts_with('/') {
                return Err(wrap(&format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if !std::path::Path::new(&m.source).exists() {
                return Err(wrap(&format!(
                    "bind source path does not exist: {}",
                    m.source
                )));
            }
            let b = m.bind_options.clone().unwrap_or_default();
            if !b.propagation.is_empty() && !PROPAGATIONS.contains(&b.propagation.as_str()) {
                return Err(wrap(&format!(
                    "invalid propagation mode: {}",
                    b.propagation
                )));
            }
            mp.source = clean(&m.source);
            mp.propagation = if b.propagation.is_empty() {
                "rprivate".into()
            } else {
                b.propagation
            };
            mp.non_recursive = b.non_recursive;
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(wrap("field BindOptions must not be specified"));
            }
            if m.tmpfs_options.is_some() {
                return Err(wrap("field TmpfsOptions must not be specified"));
            }
            if m.source.is_empty() && m.read_only {
                return Err(wrap(
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
            let v = m.volume_options.clone().unwrap_or_default();
            mp.name = m.source.clone();
            mp.copy_data = !v.no_copy;
            if let Some(d) = v.driver_config {
                mp.driver = d.name;
                w.options = d.options;
            }
            w.labels = v.labels;
        }
        _ => {
            if m.bind_options.is_some() {
                return Err(wrap("field BindOptions must not be specified"));
            }
            if m.volume_options.is_some() {
                return Err(wrap("field VolumeOptions must not be specified"));
            }
            if !m.source.is_empty() {
                return Err(wrap("field Source must not be specified"));
            }
            if m.read_only {
                mp.tmpfs.push("ro".into());
            }
            if let Some(t) = &m.tmpfs_options {
                if t.mode != 0 {
                    mp.tmpfs.push(format!("mode={:o}", t.mode));
                }
                if t.size_bytes < 0 {
                    return Err(wrap("invalid tmpfs size"));
                }
                if t.size_bytes != 0 {
                    mp.tmpfs.push(format!("size={}", size_text(t.size_bytes)));
                }
            }
        }
    }
    w.mp = mp;
    Ok(w)
}

/// Docker's tmpfs size text: the largest of g/m/k that divides evenly, else bytes.
fn size_text(n: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if n % div == 0 {
            return format!("{}{suffix}", n / div);
        }
    }
    n.to_string()
}

/// What `resolve` needs from other containers (`--volumes-from`).
pub trait MountSource {
    /// The mount points of container `name`, or a not-found error.
    fn mounts_of(&self, name: &str) -> Result<Vec<MountPoint>>;
}

impl MountSource for super::ContainerService {
    fn mounts_of(&self, name: &str) -> Result<Vec<MountPoint>> {
        Ok(self.record(name)?.mounts)
    }
}

/// Everything a create asks for, resolved: volumes made or found, paths checked. Volumes this
/// call made are listed in the second value, so a failed create can remove exactly those.
pub fn resolve(
    h: &HostConfig,
    image_volumes: &BTreeSet<String>,
    others: &dyn MountSource,
    volumes: &VolumeService,
) -> Result<(Vec<MountPoint>, Vec<String>)> {
    let mut made = Vec::new();
    let res = resolve_inner(h, image_volumes, others, volumes, &mut made);
    match res {
        Ok(m) => Ok((m, made)),
        Err(e) => {
            for n in &made {
                let _ = volumes.remove(n, true);
            }
            Err(e)
        }
    }
}

fn resolve_inner(
    h: &HostConfig,
    image_volumes: &BTreeSet<String>,
    others: &dyn MountSource,
    volumes: &VolumeService,
    made: &mut Vec<String>,
) -> Result<Vec<MountPoint>> {
    if !h.volume_driver.is_empty() && h.volume_driver != "local" {
        return Err(Error::not_found(format!(
            "error looking up volume plugin {0}: plugin \"{0}\" not found",
            h.volume_driver
        )));
    }
    let mut by_dst: BTreeMap<String, MountPoint> = BTreeMap::new();
    for spec in h.volumes_from.iter().flatten() {
        if spec.is_empty() {
            return Err(Error::invalid(
                "volumes-from specification cannot be an empty string",
            ));
        }
        let (name, mode) = spec.split_once(':').unwrap_or((spec, "rw"));
        let opts: Vec<&str> = mode.split(',').collect();
        if !valid_mode(mode)
            || opts
                .iter()
                .any(|o| PROPAGATIONS.contains(o) || *o == "nocopy")
        {
            return Err(Error::invalid(format!("invalid mode: {mode}")));
        }
        let ro = opts.contains(&"ro");
        for m in others.mounts_of(name)? {
            let mut cp = m.clone();
            cp.rw = m.rw && !ro;
            cp.copy_data = false;
            if mode != "rw" || spec.contains(':') {
                cp.mode = mode.to_string();
            }
            by_dst.insert(cp.destination.clone(), cp);
        }
    }
    let mut explicit: BTreeSet<String> = BTreeSet::new();
    let mut wanted = Vec::new();
    for raw in h.binds.iter().flatten() {
        let w = parse_bind(raw).map_err(Error::invalid)?;
        if !explicit.insert(w.mp.destination.clone()) {
            return Err(Error::invalid(format!(
                "Duplicate mount point: {}",
                w.mp.destination
            )));
        }
        wanted.push(w);
    }
    for m in &h.mounts {
        let w = parse_mount(m).map_err(Error::invalid)?;
        if !explicit.insert(w.mp.destination.clone()) {
            return Err(Error::invalid(format!(
                "Duplicate mount point: {}",
                w.mp.destination
            )));
        }
        wanted.push(w);
    }
    for w in &wanted {
        check_proc(&w.mp.destination)?;
    }
    for dst in h.tmpfs.keys() {
        let d = check_target("tmpfs", dst).map_err(Error::invalid)?;
        check_proc(&d)?;
        if explicit.contains(&d) {
            return Err(Error::invalid(format!("Duplicate mount point: {d}")));
        }
    }
    for w in wanted {
        let mut mp = w.mp;
        if mp.kind == "volume" {
            if !mp.driver.is_empty() && mp.driver != "local" {
                return Err(Error::not_found(format!(
                    "error looking up volume plugin {0}: plugin \"{0}\" not found",
                    mp.driver
                )));
            }
            let (v, new) = volumes.create(CreateOptions {
                name: mp.name.clone(),
                driver: String::new(),
                labels: w.labels,
                options: w.options,
            })?;
            if new {
                made.push(v.name.clone());
            }
            mp.name = v.name.clone();
            mp.driver = v.driver.clone();
            mp.source = volumes.mountpoint(&v.name).to_string_lossy().into_owned();
            if mp.mode.is_empty() {
                mp.mode = "z".into();
            }
        }
        by_dst.insert(mp.destination.clone(), mp);
    }
    for dst in image_volumes {
        let d = clean(dst);
        if by_dst.contains_key(&d) || h.tmpfs.keys().any(|t| clean(t) == d) || d == "/" {
            continue;
        }
        let (v, _) = volumes.create(CreateOptions::default())?;
        made.push(v.name.clone());
        by_dst.insert(
            d.clone(),
            MountPoint {
                kind: "volume".into(),
                name: v.name.clone(),
                source: volumes.mountpoint(&v.name).to_string_lossy().into_owned(),
                destination: d,
                driver: v.driver,
                rw: true,
                copy_data: true,
                ..MountPoint::default()
            },
        );
    }
    Ok(by_dst.into_values().collect())
}

/// The OCI mounts for a container's mount points and `--tmpfs` entries, parents before
/// children (Docker sorts by depth). Bind sources given with `-v` that do not exist are made.
pub fn oci_mounts(points: &[MountPoint], tmpfs: &BTreeMap<String, String>) -> Result<Vec<Value>> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for m in points {
        match m.kind.as_str() {
            "tmpfs" => {
                let mut o = vec![
                    "nosuid".to_string(),
                    "nodev".to_string(),
                    "noexec".to_string(),
                ];
                o.extend(m.tmpfs.iter().cloned());
                out.push((m.destination.clone(), json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": o})));
            }
            _ => {
                if m.kind == "bind" && !std::path::Path::new(&m.source).exists() {
                    // `-v /host:/ctr` makes a missing host directory, as Docker does.
                    std::fs::create_dir_all(&m.source).map_err(|e| {
                        Error::invalid(format!(
                            "error while creating mount source path '{}': {e}",
                            m.source
                        ))
                    })?;
                }
                let mut o = vec![if m.non_recursive { "bind" } else { "rbind" }.to_string()];
                let prop = if m.propagation.is_empty() {
                    "rprivate"
                } else {
                    m.propagation.as_str()
                };
                if !m.rw {
                    // Recursive read-only where the kernel can (the runtime falls back to `ro`
                    // with a warning otherwise); shared propagation keeps plain `ro`.
                    o.push(
                        if !m.non_recursive && prop == "rprivate" {
                            "rro"
                        } else {
                            "ro"
                        }
                        .into(),
                    );
                }
                o.push(prop.into());
                out.push((m.destination.clone(), json!({"destination": m.destination, "type": "bind", "source": m.source, "options": o})));
            }
        }
    }
    for (dst, opts) in tmpfs {
        let d = clean(dst);
        let mut o = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        o.extend(opts.split(',').filter(|x| !x.is_empty()).map(String::from));
        out.push((
            d.clone(),
            json!({"destination": d, "type": "tmpfs", "source": "tmpfs", "options": o}),
        ));
    }
    out.sort_by_key(|(d, _)| d.matches('/').count());
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests;
