//! The OCI runtime spec of a container: Docker's defaults (../shared/design/SECURITY.md) and
//! every HostConfig field Berth honours. A field it cannot honour is an error naming it.
use std::collections::BTreeMap;

use berth_api::container::HostConfig;
use serde_json::{json, Value};

use super::record::Record;
use crate::error::{Error, Result};

pub mod seccomp;

/// Docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability name the kernel of this era knows (for `ALL` and `--privileged`).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn cap_name(s: &str) -> String {
    let u = s.to_ascii_uppercase();
    if u.starts_with("CAP_") {
        u
    } else {
        format!("CAP_{u}")
    }
}

/// The capabilities of [`ALL_CAPS`] whose bits are set in `bounding` (a `CapBnd` mask).
pub fn caps_in(bounding: u64) -> Vec<String> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| *bit < 64 && bounding & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The capabilities this host has: berthd's bounding set (`CapBnd` in /proc/self/status).
/// Docker's `--privileged` and `--cap-add ALL` mean these, not every name the table knows: a
/// capability missing from the host (a VM or an outer container that dropped it) cannot be
/// given to a container, and asking for it makes `capset` fail.
pub fn host_caps() -> Vec<String> {
    static MASK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let mask = *MASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX)
    });
    caps_in(mask)
}

/// Every device node under `dir` (the host's `/dev`) as `linux.devices` entries, for
/// `--privileged`: runc's walk (Docker's `HostDevices`) — subdirectories too, except `pts`,
/// `shm`, `fd`, `mqueue` and hidden udev/lxc trees, and never `console` (the container gets
/// its own).
pub fn host_devices(dir: &std::path::Path) -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            // Never follows symlinks: lstat.
            let Ok(md) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                if !matches!(
                    name.as_ref(),
                    "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
                ) {
                    stack.push(e.path());
                }
                continue;
            }
            if name == "console" {
                continue;
            }
            let typ = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            let rdev = md.rdev();
            let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
            let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
            out.push(json!({
                "path": e.path(),
                "type": typ,
                "major": major,
                "minor": minor,
                "fileMode": md.mode() & 0o7777,
                "uid": md.uid(),
                "gid": md.gid(),
            }));
        }
    }
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    out
}

/// The capability set after `--cap-add` / `--cap-drop` (Docker's order: drop, then add; `ALL`).
pub fn capabilities(h: &HostConfig) -> Result<Vec<String>> {
    if h.privileged {
        return Ok(host_caps());
    }
    let known = |c: &str| ALL_CAPS.contains(&c) || c == "CAP_ALL";
    let adds: Vec<String> = h.cap_add.iter().flatten().map(|c| cap_name(c)).collect();
    let drops: Vec<String> = h.cap_drop.iter().flatten().map(|c| cap_name(c)).collect();
    for c in adds.iter().chain(drops.iter()) {
        if !known(c) {
            return Err(Error::invalid(format!("unknown capability: {:?}", c)));
        }
    }
    let mut set: Vec<String> = if drops.iter().any(|c| c == "CAP_ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c))
            .collect()
    };
    if adds.iter().any(|c| c == "CAP_ALL") {
        set = host_caps()
            .into_iter()
            .filter(|c| !drops.contains(c) || adds.contains(c))
            .collect();
    }
    for a in adds {
        if a != "CAP_ALL" && !set.contains(&a) {
            set.push(a);
        }
    }
    Ok(set)
}

/// `--user`: numeric `uid[:gid]` (names need the image's /etc/passwd: not yet).
pub(crate) fn user(u: &str) -> Result<(u32, u32)> {
    if u.is_empty() || u == "root" || u == "0" {
        return Ok((0, 0));
    }
    let (a, b) = u.split_once(':').unwrap_or((u, ""));
    let uid: u32 = a.parse().map_err(|_| {
        Error::invalid(format!(
            "unable to find user {a}: user names are not resolved yet; use a numeric uid[:gid]"
        ))
    })?;
    let gid: u32 = if b.is_empty() {
        0
    } else {
        b.parse().map_err(|_| {
            Error::invalid(format!(
                "unable to find group {b}: group names are not resolved yet; use a numeric gid"
            ))
        })?
    };
    Ok((uid, gid))
}

/// Fields Berth does not implement yet, when set: named in the error.
fn refuse_unsupported(h: &HostConfig) -> Result<()> {
    let mut bad = Vec::new();
    if !h
        .resources
        .devices
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        bad.push("Devices");
    }
    if !h
        .resources
        .device_requests
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        bad.push("DeviceRequests");
    }
    if !h.pid_mode.is_empty() && h.pid_mode != "private" {
        bad.push("PidMode");
    }
    if !h.ipc_mode.is_empty() && !matches!(h.ipc_mode.as_str(), "private" | "shareable" | "none") {
        bad.push("IpcMode");
    }
    if !h.uts_mode.is_empty() {
        bad.push("UTSMode");
    }
    if !h.log_config.r#type.is_empty()
        && !matches!(h.log_config.r#type.as_str(), "json-file" | "none")
    {
        bad.push("LogConfig.Type (json-file and none are supported)");
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "not supported by berthd yet: {}",
            bad.join(", ")
        )))
    }
}

/// The network mode's namespace: `None` joins the host's.
fn network_ns(h: &HostConfig) -> Result<Option<Value>> {
    // The namespace itself is made by the network service at start (its path is patched in).
    match h.network_mode.as_str() {
        "host" => Ok(None),
        _ => Ok(Some(json!({"type": "network"}))),
    }
}

/// Build config.json for `r` with its cgroup at `cgroups_path`.
pub fn build(r: &Record, cgroups_path: &str, cfg: &crate::DaemonConfig) -> Result<Value> {
    let (shm_default, nnp_default) = (cfg.shm_size, cfg.no_new_privileges);
    let h = &r.host_config;
    let c = &r.config;
    refuse_unsupported(h)?;
    crate::userns::check_host_config(cfg.userns_remap.as_ref(), h)?;
    let remap = crate::userns::for_container(cfg.userns_remap.as_ref(), h);
    let (uid, gid) = user(&c.user)?;
    let init = h.init.unwrap_or(cfg.init);
    let mut args = Vec::new();
    if init {
        // Docker's docker-init: PID 1 that reaps zombies and forwards signals.
        args.extend(["/sbin/docker-init".to_string(), "--".to_string()]);
    }
    args.push(r.path.clone());
    args.extend(r.args.iter().cloned());
    if r.path.is_empty() {
        return Err(Error::invalid("No command specified"));
    }
    let mut env: Vec<String> = c.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    let hostname = if c.hostname.is_empty() {
        r.id[..12].to_string()
    } else {
        c.hostname.clone()
    };
    env.push(format!("HOSTNAME={hostname}"));
    if c.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let caps = capabilities(h)?;
    let nnp = nnp_default
        || h.security_opt.iter().flatten().any(|o| {
            o == "no-new-privileges"
                || o == "no-new-privileges:true"
                || o == "no-new-privileges=true"
        });
    for o in h.security_opt.iter().flatten() {
        let known = o.starts_with("no-new-privileges")
            || o.starts_with("seccomp=")
            || o.starts_with("seccomp:")
            || o == "label=disable"
            || o.starts_with("apparmor=")
            || o.starts_with("apparmor:");
        if !known {
            return Err(Error::invalid(format!(
                "security option not supported yet: {o}"
            )));
        }
    }
    // The container's ulimits, then the daemon's --default-ulimit for names it does not set.
    let own = h.resources.ulimits.clone().unwrap_or_default();
    let mut limits: Vec<(String, i64, i64)> = own
        .iter()
        .map(|u| (u.name.to_ascii_lowercase(), u.soft, u.hard))
        .collect();
    for (name, soft, hard) in &cfg.default_ulimits {
        if !limits.iter().any(|(n, _, _)| n == name) {
            limits.push((name.clone(), *soft, *hard));
        }
    }
    let rlimits: Vec<Value> = limits
        .iter()
        .map(|(name, soft, hard)| {
            json!({"type": format!("RLIMIT_{}", name.to_ascii_uppercase()), "hard": (*hard).max(0), "soft": (*soft).max(0)})
        })
        .collect();
    let shm = if h.shm_size > 0 {
        h.shm_size as u64
    } else {
        shm_default
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if h.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if h.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    // User mounts replace defaults at the same destination; a user `/dev` drops `/dev/*`.
    if let Some(remap) = remap {
        // Missing `-v` host directories are made for the remapped root (dockerd's
        // MkdirAllAndChownNew): only the components made here change owner.
        for m in r.mounts.iter().filter(|m| m.kind == "bind") {
            crate::userns::mkdir_all_for_root(std::path::Path::new(&m.source), remap).map_err(
                |e| {
                    Error::invalid(format!(
                        "error while creating mount source path '{}': {e}",
                        m.source
                    ))
                },
            )?;
        }
    }
    let user = super::mounts::oci_mounts(&r.mounts, &h.tmpfs)?;
    let taken: Vec<&str> = user
        .iter()
        .filter_map(|m| m["destination"].as_str())
        .collect();
    let user_dev = taken.contains(&"/dev");
    mounts.retain(|m| {
        let d = m["destination"].as_str().unwrap_or_default();
        !(taken.contains(&d) || user_dev && d.starts_with("/dev/"))
    });
    mounts.extend(user.iter().cloned());
    if init {
        mounts.push(json!({"destination": "/sbin/docker-init", "type": "bind", "source": cfg.init_path(), "options": ["bind", "ro", "rprivate"]}));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let netns = network_ns(h)?;
    if let Some(n) = netns.clone() {
        namespaces.push(n);
    }
    if remap.is_some() {
        namespaces.push(json!({"type": "user"}));
    }
    let rs = &h.resources;
    let mut resources = serde_json::Map::new();
    let mut mem = serde_json::Map::new();
    if rs.memory > 0 {
        mem.insert("limit".into(), json!(rs.memory));
    }
    if rs.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(rs.memory_reservation));
    }
    if rs.memory_swap != 0 {
        mem.insert("swap".into(), json!(rs.memory_swap));
    } else if rs.memory > 0 {
        mem.insert("swap".into(), json!(rs.memory * 2));
    }
    if let Some(s) = rs.memory_swappiness {
        if s >= 0 {
            mem.insert("swappiness".into(), json!(s));
        }
    }
    if rs.oom_kill_disable.unwrap_or(false) {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if !mem.is_empty() {
        resources.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = serde_json::Map::new();
    if rs.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(rs.cpu_shares));
    }
    if rs.nano_cpus > 0 {
        if rs.cpu_quota > 0 || rs.cpu_period > 0 {
            return Err(Error::invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
        cpu.insert("period".into(), json!(100000));
        cpu.insert("quota".into(), json!(rs.nano_cpus * 100000 / 1_000_000_000));
    }
    if rs.cpu_quota > 0 {
        cpu.insert("quota".into(), json!(rs.cpu_quota));
    }
    if rs.cpu_period > 0 {
        cpu.insert("period".into(), json!(rs.cpu_period));
    }
    if !rs.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(rs.cpuset_cpus));
    }
    if !rs.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(rs.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = rs.pids_limit {
        if p > 0 {
            resources.insert("pids".into(), json!({"limit": p}));
        }
    }
    if rs.blkio_weight > 0 {
        resources.insert("blockIO".into(), json!({"weight": rs.blkio_weight}));
    }
    // `--privileged`: a device cgroup allowing everything (the host's devices are created in
    // its /dev). Otherwise no rules: runtimes (the linked one, runc, crun) start from "deny
    // all" plus their default devices, and `docker update` (which sends these resources again)
    // must not replace that with a bare deny.
    if h.privileged {
        resources.insert("devices".into(), json!([{"allow": true, "access": "rwm"}]));
    }
    let mut sysctl: BTreeMap<String, String> = BTreeMap::new();
    if netns.is_some() {
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    }
    for (k, v) in &h.sysctls {
        sysctl.insert(k.clone(), v.clone());
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": Value::Object(resources),
        "cgroupsPath": cgroups_path,
        "sysctl": sysctl,
    });
    if let Some(r) = remap {
        let (u, g) = r.oci_mappings();
        linux["uidMappings"] = u;
        linux["gidMappings"] = g;
    }
    if h.privileged {
        linux["devices"] = json!(host_devices(std::path::Path::new("/dev")));
    } else {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
    }
    // Seccomp: the built-in profile for this capability set, a user's profile, or none.
    if let Some(profile) = seccomp::for_container(
        h.security_opt.as_deref().unwrap_or_default(),
        h.privileged,
        &caps,
    )? {
        linux["seccomp"] = profile;
    }
    let mut process = json!({
        "terminal": c.tty,
        "user": {"uid": uid, "gid": gid},
        "args": args,
        "env": env,
        "cwd": if c.working_dir.is_empty() { "/".to_string() } else { c.working_dir.clone() },
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": nnp,
        "rlimits": rlimits,
    });
    let security_opt = h.security_opt.as_deref().unwrap_or_default();
    let host_aa = crate::apparmor::host_enabled();
    if let Some(p) = crate::apparmor::profile_for(security_opt, h.privileged, host_aa)? {
        crate::apparmor::ensure(&p, &cfg.exec_root.join("apparmor"))?;
        process["apparmorProfile"] = json!(p);
    }
    if h.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(h.oom_score_adj);
    }
    if c.tty {
        let [rows, cols] = h.console_size;
        if rows > 0 && cols > 0 {
            process["consoleSize"] = json!({"height": rows, "width": cols});
        }
    }
    // Debian's crun 1.8 refuses any version but 1.0.x; the linked runtime reads them all.
    let oci_version = match cfg.runtime(&h.runtime) {
        Ok(Some(_)) => "1.0.2",
        _ => "1.2.0",
    };
    let spec = json!({
        "ociVersion": oci_version,
        "process": process,
        "root": {"path": "rootfs", "readonly": h.readonly_rootfs},
        "hostname": hostname,
        "domainname": c.domainname,
        "mounts": mounts,
        "linux": linux,
    });
    // The runtime's own types check the shape before anything runs.
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map_err(|e| Error::invalid(format!("container spec: {e}")))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_add_and_drop_follow_docker() {
        let mut h = HostConfig::default();
        let d = capabilities(&h).unwrap_or_default();
        assert_eq!(d.len(), 14);
        h.cap_drop = Some(vec!["MKNOD".into()]);
        h.cap_add = Some(vec!["CAP_NET_ADMIN".into()]);
        let c = capabilities(&h).unwrap_or_default();
        assert!(!c.contains(&"CAP_MKNOD".to_string()));
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        h.cap_drop = Some(vec!["ALL".into()]);
        h.cap_add = Some(vec!["chown".into()]);
        assert_eq!(capabilities(&h).unwrap_or_default(), ["CAP_CHOWN"]);
        h.cap_add = Some(vec!["NOPE".into()]);
        assert!(capabilities(&h).is_err());
    }

    #[test]
    fn privileged_takes_the_hosts_capabilities() {
        // A host without CAP_SYS_RESOURCE (bit 24), like this VM.
        let mask = ((1u64 << 41) - 1) & !(1 << 24);
        let c = caps_in(mask);
        assert_eq!(c.len(), ALL_CAPS.len() - 1);
        assert!(!c.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert!(c.contains(&"CAP_CHECKPOINT_RESTORE".to_string()));
        assert_eq!(caps_in(0b101), ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]);
    }

    #[test]
    fn host_devices_lists_nodes_and_skips_console_and_pts() {
        let d = host_devices(std::path::Path::new("/dev"));
        let paths: Vec<&str> = d.iter().filter_map(|v| v["path"].as_str()).collect();
        assert!(paths.contains(&"/dev/null"), "{paths:?}");
        assert!(!paths.contains(&"/dev/console"));
        assert!(!paths.iter().any(|p| p.starts_with("/dev/pts/")));
        let null = d.iter().find(|v| v["path"] == "/dev/null").expect("null");
        assert_eq!(
            (
                null["type"].as_str(),
                null["major"].as_u64(),
                null["minor"].as_u64()
            ),
            (Some("c"), Some(1), Some(3))
        );
    }

    #[test]
    fn users_are_numeric_for_now() {
        assert_eq!(user("").ok(), Some((0, 0)));
        assert_eq!(user("1000:1001").ok(), Some((1000, 1001)));
        assert!(user("nobody").is_err());
    }
}
