//! Capabilities: names, the five sets from the spec, and applying them to the current process.
//!
//! A set is a `u64` bit mask: bit `n` is capability number `n` (`CAP_SYS_ADMIN` = 21).
//!
//! # Call order in the process stages
//!
//! The child confines itself in this order (as runc does):
//!
//! 1. [`drop_bounding`]: PR_CAPBSET_DROP every capability not in the bounding set. This needs
//!    CAP_SETPCAP in the effective set, so it comes first, while the process is still root with
//!    its full sets.
//! 2. [`set_keep_caps(true)`](set_keep_caps): so that the permitted set survives the uid change.
//! 3. `setresgid`, `setgroups`, `setresuid` to the container's user (not done here). A change
//!    from uid 0 clears the effective set even with keep-caps; permitted is kept.
//! 4. [`set_keep_caps(false)`](set_keep_caps).
//! 5. [`apply`]: capset(2) effective/permitted/inheritable, then clear and raise the ambient set.
//!    Raising an ambient capability requires it to be in permitted and inheritable.
//!
//! Then, separately: `PR_SET_NO_NEW_PRIVS` (if requested) and the seccomp filter (which, without
//! no_new_privs, requires CAP_SYS_ADMIN in the effective set *after* step 5), and finally `execve`.
//! On execve of a non-setuid binary by a non-root user, the new permitted/effective sets become
//! the ambient set; for root they become the bounding ∩ (inheritable | permitted) as usual.
//!
//! All functions that change the process ([`drop_bounding`], [`set_keep_caps`], [`apply`])
//! neither allocate nor take locks, so they are safe to call between fork and exec, provided
//! [`last_cap`] was called once before the fork (it caches a file read).

use std::fmt;
use std::io;
use std::sync::OnceLock;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

mod sys;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    /// A capability name that is not known.
    #[error("unknown capability {0:?}")]
    Unknown(String),
    /// PR_CAPBSET_DROP failed.
    #[error("dropping {} from the bounding set: {source}", CapName(*.cap))]
    DropBounding {
        /// The capability number.
        cap: u32,
        /// The OS error.
        source: io::Error,
    },
    /// capset(2) failed.
    #[error("capset (effective {effective:#x}, permitted {permitted:#x}, inheritable {inheritable:#x}): {source}")]
    Capset {
        /// Requested effective set.
        effective: u64,
        /// Requested permitted set.
        permitted: u64,
        /// Requested inheritable set.
        inheritable: u64,
        /// The OS error.
        source: io::Error,
    },
    /// Raising an ambient capability failed (it must be in permitted and inheritable).
    #[error("raising ambient capability {} (it must be permitted and inheritable): {source}", CapName(*.cap))]
    Ambient {
        /// The capability number.
        cap: u32,
        /// The OS error.
        source: io::Error,
    },
    /// Another prctl failed.
    #[error("prctl {op}: {source}")]
    Prctl {
        /// The operation, e.g. `PR_SET_KEEPCAPS`.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Reading `/proc/self/status` failed or it lacked a field.
    #[error("/proc/self/status: {0}")]
    Status(io::Error),
}

/// Displays a capability number as its name, or `capability N` when unnamed.
struct CapName(u32);

impl fmt::Display for CapName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "capability {}", self.0),
        }
    }
}

/// Capability names indexed by number (`<linux/capability.h>`, through Linux 5.9).
const NAMES: [&str; 41] = [
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

/// The highest capability number this module has a name for (`CAP_CHECKPOINT_RESTORE`).
pub const LAST_KNOWN: u32 = NAMES.len() as u32 - 1;

/// Parses a capability name: `CAP_SYS_ADMIN` or `SYS_ADMIN`, in any case, to its number.
pub fn parse(name: &str) -> Result<u32, CapsError> {
    let bare = match name.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("CAP_") => &name[4..],
        _ => name,
    };
    NAMES
        .iter()
        .position(|n| n[4..].eq_ignore_ascii_case(bare))
        .map(|i| i as u32)
        .ok_or_else(|| CapsError::Unknown(name.to_owned()))
}

/// The name (`CAP_…`) of capability number `n`, if known.
pub fn name(n: u32) -> Option<&'static str> {
    NAMES.get(n as usize).copied()
}

/// Every capability this module knows, `(number, "CAP_…")`, in number order.
pub fn all_known() -> impl Iterator<Item = (u32, &'static str)> {
    NAMES.iter().enumerate().map(|(i, n)| (i as u32, *n))
}

/// The highest capability the running kernel supports (`/proc/sys/kernel/cap_last_cap`), read
/// once and cached. Falls back to [`LAST_KNOWN`] if the file cannot be read (no /proc), and is
/// at most 63 (sets are `u64`).
pub fn last_cap() -> u32 {
    static LAST: OnceLock<u32> = OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(LAST_KNOWN)
            .min(63)
    })
}

/// Mask of all capabilities up to and including [`last_cap`].
fn all_mask() -> u64 {
    let last = last_cap();
    if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    }
}

/// The number of one of oci-spec's capabilities.
pub fn number(cap: Capability) -> u32 {
    use Capability as C;
    match cap {
        C::Chown => 0,
        C::DacOverride => 1,
        C::DacReadSearch => 2,
        C::Fowner => 3,
        C::Fsetid => 4,
        C::Kill => 5,
        C::Setgid => 6,
        C::Setuid => 7,
        C::Setpcap => 8,
        C::LinuxImmutable => 9,
        C::NetBindService => 10,
        C::NetBroadcast => 11,
        C::NetAdmin => 12,
        C::NetRaw => 13,
        C::IpcLock => 14,
        C::IpcOwner => 15,
        C::SysModule => 16,
        C::SysRawio => 17,
        C::SysChroot => 18,
        C::SysPtrace => 19,
        C::SysPacct => 20,
        C::SysAdmin => 21,
        C::SysBoot => 22,
        C::SysNice => 23,
        C::SysResource => 24,
        C::SysTime => 25,
        C::SysTtyConfig => 26,
        C::Mknod => 27,
        C::Lease => 28,
        C::AuditWrite => 29,
        C::AuditControl => 30,
        C::Setfcap => 31,
        C::MacOverride => 32,
        C::MacAdmin => 33,
        C::Syslog => 34,
        C::WakeAlarm => 35,
        C::BlockSuspend => 36,
        C::AuditRead => 37,
        C::Perfmon => 38,
        C::Bpf => 39,
        C::CheckpointRestore => 40,
    }
}

/// The five capability sets of a process, one bit per capability number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Bounding set.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
    /// Ambient set.
    pub ambient: u64,
}

impl CapSets {
    /// The sets of `process.capabilities`. A missing set is empty. Capabilities above the
    /// running kernel's [`last_cap`] are skipped silently, as runc does, so that a spec written
    /// for a newer kernel still runs (the kernel could not grant them anyway).
    ///
    /// oci-spec rejects unknown names when the spec is parsed, so this does not fail today; the
    /// `Result` is kept for names that oci-spec may pass through in future.
    /// Remove from the ambient set what the kernel would refuse to raise (not both permitted
    /// and inheritable) and return those names. runc ignores them with a warning, and its own
    /// `runc spec` lists ambient capabilities without inheritable ones, so failing would break
    /// every bundle made that way.
    pub fn drop_unraisable_ambient(&mut self) -> Vec<String> {
        let bad = self.ambient & !(self.permitted & self.inheritable);
        self.ambient &= !bad;
        (0..64)
            .filter(|c| bad & (1u64 << c) != 0)
            .map(|c| CapName(c).to_string())
            .collect()
    }

    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapSets, CapsError> {
        let limit = all_mask();
        let mask = |set: &Option<Capabilities>| -> u64 {
            set.iter()
                .flatten()
                .fold(0u64, |acc, cap| acc | (1u64 << number(*cap)))
                & limit
        };
        Ok(CapSets {
            bounding: mask(c.bounding()),
            effective: mask(c.effective()),
            permitted: mask(c.permitted()),
            inheritable: mask(c.inheritable()),
            ambient: mask(c.ambient()),
        })
    }

    /// Every capability up to [`last_cap`] in bounding, effective, permitted and inheritable;
    /// ambient empty (`--privileged`, like runc with Docker's privileged spec). If the runtime's
    /// own bounding set lacks some of them, [`apply`] fails with EPERM; see [`CapSets::within`].
    pub fn full() -> CapSets {
        let all = all_mask();
        CapSets {
            bounding: all,
            effective: all,
            permitted: all,
            inheritable: all,
            ambient: 0,
        }
    }

    /// Every set intersected with `mask`, e.g. with `current()?.bounding` when the runtime itself
    /// runs with a reduced bounding set (nested containers): capset(2) cannot grant more.
    pub fn within(self, mask: u64) -> CapSets {
        CapSets {
            bounding: self.bounding & mask,
            effective: self.effective & mask,
            permitted: self.permitted & mask,
            inheritable: self.inheritable & mask,
            ambient: self.ambient & mask,
        }
    }

    /// Whether `set` contains capability `cap`.
    pub fn has(set: u64, cap: u32) -> bool {
        cap < 64 && set & (1u64 << cap) != 0
    }
}

/// Drops every capability up to [`last_cap`] that is not in `sets.bounding` from the bounding
/// set of the calling thread. Capabilities already absent are left alone, so this also works
/// without CAP_SETPCAP when there is nothing left to drop.
pub fn drop_bounding(sets: &CapSets) -> Result<(), CapsError> {
    for cap in 0..=last_cap() {
        if CapSets::has(sets.bounding, cap) {
            continue;
        }
        let present =
            sys::bounding_has(cap).map_err(|source| CapsError::DropBounding { cap, source })?;
        if present {
            sys::bounding_drop(cap).map_err(|source| CapsError::DropBounding { cap, source })?;
        }
    }
    Ok(())
}

/// Sets or clears PR_SET_KEEPCAPS (keep the permitted set across a change from uid 0).
pub fn set_keep_caps(on: bool) -> Result<(), CapsError> {
    sys::set_keepcaps(on).map_err(|source| CapsError::Prctl {
        op: "PR_SET_KEEPCAPS",
        source,
    })
}

/// capset(2) with the effective, permitted and inheritable sets, then clears the ambient set and
/// raises each capability of `sets.ambient`.
pub fn apply(sets: &CapSets) -> Result<(), CapsError> {
    sys::capset(sets.effective, sets.permitted, sets.inheritable).map_err(|source| {
        CapsError::Capset {
            effective: sets.effective,
            permitted: sets.permitted,
            inheritable: sets.inheritable,
            source,
        }
    })?;
    sys::ambient_clear_all().map_err(|source| CapsError::Prctl {
        op: "PR_CAP_AMBIENT_CLEAR_ALL",
        source,
    })?;
    let mut ambient = sets.ambient;
    while ambient != 0 {
        let cap = ambient.trailing_zeros();
        ambient &= ambient - 1;
        sys::ambient_raise(cap).map_err(|source| CapsError::Ambient { cap, source })?;
    }
    Ok(())
}

/// The calling process's sets, from `/proc/self/status` (`CapBnd`, `CapEff`, `CapPrm`, `CapInh`,
/// `CapAmb`).
pub fn current() -> Result<CapSets, CapsError> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(CapsError::Status)?;
    parse_status(&status).map_err(CapsError::Status)
}

/// Parses the `Cap*` lines of a `/proc/<pid>/status` document.
pub fn parse_status(status: &str) -> Result<CapSets, io::Error> {
    let mut sets = CapSets::default();
    let mut seen = 0u8;
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (slot, bit) = match key {
            "CapInh" => (&mut sets.inheritable, 1),
            "CapPrm" => (&mut sets.permitted, 2),
            "CapEff" => (&mut sets.effective, 4),
            "CapBnd" => (&mut sets.bounding, 8),
            "CapAmb" => (&mut sets.ambient, 16),
            _ => continue,
        };
        *slot = u64::from_str_radix(value.trim(), 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{key}: {e}")))?;
        seen |= bit;
    }
    if seen != 31 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "missing one of CapInh, CapPrm, CapEff, CapBnd, CapAmb",
        ));
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCapabilitiesBuilder;

    #[test]
    fn parse_accepts_prefix_and_any_case() {
        assert_eq!(parse("CAP_SYS_ADMIN").ok(), Some(21));
        assert_eq!(parse("SYS_ADMIN").ok(), Some(21));
        assert_eq!(parse("cap_sys_admin").ok(), Some(21));
        assert_eq!(parse("Sys_Admin").ok(), Some(21));
        assert_eq!(parse("CAP_CHOWN").ok(), Some(0));
        assert_eq!(parse("checkpoint_restore").ok(), Some(40));
    }

    #[test]
    fn parse_rejects_unknown_with_its_name() {
        let err = parse("CAP_FOO").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown capability \"CAP_FOO\""));
        assert!(parse("").is_err());
        assert!(parse("CAP_").is_err());
        assert!(parse("CAP_CAP_CHOWN").is_err());
        // A multi-byte character where the prefix would end must not panic.
        assert!(parse("CA\u{e9}X").is_err());
    }

    #[test]
    fn names_round_trip() {
        for (n, s) in all_known() {
            assert_eq!(parse(s).ok(), Some(n));
            assert_eq!(name(n), Some(s));
        }
        assert_eq!(all_known().count(), 41);
        assert_eq!(name(21), Some("CAP_SYS_ADMIN"));
        assert_eq!(name(41), None);
    }

    #[test]
    fn oci_spec_names_agree_with_ours() {
        // oci-spec's Display of a Capability is its name without the prefix.
        let all: Capabilities = all_known()
            .filter_map(|(_, s)| s.parse::<Capability>().ok().or_else(|| s[4..].parse().ok()))
            .collect();
        assert_eq!(all.len(), 41);
        for cap in all {
            let ours = name(number(cap)).map(|n| &n[4..]);
            assert_eq!(ours, Some(cap.to_string().as_str()), "{cap:?}");
        }
    }

    #[test]
    fn from_spec_builds_masks() {
        let docker: Capabilities = [
            Capability::Chown,
            Capability::DacOverride,
            Capability::Fsetid,
            Capability::Fowner,
            Capability::Mknod,
            Capability::NetRaw,
            Capability::Setgid,
            Capability::Setuid,
            Capability::Setfcap,
            Capability::Setpcap,
            Capability::NetBindService,
            Capability::SysChroot,
            Capability::Kill,
            Capability::AuditWrite,
        ]
        .into_iter()
        .collect();
        let spec = LinuxCapabilitiesBuilder::default()
            .bounding(docker.clone())
            .effective(docker.clone())
            .permitted(docker)
            .inheritable(Capabilities::new())
            .ambient(
                [Capability::NetBindService]
                    .into_iter()
                    .collect::<Capabilities>(),
            )
            .build()
            .expect("valid capabilities");
        let sets = CapSets::from_spec(&spec).expect("from_spec");
        // Docker's default set is 0xa80425fb.
        assert_eq!(sets.bounding, 0xa804_25fb);
        assert_eq!(sets.effective, 0xa804_25fb);
        assert_eq!(sets.permitted, 0xa804_25fb);
        assert_eq!(sets.inheritable, 0);
        assert_eq!(sets.ambient, 1 << 10);
    }

    #[test]
    fn from_spec_skips_caps_above_last_cap() {
        let spec = LinuxCapabilitiesBuilder::default()
            .bounding(
                [Capability::CheckpointRestore]
                    .into_iter()
                    .collect::<Capabilities>(),
            )
            .effective(Capabilities::new())
            .permitted(Capabilities::new())
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .expect("valid capabilities");
        let sets = CapSets::from_spec(&spec).expect("from_spec");
        if last_cap() >= 40 {
            assert_eq!(sets.bounding, 1 << 40);
        } else {
            assert_eq!(sets.bounding, 0);
        }
    }

    #[test]
    fn full_covers_last_cap() {
        let full = CapSets::full();
        assert_eq!(full.bounding.count_ones(), last_cap() + 1);
        assert_eq!(full.ambient, 0);
        assert_eq!(full.effective, full.bounding);
    }

    #[test]
    fn status_parsing() {
        let doc = "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
                   CapEff:\t00000000a80425fb\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000400\n";
        let sets = parse_status(doc).expect("parses");
        assert_eq!(
            sets,
            CapSets {
                bounding: 0x1ff_ffff_ffff,
                effective: 0xa804_25fb,
                permitted: 0xa804_25fb,
                inheritable: 0,
                ambient: 0x400,
            }
        );
        assert!(parse_status("CapInh:\t0\n").is_err());
        let cur = current().expect("reads /proc/self/status");
        assert_eq!(cur.effective & !cur.permitted, 0);
    }

    #[test]
    fn ambient_without_inheritable_is_dropped_and_named() {
        // `runc spec`'s default: ambient listed, inheritable not.
        let mut sets = CapSets {
            bounding: 0x2000_0420,
            effective: 0x2000_0420,
            permitted: 0x2000_0420,
            inheritable: 0x400,
            ambient: 0x2000_0420,
        };
        let dropped = sets.drop_unraisable_ambient();
        assert_eq!(sets.ambient, 0x400);
        assert_eq!(dropped, ["CAP_KILL", "CAP_AUDIT_WRITE"]);
    }

    #[test]
    fn error_messages_name_the_capability() {
        let e = CapsError::DropBounding {
            cap: 21,
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(e
            .to_string()
            .starts_with("dropping CAP_SYS_ADMIN from the bounding set: "));
    }
}
