//! Loading and validating a bundle's `config.json`. Every error names the field it is about, so
//! that a caller (or a person) knows what to fix, and validation happens before anything is
//! created on the host.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Result, RuntimeError};

/// Read `<bundle>/config.json`. Type and syntax errors carry the JSON path of the field.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|e| {
        RuntimeError::spec(
            "config.json",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    parse(&data)
}

/// Parse a config document held in memory.
pub fn parse(data: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize::<_, Spec>(de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "config.json".to_string()
        } else {
            field
        };
        RuntimeError::spec(field, e.into_inner().to_string())
    })
}

/// The rootfs path of a spec, made absolute against the bundle.
pub fn rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RuntimeError::spec("root", "is required"))?;
    let p = root.path();
    if p.as_os_str().is_empty() {
        return Err(RuntimeError::spec("root.path", "is empty"));
    }
    Ok(if p.is_absolute() {
        p.clone()
    } else {
        bundle.join(p)
    })
}

fn has_dotdot(p: &Path) -> bool {
    p.components().any(|c| c == Component::ParentDir)
}

/// Namespaces that the spec asks to create (no path) or join (a path).
pub fn namespace_set(spec: &Spec) -> HashSet<LinuxNamespaceType> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|ns| ns.iter().map(|n| n.typ()).collect())
        .unwrap_or_default()
}

/// Check everything that can be checked before touching the host.
pub fn validate(spec: &Spec, bundle: &Path, need_process: bool) -> Result<()> {
    let v = spec.version();
    if !v.starts_with("1.") {
        return Err(RuntimeError::spec(
            "ociVersion",
            format!("unsupported version {v:?}, want 1.x"),
        ));
    }
    let root = rootfs(spec, bundle)?;
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(RuntimeError::spec(
                "root.path",
                format!("{} is not a directory", root.display()),
            ))
        }
        Err(e) => {
            return Err(RuntimeError::spec(
                "root.path",
                format!("{}: {e}", root.display()),
            ))
        }
    }
    if need_process {
        let p = spec
            .process()
            .as_ref()
            .ok_or_else(|| RuntimeError::spec("process", "is required"))?;
        validate_process(p, "process")?;
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| RuntimeError::spec("linux", "is required on Linux"))?;

    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(RuntimeError::spec(
                format!("linux.namespaces[{i}]"),
                format!("duplicate namespace type {:?}", ns.typ()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(RuntimeError::spec(
                    format!("linux.namespaces[{i}].path"),
                    format!("{} is not absolute", path.display()),
                ));
            }
            if !path.exists() {
                return Err(RuntimeError::spec(
                    format!("linux.namespaces[{i}].path"),
                    format!("{} does not exist", path.display()),
                ));
            }
        }
    }
    let new_user = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !has_maps {
        return Err(RuntimeError::spec(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if has_maps && !new_user {
        return Err(RuntimeError::spec(
            "linux.uidMappings",
            "mappings are set but no new user namespace is requested",
        ));
    }
    if let Some(cg) = linux.cgroups_path() {
        if has_dotdot(cg) {
            return Err(RuntimeError::spec(
                "linux.cgroupsPath",
                format!("{} must not contain '..'", cg.display()),
            ));
        }
    }
    for (k, _) in linux.sysctl().iter().flatten() {
        validate_sysctl(k, &seen)?;
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let p = d.path();
        if !p.starts_with("/dev/") || has_dotdot(p) {
            return Err(RuntimeError::spec(
                format!("linux.devices[{i}].path"),
                format!("{} is not below /dev", p.display()),
            ));
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let d = m.destination();
        if !d.is_absolute() {
            return Err(RuntimeError::spec(
                format!("mounts[{i}].destination"),
                format!("{} is not absolute", d.display()),
            ));
        }
        if has_dotdot(d) {
            return Err(RuntimeError::spec(
                format!("mounts[{i}].destination"),
                format!("{} must not contain '..'", d.display()),
            ));
        }
    }
    if let Some(h) = spec.hooks() {
        let lists = [
            ("hooks.prestart", h.prestart()),
            ("hooks.createRuntime", h.create_runtime()),
            ("hooks.createContainer", h.create_container()),
            ("hooks.startContainer", h.start_container()),
            ("hooks.poststart", h.poststart()),
            ("hooks.poststop", h.poststop()),
        ];
        for (name, list) in lists {
            for (i, hook) in list.iter().flatten().enumerate() {
                if !hook.path().is_absolute() {
                    return Err(RuntimeError::spec(
                        format!("{name}[{i}].path"),
                        format!("{} is not absolute", hook.path().display()),
                    ));
                }
                if hook.timeout().is_some_and(|t| t <= 0) {
                    return Err(RuntimeError::spec(
                        format!("{name}[{i}].timeout"),
                        "must be greater than zero",
                    ));
                }
            }
        }
    }
    if let Some(a) = spec
        .process()
        .as_ref()
        .and_then(|p| p.apparmor_profile().as_ref())
    {
        if !a.is_empty() && !crate::lsm::apparmor_enabled() {
            return Err(RuntimeError::spec(
                "process.apparmorProfile",
                format!("profile {a:?} requested but AppArmor is not enabled on this host"),
            ));
        }
    }
    if let Some(l) = spec
        .process()
        .as_ref()
        .and_then(|p| p.selinux_label().as_ref())
    {
        if !l.is_empty() && !crate::lsm::selinux_enabled() {
            return Err(RuntimeError::spec(
                "process.selinuxLabel",
                format!("label {l:?} requested but SELinux is not enabled on this host"),
            ));
        }
    }
    Ok(())
}

/// Checks on a process section (also used for `exec --process`).
pub fn validate_process(p: &oci_spec::runtime::Process, field: &str) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::spec(
            format!("{field}.args"),
            "must not be empty",
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(RuntimeError::spec(
            format!("{field}.cwd"),
            format!("{} is not absolute", p.cwd().display()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        if !seen.insert(format!("{:?}", r.typ())) {
            return Err(RuntimeError::spec(
                format!("{field}.rlimits[{i}].type"),
                format!("duplicate rlimit {:?}", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(RuntimeError::spec(
                format!("{field}.rlimits[{i}]"),
                format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
            ));
        }
    }
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') || e.contains('\0') {
            return Err(RuntimeError::spec(
                format!("{field}.env[{i}]"),
                format!("{e:?} is not of the form KEY=value"),
            ));
        }
    }
    Ok(())
}

/// runc's rule: a sysctl may be set only when the namespace it belongs to is private.
fn validate_sysctl(key: &str, ns: &HashSet<LinuxNamespaceType>) -> Result<()> {
    let field = || format!("linux.sysctl.{key}");
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        if ns.contains(&LinuxNamespaceType::Ipc) {
            return Ok(());
        }
        return Err(RuntimeError::spec(field(), "needs a private ipc namespace"));
    }
    if key.starts_with("net.") {
        if ns.contains(&LinuxNamespaceType::Network) {
            return Ok(());
        }
        return Err(RuntimeError::spec(
            field(),
            "needs a private network namespace",
        ));
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return Err(RuntimeError::spec(
            field(),
            "set the hostname and domainname fields instead",
        ));
    }
    if key.contains("..") || key.contains('/') {
        return Err(RuntimeError::spec(field(), "is not a sysctl name"));
    }
    Err(RuntimeError::spec(
        field(),
        "is not namespaced and cannot be set in a container",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn bundle() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        std::fs::create_dir(d.path().join("rootfs")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        d
    }

    fn check(v: serde_json::Value) -> Result<()> {
        let b = bundle();
        let spec = parse(v.to_string().as_bytes())?;
        validate(&spec, b.path(), true)
    }

    #[test]
    fn minimal_is_valid() {
        check(minimal()).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let mut v = minimal();
        v["process"]["user"]["uid"] = serde_json::json!("root");
        let e = check(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("process.user.uid:"), "{e}");
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}]);
        let e = check(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("linux.namespaces"), "{e}");
    }

    #[test]
    fn unknown_capability_is_refused() {
        let mut v = minimal();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_NOT_A_CAP"]});
        let e = check(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("process.capabilities.bounding"), "{e}");
    }

    #[test]
    fn missing_rootfs_is_refused() {
        let mut v = minimal();
        v["root"]["path"] = serde_json::json!("nope");
        let e = check(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("root.path:"), "{e}");
    }

    #[test]
    fn empty_args_are_refused() {
        let mut v = minimal();
        v["process"]["args"] = serde_json::json!([]);
        let e = check(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, "process.args: must not be empty");
    }

    #[test]
    fn net_sysctl_needs_a_netns() {
        let mut v = minimal();
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        assert!(check(v.clone()).is_err());
        v["linux"]["namespaces"] = serde_json::json!([{"type": "network"}]);
        check(v).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn host_sysctl_is_refused() {
        let mut v = minimal();
        v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"});
        assert!(check(v).is_err());
    }

    #[test]
    fn userns_without_maps_is_refused() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}]);
        let e = check(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("linux.uidMappings"), "{e}");
    }

    #[test]
    fn relative_mount_destination_is_refused() {
        let mut v = minimal();
        v["mounts"] = serde_json::json!([{"destination": "proc", "type": "proc"}]);
        assert!(check(v).is_err());
    }

    #[test]
    fn duplicate_rlimit_is_refused() {
        let mut v = minimal();
        v["process"]["rlimits"] = serde_json::json!([
            {"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10},
            {"type": "RLIMIT_NOFILE", "hard": 20, "soft": 20}
        ]);
        assert!(check(v).is_err());
    }
}
