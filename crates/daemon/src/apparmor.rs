//! AppArmor for containers: the default profile `berth-default` (the rules of Docker's
//! `docker-default`), its loading through `apparmor_parser`, and the choice of a container's
//! profile from `--security-opt apparmor=…` and `--privileged`.
//!
//! Where the host has AppArmor on, every container runs under a profile: the one it names, else
//! `unconfined` for `--privileged`, else `berth-default`, which is loaded (or reloaded) the first
//! time a container needs it. Without AppArmor the spec names none; naming a profile other than
//! `unconfined` is then an error rather than a silent downgrade.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The profile containers get unless they choose another.
pub const DEFAULT_PROFILE: &str = "berth-default";

/// Whether the running kernel enforces AppArmor.
pub fn host_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false)
}

/// The text of the default profile, named `name`.
///
/// Everything is allowed except what a container must not touch on the host: mounts (even with
/// `CAP_SYS_ADMIN`), kernel settings under `/proc` and `/sys`, firmware and LSM files, and signals
/// or ptrace towards processes under other profiles.
pub fn profile_text(name: &str) -> String {
    format!(
        r#"# {name}: the AppArmor profile berthd gives containers (written by berthd; do not edit).
@{{PROC}}=/proc/

profile {name} flags=(attach_disconnected,mediate_deleted) {{
  # ordinary programs need nothing more
  network,
  capability,
  file,
  umount,

  # signals and ptrace stay among processes under this profile; the host may signal them
  signal (send,receive) peer={name},
  signal (receive) peer=unconfined,
  ptrace (trace,read,tracedby,readby) peer={name},

  # no mounts, whatever the capabilities
  deny mount,

  # /proc: no writes to its top-level files nor below its non-process directories, none to
  # /proc/sys outside the IPC namespace's kernel/shm*, no sysrq and no kernel memory
  deny @{{PROC}}/* w,
  deny @{{PROC}}/{{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}}/** w,
  deny @{{PROC}}/sys/[^k]** w,
  deny @{{PROC}}/sys/kernel/{{?,??,[^s][^h][^m]**}} w,
  deny @{{PROC}}/sysrq-trigger rwklx,
  deny @{{PROC}}/kcore rwklx,

  # /sys: writes only below /sys/fs/cgroup; firmware and the LSMs' files not even readable
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
}}
"#
    )
}

/// The profile a container's spec names (`None`: name none, the host has no AppArmor).
///
/// `security_opt` is Docker's list (`apparmor=name`; `apparmor:name` is the old spelling).
pub fn profile_for(
    security_opt: &[String],
    privileged: bool,
    host_enabled: bool,
) -> Result<Option<String>> {
    let mut chosen: Option<&str> = None;
    for o in security_opt {
        if let Some(p) = o
            .strip_prefix("apparmor=")
            .or_else(|| o.strip_prefix("apparmor:"))
        {
            if p.is_empty() {
                return Err(Error::invalid(format!(
                    "invalid --security-opt {o:?}: name a profile, or unconfined"
                )));
            }
            chosen = Some(p);
        }
    }
    if !host_enabled {
        return match chosen {
            None | Some("unconfined") => Ok(None),
            Some(p) => Err(Error::invalid(format!(
                "apparmor profile {p:?} requested but AppArmor is not enabled on this host \
                 (drop --security-opt apparmor={p})"
            ))),
        };
    }
    Ok(Some(match chosen {
        Some(p) => p.to_string(),
        None if privileged => "unconfined".into(),
        None => DEFAULT_PROFILE.into(),
    }))
}

/// Whether the kernel holds a profile called `name`.
pub fn loaded(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
        .map(|s| {
            s.lines()
                .any(|l| l.rsplit_once(" (").is_some_and(|(n, _)| n == name))
        })
        .unwrap_or(false)
}

fn parser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/sbin".into(), "/usr/sbin".into()])
        .map(|d| d.join("apparmor_parser"))
        .find(|p| p.is_file())
}

/// Write the default profile under `dir` and load it into the kernel (replacing an older one).
pub fn load_default(dir: &Path) -> Result<()> {
    let parser = parser().ok_or_else(|| {
        Error::internal(format!(
            "AppArmor is enabled but apparmor_parser was not found to load profile \
             {DEFAULT_PROFILE}: install it (Debian package apparmor), or run containers with \
             --security-opt apparmor=unconfined"
        ))
    })?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::internal(format!(
            "create apparmor profile dir {}: {e}",
            dir.display()
        ))
    })?;
    let file = dir.join(DEFAULT_PROFILE);
    std::fs::write(&file, profile_text(DEFAULT_PROFILE))
        .map_err(|e| Error::internal(format!("write apparmor profile {}: {e}", file.display())))?;
    let out = Command::new(&parser)
        .arg("-Kr")
        .arg(&file)
        .output()
        .map_err(|e| Error::internal(format!("run {}: {e}", parser.display())))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "load apparmor profile {DEFAULT_PROFILE} with {}: {}",
            parser.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Make sure `profile` can be used: the default one is loaded if the kernel lacks it; any other
/// must already be loaded (as with Docker, berthd loads only its own).
pub fn ensure(profile: &str, dir: &Path) -> Result<()> {
    if profile == "unconfined" || loaded(profile) {
        return Ok(());
    }
    if profile == DEFAULT_PROFILE {
        return load_default(dir);
    }
    Err(Error::invalid(format!(
        "apparmor profile {profile:?} is not loaded: load it with apparmor_parser first"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_unconfined_for_privileged_and_explicit_choices() {
        let p = |o: &[&str], privileged| profile_for(&opts(o), privileged, true).expect("ok");
        assert_eq!(p(&[], false).as_deref(), Some(DEFAULT_PROFILE));
        assert_eq!(p(&[], true).as_deref(), Some("unconfined"));
        assert_eq!(
            p(&["apparmor=unconfined"], false).as_deref(),
            Some("unconfined")
        );
        assert_eq!(p(&["apparmor=mine"], true).as_deref(), Some("mine"));
        assert_eq!(p(&["apparmor:old"], false).as_deref(), Some("old"));
        assert_eq!(
            p(&["no-new-privileges", "apparmor=berth-default"], true).as_deref(),
            Some("berth-default")
        );
        assert!(profile_for(&opts(&["apparmor="]), false, true).is_err());
    }

    #[test]
    fn without_apparmor_only_unconfined_is_accepted() {
        assert_eq!(profile_for(&[], false, false).expect("ok"), None);
        assert_eq!(profile_for(&[], true, false).expect("ok"), None);
        assert_eq!(
            profile_for(&opts(&["apparmor=unconfined"]), false, false).expect("ok"),
            None
        );
        let e = profile_for(&opts(&["apparmor=mine"]), false, false).expect_err("refused");
        assert!(e.message.contains("\"mine\""), "{}", e.message);
        assert!(e.message.contains("not enabled"), "{}", e.message);
    }

    #[test]
    fn the_profile_has_dockers_denials() {
        let t = profile_text("berth-default");
        assert!(t.contains("profile berth-default flags=(attach_disconnected,mediate_deleted) {"));
        for rule in [
            "deny mount,",
            "deny @{PROC}/sys/[^k]** w,",
            "deny @{PROC}/sysrq-trigger rwklx,",
            "deny /sys/[^f]*/** wklx,",
            "deny /sys/kernel/security/** rwklx,",
            "ptrace (trace,read,tracedby,readby) peer=berth-default,",
            "signal (receive) peer=unconfined,",
        ] {
            assert!(t.contains(rule), "missing {rule}");
        }
        // balanced braces: one profile block, the variable, the alternations
        assert_eq!(t.matches('{').count(), t.matches('}').count());
    }
}
